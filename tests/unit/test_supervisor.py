"""The parent pipeline's steps without a box: what each leaves behind when a later one fails, and the
run hook told the run ended whatever ended it (no namespaces: the launcher is a stand-in)."""
from __future__ import annotations

import dataclasses
import errno
import os

import pytest

from sandbox import boxio, cgroup, supervisor
from sandbox._cache import load_profile
from sandbox.boxio import CAPTURE, BoxStreams, Stdio
from sandbox.errors import HostError, SetupError
from sandbox.plan import Request
from sandbox.result import Usage


def open_fds() -> dict[str, str]:
    found = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            found[name] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass  # the listing's own descriptor, closed by now
    return found


@pytest.fixture
def prepared(monkeypatch):
    monkeypatch.setattr(supervisor, "cgroup_subtree", lambda explicit, profile: None)  # never this host's cgroups
    with supervisor.prepare(load_profile("sh"), Request(program=("/bin/true",), files=(("in.txt", 0o644, b"x"),))) \
            as prepared:
        yield prepared


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def before_start(self) -> None:
        self.calls.append("before")

    def started(self, box: object) -> None:
        self.calls.append("started")

    def ended(self) -> None:
        self.calls.append("ended")


def refusing(fds: object) -> object:
    raise OSError(errno.EPERM, "Operation not permitted")


def test_a_refused_launch_tells_the_hook_and_leaves_no_descriptor(prepared):
    """The run ends before its box existed: the hook still hears the end (what before_start
    reserved, ended() gives back), and every descriptor made for the box is closed."""
    hook, before = Recorder(), open_fds()
    with pytest.raises((HostError, SetupError)):
        supervisor.run_prepared(prepared, Stdio(b"stdin bytes", CAPTURE, CAPTURE), refusing, hook)  # type: ignore[arg-type]
    assert hook.calls == ["before", "ended"]
    assert open_fds() == before


def test_a_launch_whose_status_pipe_fails_leaves_no_descriptor(prepared, monkeypatch):
    """EMFILE halfway through the launch: the plan's memfd made before it is closed too."""
    def no_pipe(flags: int) -> tuple[int, int]:
        raise OSError(errno.EMFILE, "Too many open files")

    before = open_fds()
    with BoxStreams.open(Stdio(None, CAPTURE, CAPTURE)) as streams:
        monkeypatch.setattr(supervisor.os, "pipe2", no_pipe)
        with pytest.raises(OSError):
            supervisor._launch(prepared, streams, None, -1, refusing)  # type: ignore[arg-type]
        monkeypatch.undo()
    assert open_fds() == before


def test_streams_that_fail_halfway_leave_no_descriptor(monkeypatch):
    """EMFILE on the second pipe (stderr's): the first pipe is closed, not leaked, so a caller short
    of descriptors does not run shorter with every attempt."""
    real, made = os.pipe2, []

    def second_fails(flags: int) -> tuple[int, int]:
        if made:
            raise OSError(errno.EMFILE, "Too many open files")
        made.append(real(flags))
        return made[-1]

    before = open_fds()
    monkeypatch.setattr(boxio.os, "pipe2", second_fails)
    with pytest.raises(OSError):
        BoxStreams.open(Stdio(b"in", CAPTURE, CAPTURE))
    monkeypatch.undo()
    assert made and open_fds() == before


def test_stdin_bytes_that_cannot_be_written_leave_no_memfd(monkeypatch):
    def full(fd: int, data: bytes) -> bool:
        raise OSError(errno.ENOSPC, "No space left on device")

    before = open_fds()
    monkeypatch.setattr(boxio, "write_all", full)
    with pytest.raises(OSError):
        boxio.stdin_fd(b"input")
    monkeypatch.undo()
    assert open_fds() == before


