"""Root file systems from a directory, and overlay layers thrown away or kept."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from boxrun import SANDBOX, sandbox

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
APPLETS = ("sh", "ls", "cat", "echo", "touch", "rm", "id", "mkdir")


@pytest.fixture
def tiny_rootfs(tmp_path: Path) -> Path:
    """A root file system of a static busybox and an os-release of its own (no /usr at all)."""
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "tmp").mkdir()
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    for applet in APPLETS:
        (root / "bin" / applet).symlink_to("busybox")
    (root / "etc" / "os-release").write_text('NAME="tiny"\n')
    return root


def run_sh(*args: str, script: str):  # type: ignore[no-untyped-def]
    return sandbox("run", "--profile", "sh", *args, "--", "/bin/sh", "-c", script)


def test_the_program_sees_the_root_file_system_not_the_host(tiny_rootfs):
    completed = run_sh("--rootfs", str(tiny_rootfs), script="""
        cat /etc/os-release; ls /; ls /usr 2>&1
        echo ok > /tmp/t && cat /tmp/t; echo ok > /work/w && cat /work/w
        touch /etc/x 2>&1; touch /bin/x 2>&1; true""")
    text = completed.stdout.decode()
    assert completed.returncode == 0, text + completed.stderr.decode()
    lines = text.splitlines()
    assert lines[0] == 'NAME="tiny"'
    assert lines[1:7] == ["bin", "dev", "etc", "proc", "tmp", "work"]  # no /usr, /lib of the host
    assert "/usr: No such file or directory" in text
    assert lines.count("ok") == 2  # /tmp and /work are the box's own tmpfs
    assert text.count("Read-only file system") == 2  # the image itself is read-only
    assert not (tiny_rootfs / "etc" / "x").exists()


def test_a_profile_names_its_root_file_system(tiny_rootfs, tmp_path):
    profile = tmp_path / "tiny.yaml"
    profile.write_text(f"extends: sh\nrootfs: {tiny_rootfs}\n")
    completed = sandbox("run", "--profile", str(profile), "--", "/bin/cat", "/etc/os-release")
    assert completed.stdout == b'NAME="tiny"\n', completed.stderr


@pytest.mark.parametrize("rootfs, words", [("nope", b"no such file"), ("/", b"the host's own root")])
def test_a_missing_or_host_root_file_system_is_a_one_line_error(tmp_path, rootfs, words):
    completed = sandbox("run", "--rootfs", str(tmp_path / rootfs), "--profile", "sh", "--", "/bin/true")
    assert completed.returncode == 125 and words in completed.stderr and completed.stderr.count(b"\n") == 1


@pytest.fixture
def lower(tmp_path: Path) -> Path:
    directory = tmp_path / "lower"
    directory.mkdir()
    os.chown(directory, os.getuid(), os.getgid())
    (directory / "a.txt").write_text("one\n")
    (directory / "b.txt").write_text("keep\n")
    return directory


def snapshot(root: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in root.iterdir()}


def test_a_throwaway_layer_takes_writes_and_leaves_the_lower_directory_alone(lower):
    before = snapshot(lower)
    completed = run_sh("--overlay", str(lower), script="echo two >> a.txt; rm b.txt; echo new > c.txt; ls; cat a.txt")
    assert completed.stdout == b"a.txt\nc.txt\none\ntwo\n", completed.stderr
    assert snapshot(lower) == before


def test_a_kept_layer_carries_changes_to_the_next_run_and_records_deletions_as_whiteouts(lower, tmp_path):
    before = snapshot(lower)
    upper = tmp_path / "layer"
    first = run_sh("--overlay", f"{lower}:{upper}", script="echo two >> a.txt; rm b.txt; echo new > c.txt")
    assert first.returncode == 0, first.stderr
    second = run_sh("--overlay", f"{lower}:{upper}", script="ls; cat a.txt c.txt")
    assert second.stdout == b"a.txt\nc.txt\none\ntwo\nnew\n", second.stderr
    assert snapshot(lower) == before
    assert (upper / "upper" / "c.txt").read_text() == "new\n"
    whiteout = os.lstat(upper / "upper" / "b.txt")
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == 0  # overlayfs(5): a deleted lower file


def test_a_symlink_planted_as_the_layer_is_refused(lower, tmp_path):
    upper = tmp_path / "layer"
    upper.mkdir()
    (upper / "upper").symlink_to(tmp_path / "elsewhere")
    completed = run_sh("--overlay", f"{lower}:{upper}", script="echo x > y")
    assert completed.returncode == 125 and b"not a directory" in completed.stderr
    assert not (tmp_path / "elsewhere").exists()


def test_a_kept_layer_serves_one_box_at_a_time(lower, tmp_path):
    upper = tmp_path / "layer"
    first = subprocess.Popen([*SANDBOX, "run", "--profile", "sh", "--overlay", f"{lower}:{upper}", "--",
                              "/bin/sh", "-c", "echo ready; read line"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert first.stdout is not None and first.stdout.readline() == b"ready\n"
        second = run_sh("--overlay", f"{lower}:{upper}", script="true")
        assert second.returncode == 125 and b"in use by another box" in second.stderr
    finally:
        first.communicate(b"done\n", timeout=30)
    assert run_sh("--overlay", f"{lower}:{upper}", script="true").returncode == 0  # free again


@pytest.mark.parametrize("args, words", [
    (["--overlay", "/tmp:/usr"], "not your directory"),
    (["--overlay", "/usr:/usr/layer"], "must not overlap"),
    (["--overlay", ":x"], "expected LOWER[:UPPER]"),
    (["--overlay", "/no/such/dir"], "--overlay /no/such/dir"),
    (["--overlay", "/usr", "--workdir", "/usr"], "/work is given twice"),
])
def test_bad_overlays_are_one_line_errors(args, words):
    completed = run_sh(*args, script="true")
    assert completed.returncode == 125 and words in completed.stderr.decode()
    assert completed.stderr.count(b"\n") == 1
