"""The registry of named, live sandboxes: one file per box, stale entries never listed."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sandbox.live import registry
from sandbox.cgroup import process_start_time
from sandbox.errors import HostError, UsageError
from sandbox.rlimits import RlimitSpec


@pytest.fixture(autouse=True)
def runtime_dir(tmp_path, monkeypatch):
    path = tmp_path / "live"
    monkeypatch.setenv("SANDBOX_RUNTIME_DIR", str(path))
    return path


def box(name: str, pid: int, start: str = "", box_id: str = "id1") -> registry.LiveBox:
    return registry.LiveBox(
        name=name, id=box_id, pid=pid, start=start or (process_start_time(pid) or ""), profile="sh",
        command=("/bin/sh",), started=1.0, cgroup=None,
        confinement=registry.Confinement("/work", (("PATH", "/bin"),), (RlimitSpec("nofile", 64, 64),), b"\x06\0\0\0"),
    )


def test_a_registered_box_round_trips_and_is_removed_by_its_own_id(runtime_dir):
    me = box("mine", os.getpid())
    registry.register(me)
    assert registry.live() == [me]
    assert registry.find("mine").confinement.bpf == b"\x06\0\0\0"
    registry.unregister(box("mine", os.getpid(), box_id="someone-else"))  # not its entry: kept
    assert registry.live() == [me]
    registry.unregister(me)
    assert registry.live() == [] and list(runtime_dir.iterdir()) == []


def test_a_live_name_is_refused_and_a_stale_one_replaced():
    registry.register(box("taken", os.getpid()))
    with pytest.raises(UsageError, match="running"):
        registry.register(box("taken", os.getpid(), box_id="id2"))
    dead = subprocess.Popen(["true"])
    dead.wait()
    registry.register(box("stale", dead.pid, start="1"))
    registry.register(box("stale", os.getpid(), box_id="id3"))  # the dead box's name is free
    assert registry.find("stale").id == "id3"


def test_stale_and_unreadable_entries_are_never_listed_and_are_removed(runtime_dir):
    registry.register(box("gone", os.getpid(), start="not-its-start-time"))  # a reused pid
    (runtime_dir / "junk.json").write_text("{not json")
    assert registry.live() == []
    assert list(runtime_dir.iterdir()) == []
    with pytest.raises(UsageError, match="no running sandbox named 'gone'"):
        registry.find("gone")


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "x" * 65, "sp ace"])
def test_bad_names_are_refused(name):
    with pytest.raises(UsageError, match="--name"):
        registry.check_name(name)


def test_a_directory_others_can_read_is_refused(runtime_dir):
    runtime_dir.mkdir(mode=0o755)
    runtime_dir.chmod(0o755)
    with pytest.raises(HostError, match="0700"):
        registry.runtime_dir()


def test_a_symlink_planted_as_an_entry_is_not_followed(runtime_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SANDBOX_RUNTIME_DIR", str(tmp_path / "elsewhere"))
    registry.register(box("planted", os.getpid()))  # a genuine entry, in another directory
    monkeypatch.setenv("SANDBOX_RUNTIME_DIR", str(runtime_dir))
    runtime_dir.mkdir(mode=0o700)
    (runtime_dir / "planted.json").symlink_to(tmp_path / "elsewhere" / "planted.json")
    assert registry.live() == []
    assert list(runtime_dir.iterdir()) == []  # removed, as any entry that is not a box's


def test_an_entry_others_may_write_is_not_trusted(runtime_dir):
    registry.register(box("loose", os.getpid()))
    (runtime_dir / "loose.json").chmod(0o666)
    assert registry.live() == []


def test_a_fifo_planted_as_an_entry_does_not_hang_ps(runtime_dir):
    runtime_dir.mkdir(mode=0o700)
    os.mkfifo(runtime_dir / "stuck.json")
    code = "from sandbox.live import registry; print(registry.live())"
    env = {**os.environ, "SANDBOX_RUNTIME_DIR": str(runtime_dir)}
    try:
        completed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=45)
    except subprocess.TimeoutExpired:
        pytest.fail("a FIFO in the registry blocked the listing")
    assert (completed.returncode, completed.stdout) == (0, "[]\n"), completed.stderr
    assert list(runtime_dir.iterdir()) == []


def test_a_symlink_at_the_registry_path_is_refused(runtime_dir, tmp_path):
    (tmp_path / "real").mkdir(mode=0o700)
    runtime_dir.symlink_to(tmp_path / "real")
    with pytest.raises(HostError, match="0700"):
        registry.live()


def test_the_boxs_output_limit_is_recorded_for_exec():
    from dataclasses import replace

    plain = box("capped", os.getpid())
    registry.register(replace(plain, confinement=replace(plain.confinement, output=1024)))
    assert registry.find("capped").confinement.output == 1024
