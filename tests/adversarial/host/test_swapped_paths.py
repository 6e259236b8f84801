"""A second local user swaps a path the caller hands the sandbox (02_lower_swap_*, item 3 and 11).

The rival offers a directory (a data set, a project) in a directory of its own and keeps
swapping it, with renameat2(RENAME_EXCHANGE), for a symlink that names the victim's private
directory; seen from the box's init the symlink is relative to /oldroot, so it names the
victim's directory there too.  Whatever the timing, the box must never see the victim's
files, and every failed run is a one-line error (exit 125), never an internal error.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from boxrun import SANDBOX, sandbox
from rival import as_rival, flipping, rival_directory

RUNS = 25


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """The victim's private directory (mode 0700) with a key in it."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "input.txt").write_text("VICTIM-SECRET-KEY\n")
    (private / "id_rsa").write_text("VICTIM-SECRET-KEY\n")
    return private


@pytest.fixture
def offered(secret: Path):
    """The rival's directory: data/ (its own, harmless) and evil -> the victim's directory, swapped forever."""
    with rival_directory() as directory:
        as_rival("mkdir", str(directory / "data"))
        as_rival("sh", "-c", f"echo the problem data > {directory}/data/input.txt; echo harmless > {directory}/file")
        as_rival("chmod", "-R", "a+rX", str(directory))
        as_rival("ln", "-s", f"../..{secret}", str(directory / "evil"))           # -> the victim's directory
        as_rival("ln", "-s", f"../..{secret}/id_rsa", str(directory / "evilfile"))  # -> the victim's key
        yield directory


def _assert_never_leaks(argv_for_run, swap: tuple[str, str], directory: Path) -> None:
    outcomes = set()
    with flipping(directory, *swap):
        for _ in range(RUNS):
            completed = sandbox(*argv_for_run(), timeout=60)
            output = completed.stdout + completed.stderr
            assert b"VICTIM-SECRET" not in output, f"the box read the victim's files: {output!r}"
            if completed.returncode != 0:
                assert completed.returncode == 125, output
                assert completed.stderr.count(b"\n") == 1 and b"internal error" not in completed.stderr, output
            outcomes.add(completed.returncode)
    assert outcomes, "no run happened"


@pytest.mark.parametrize("flag", ["--bind", "--workdir", "--overlay"])
def test_a_swapped_directory_never_shows_the_victims_files(offered, flag):
    if flag == "--bind":
        args = ["--bind", f"{offered}/data:/data"]
        look = "cat /data/input.txt /data/id_rsa"
    else:
        args = [flag, f"{offered}/data"]
        look = "cat input.txt id_rsa"
    _assert_never_leaks(lambda: ["run", "--profile", "sh", *args, "--", "/bin/sh", "-c", f"{look} 2>/dev/null; true"],
                        ("data", "evil"), offered)


def test_a_swapped_rootfs_never_shows_the_victims_files(offered):
    busybox = shutil.which("busybox") or "/bin/busybox"  # static: the image needs no libraries
    _assert_never_leaks(lambda: ["run", "--profile", "sh", "--rootfs", f"{offered}/data", "--bind", f"{busybox}:/busybox",
                                 "--", "/busybox", "sh", "-c", "/busybox cat /input.txt /id_rsa 2>/dev/null; true"],
                        ("data", "evil"), offered)


@pytest.mark.parametrize("flag", ["--file", "--stdin"])
def test_a_swapped_file_never_brings_the_victims_file_in(offered, flag):
    args = ["--file", f"{offered}/file:input.txt"] if flag == "--file" else ["--stdin", f"{offered}/file"]
    look = "cat input.txt" if flag == "--file" else "cat"
    _assert_never_leaks(lambda: ["run", "--profile", "sh", *args, "--", "/bin/sh", "-c", f"{look}; true"],
                        ("file", "evilfile"), offered)


def test_a_symlink_in_a_directory_of_another_user_is_refused_with_the_reason(offered):
    completed = sandbox("run", "--profile", "sh", "--bind", f"{offered}/evil:/data", "--", "/bin/true")
    assert completed.returncode == 125 and completed.stderr.count(b"\n") == 1
    assert b"may be written by other users" in completed.stderr
    assert os.path.islink(offered / "evil")  # the rival's own files are untouched by us


def test_a_relative_path_starts_at_the_working_directory_not_at_its_name(tmp_path):
    """The caller works in a directory under one the rival may write; the rival swaps an ancestor for a
    symlink to a directory of the caller's with the same sub-path.  Relative outputs and inputs must
    still mean the working directory itself (the red team saw 26 of 60 runs write elsewhere)."""
    target = tmp_path / "target" / "work"
    target.mkdir(parents=True)
    (target / "data").write_text("VICTIM-SECRET-KEY\n")
    one_run = " ".join(shlex.quote(arg) for arg in [*SANDBOX, "run", "--profile", "sh", "--stdout", "out.txt",
                                                    "--file", "data:data", "--", "/bin/sh", "-c", "cat data"])
    log = tmp_path / "runs.log"
    with rival_directory(0o777) as shared:
        as_rival("ln", "-s", str(tmp_path / "target"), str(shared / "evil"))
        (shared / "victimdir" / "work").mkdir(parents=True)
        (shared / "victimdir" / "work" / "data").write_text("the caller's own input\n")
        # The caller's shell is in its working directory before the rival starts (as a CI job would be).
        loop = subprocess.Popen(["sh", "-c", f"read go; for i in $(seq {RUNS}); do {one_run} 2>>{log}; "
                                             f"echo rc=$?; done"], cwd=shared / "victimdir" / "work",
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        with flipping(shared, "victimdir", "evil"):
            codes, _ = loop.communicate(b"go\n", timeout=300)
        real = shared / ("evil" if (shared / "victimdir").is_symlink() else "victimdir")
        try:
            assert set(codes.split()) <= {b"rc=0", b"rc=125"}, codes
            assert b"VICTIM-SECRET" not in log.read_bytes()
            assert sorted(os.listdir(target)) == ["data"], "a run wrote into another directory of the caller's"
            assert (real / "work" / "out.txt").read_text() == "the caller's own input\n"
        finally:
            shutil.rmtree(real / "work")
            (real).rmdir()


def test_a_file_of_another_user_in_a_sticky_directory_is_never_written_to(tmp_path):
    """fs.protected_regular may be off: the rival leaves a world-writable file in /tmp under the name the
    caller will use for its output, to read the program's output afterwards."""
    name = f"/tmp/sbx-rival-out-{os.getpid()}"
    as_rival("sh", "-c", f"umask 0; : > {name}")
    try:
        completed = sandbox("run", "--profile", "sh", "--stdout", name, "--", "/bin/echo", "the caller's output")
        assert completed.returncode == 125 and b"a file of another user's" in completed.stderr
        assert os.path.getsize(name) == 0
    finally:
        as_rival("rm", "-f", name)