def test_the_hook_gets_the_init_start_time_read_at_launch(prepared):
    """A named box's entry names its init by pid and start time.  Read when the hook hears the program
    started, a fast program's init may be gone already (its pid free for another process): read at
    launch, while the init is certainly there."""
    import subprocess

    from sandbox import cgroup
    from sandbox._forkserver import InitProcess

    class Keeper(Recorder):
        def started(self, box: object) -> None:
            self.box = box

    stand_in = subprocess.Popen(["sleep", "30"])  # an init that is there at launch, and gone before the hook hears
    init = InitProcess(stand_in.pid, os.pidfd_open(stand_in.pid), our_child=False)
    expected = cgroup.process_start_time(stand_in.pid)
    hook = Keeper()
    try:
        tell = supervisor._hook_started(hook, prepared, init, None)
    finally:
        stand_in.kill()
        stand_in.wait()
        init.close()
    assert tell is not None
    tell()
    assert expected and hook.box.init_start == expected and hook.box.init_pid == stand_in.pid


def test_the_wall_time_runs_from_the_program_start_however_long_the_hook_takes(monkeypatch):
    """The watch tells the hook the program started, then sets the wall deadline: from the start,
    not from the hook's return (a slow registry must not lengthen the limit)."""
    from sandbox import watch
    from sandbox.limits import Limits

    clock = [100.0]
    monkeypatch.setattr(watch.time, "monotonic", lambda: clock[0])

    def slow_hook() -> None:
        clock[0] += 3.0

    box = watch.Watch(None, -1, BoxStreams(-1, -1, -1, {}), None, Limits(wall_time=0.5), None,  # type: ignore[arg-type]
                      slow_hook)
    box._on_record({"kind": "started"})
    assert (box.deadline, box.due) == (watch.Deadline.WALL, 100.5)


# --- a cgroup with only some controllers, or a kernel without memory.peak (issue 16) ---------------


class StandInSubtree:
    """What box_controllers reads of a cgroup.Subtree: its path and the controllers its boxes get."""

    def __init__(self, *controllers: str) -> None:
        self.path = "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice"
        self.controllers = frozenset(controllers)


def test_a_profile_that_requires_cgroups_takes_a_subtree_with_memory_and_pids():
    profile = dataclasses.replace(load_profile("sh"), require=("cgroup",))
    assert supervisor.box_controllers(profile, StandInSubtree("memory", "pids")) == {"memory", "pids"}
    with pytest.raises(HostError) as refused:
        supervisor.box_controllers(profile, StandInSubtree("pids", "cpu"))
    assert "lacks the memory controller(s) (it needs memory and pids at least)" in refused.value.message
    assert "Delegate=cpu cpuset io memory pids" in refused.value.message
    # A profile that does not require them runs with what there is; without a subtree, with none.
    assert supervisor.box_controllers(load_profile("sh"), StandInSubtree("pids")) == {"pids"}
    assert supervisor.box_controllers(load_profile("sh"), None) == frozenset()


@pytest.mark.parametrize("own_peak", [48 << 20, None])
def test_without_memory_peak_the_peak_is_the_programs_own_never_a_guess(own_peak):
    """memory.peak needs Linux 5.19 and the memory controller: without it the peak is what it is without
    a cgroup (ru_maxrss above the helper's floor, else unknown); the CPU times stay the cgroup's."""
    own = Usage(exit_code=0, cpu_time=0.5, user_time=0.4, system_time=0.1, wall_time=1.0, memory_peak=own_peak)
    measured = cgroup.CgroupUsage(memory_peak=None, oom_kills=0, pids_peak=None,
                                  cpu_usec=2_500_000, user_usec=2_000_000, system_usec=500_000)
    usage = supervisor._with_cgroup_usage(own, measured)
    assert (usage.memory_peak, usage.pids_peak, usage.oom_killed) == (own_peak, None, False)
    assert (usage.cpu_time, usage.user_time, usage.system_time) == (2.5, 2.0, 0.5)
    exact = supervisor._with_cgroup_usage(own, dataclasses.replace(measured, memory_peak=100 << 20, pids_peak=3))
    assert (exact.memory_peak, exact.pids_peak) == (100 << 20, 3)
