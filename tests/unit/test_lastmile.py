"""The target's last mile (sandbox/_lastmile.c, through _child.launch_program): each step's failure
reaches the supervisor as a record with the step's name and errno (exec failures with a shell's exit
code), and no signal handler of the caller runs in the child, which shares the caller's memory.

The children here are real (clone, then the C steps) but make no namespace: where a step needs
privileges the test user lacks, that is the failure tested."""
from __future__ import annotations

import errno
import os
import resource
import signal
import struct
import time

import pytest

from sandbox import _channel, _child, supervisor
from sandbox import _syscalls as sc
from sandbox.errors import ExecError, SetupError
from sandbox.rlimits import RlimitSpec

ALLOW_ALL = struct.pack("=HBBI", 0x06, 0, 0, 0x7FFF0000)  # BPF_RET|BPF_K SECCOMP_RET_ALLOW
BAD_FILTER = struct.pack("=HBBI", 0xFFFF, 0, 0, 0)        # no such BPF instruction: EINVAL
STEPS = sc.last_mile_steps()


def _under_a_filter() -> bool:
    """In a box (the unit tier runs in `sandbox run --profile ci` too) keyctl is filtered: the steps
    from "privileges" on cannot succeed there."""
    with open("/proc/self/status") as status:
        return any(line.split() == ["Seccomp:", "2"] for line in status)


def _spawn(path: str = "/bin/true", cwd: str = "/", limits=(), cgroup_fds: tuple = (), bpf: bytes = ALLOW_ALL,
           last_cap: int = -1, death_signal: int = 0) -> tuple[bytes, int]:
    """The C spawn alone: (its failure record, the child's wait status)."""
    records, record_pipe = os.pipe2(os.O_CLOEXEC)
    try:
        pid = sc.spawn_confined(path, ("prog",), (), cwd, list(limits), (0, 1, 2, record_pipe, *cgroup_fds),
                                cgroup_fds, bpf, last_cap, record_pipe, death_signal)
    finally:
        os.close(record_pipe)
    record = os.read(records, 64)
    os.close(records)
    return record, os.waitpid(pid, 0)[1]


def _launch(argv=("/bin/true",), cwd: str = "/", cgroup_fds: tuple = (), limits=()) -> list[dict]:
    """launch_program in a fork (it ends the process on a failure): the records it sends upward."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(reader)
            target = _child.launch_program(_child.Step(writer), tuple(argv), (("PATH", "/usr/bin:/bin"),), cwd,
                                           tuple(limits), ALLOW_ALL, cgroup_fds)
            os.waitpid(target, 0)
        finally:
            os._exit(0)
    os.close(writer)
    data = b""
    while chunk := os.read(reader, 4096):
        data += chunk
    os.close(reader)
    os.waitpid(pid, 0)
    return list(_channel.RecordReader().feed(data))


@pytest.mark.parametrize("number", range(1, len(STEPS)))
def test_every_steps_record_is_translated_with_its_name_and_errno(number):
    record = _child.failure_record(struct.pack("=ii", number, errno.EPERM), "prog", "/work")
    if STEPS[number] == "execve":
        assert record == {"kind": _channel.EXEC_FAILED, "errno": errno.EPERM,
                          "message": "prog: Operation not permitted", "exit_code": 126}
        return
    assert (record["kind"], record["step"], record["errno"]) == (_channel.SETUP_FAILED, STEPS[number], errno.EPERM)
    error = supervisor._setup_error(record)
    assert isinstance(error, SetupError) and (error.step, error.errno) == (STEPS[number], errno.EPERM)
    assert f"failed at step '{STEPS[number]}': [Errno 1] Operation not permitted" in str(error)


def test_exec_failures_keep_a_shells_exit_codes():
    interpreter = _child.failure_record(struct.pack("=ii", STEPS.index("execve"), errno.ENOENT), "prog", "/")
    assert interpreter["exit_code"] == 126  # the program was found: its #! interpreter is missing
    assert interpreter["message"] == "prog: cannot run it: its interpreter (#!) is not in the box"
    assert ExecError.from_record(interpreter).exit_code == 126


def test_a_working_directory_failure_names_the_directory():
    record = _child.failure_record(struct.pack("=ii", STEPS.index("working directory"), errno.ENOENT), "p", "/work")
    assert record["message"] == "[Errno 2] No such file or directory: '/work'"


@pytest.mark.parametrize("step, arguments, expected", [
    ("rlimits", {"limits": [(99, 1, 1)]}, errno.EINVAL),              # no such resource
    ("parent death signal", {"death_signal": 99}, errno.EINVAL),      # no such signal
    ("working directory", {"cwd": "/nonexistent"}, errno.ENOENT),
    ("privileges", {"last_cap": 1000}, (errno.EINVAL, errno.EPERM, errno.ENOSYS)),  # no such capability
])
def test_each_step_of_the_child_reports_its_own_failure(step, arguments, expected):
    record, status = _spawn(**arguments)
    number, err = struct.unpack("=ii", record)
    assert (STEPS[number], os.waitstatus_to_exitcode(status)) == (step, 127)
    assert err in expected if isinstance(expected, tuple) else err == expected


def test_the_program_joins_every_hierarchy_it_is_given(tmp_path):
    """cgroup v1: one cgroup.procs per hierarchy, each written "0" (the writer) before the exec.  Plain
    files stand in for them here (no cgroup of this host is touched); the run ends at the cgroup
    namespace when this process may not make one, after the joins."""
    paths = [tmp_path / f"procs{i}" for i in range(3)]
    fds = tuple(os.open(path, os.O_WRONLY | os.O_CREAT) for path in paths)
    try:
        _launch(cgroup_fds=fds)
    finally:
        for fd in fds:
            os.close(fd)
    assert [path.read_text() for path in paths] == ["0", "0", "0"]


def test_a_cgroup_that_cannot_be_joined_reaches_the_supervisor_as_the_cgroup_step(tmp_path):
    (tmp_path / "procs").write_text("")
    read_only = os.open(tmp_path / "procs", os.O_RDONLY)
    try:
        records = _launch(cgroup_fds=(read_only,))
    finally:
        os.close(read_only)
    assert [(r["kind"], r["step"], r["errno"]) for r in records] == [(_channel.SETUP_FAILED, "cgroup", errno.EBADF)]


def test_a_missing_working_directory_fails_before_the_program_is_looked_up():
    records = _launch(argv=("missing-program",), cwd="/nonexistent")
    assert [(r["kind"], r["step"], r["errno"]) for r in records] == [
        (_channel.SETUP_FAILED, "working directory", errno.ENOENT)]


def test_a_program_found_nowhere_is_127_and_relative_names_are_looked_up_from_the_working_directory(tmp_path):
    assert [(r["kind"], r["exit_code"]) for r in _launch(argv=("missing-program",))] == [(_channel.EXEC_FAILED, 127)]
    (tmp_path / "tool").write_text("#!/bin/sh\n")
    assert [r["message"] for r in _launch(argv=("./tool",), cwd=str(tmp_path))] == ["./tool: not executable"]


def test_arguments_the_kernel_cannot_take_fail_at_starting_the_target():
    records = _launch(argv=("/bin/true", "a\0b"))
    assert [(r["kind"], r["step"]) for r in records] == [(_channel.SETUP_FAILED, "start the target")]


@pytest.mark.skipif(_under_a_filter(), reason="keyctl is filtered in a box: the privileges step fails first")
def test_seccomp_and_execve_failures_after_the_privileges_are_dropped(tmp_path):
    record, _ = _spawn(bpf=BAD_FILTER)
    assert struct.unpack("=ii", record) == (STEPS.index("seccomp"), errno.EINVAL)
    (tmp_path / "script").write_text("#!/nonexistent/interpreter\n")
    (tmp_path / "script").chmod(0o755)
    record, status = _spawn(path=str(tmp_path / "script"))
    assert (struct.unpack("=ii", record), os.waitstatus_to_exitcode(status)) == ((STEPS.index("execve"), errno.ENOENT), 127)


def test_a_signal_during_the_spawn_runs_no_handler_of_ours_in_the_child():
    """The child shares our memory: a handler of ours running there would run CPython's C handler on
    our interpreter's state (its "tripped" flag, which would then run the Python handler here).  The
    child is held in its cgroup step (a write into a full pipe) while a second process signals it,
    then lets it go: the signal, blocked until the child's last steps, finds SIG_DFL there and kills
    it before the exec; our handler never runs, and a signal sent to us meanwhile is delivered to us
    once the spawn returns."""
    calls: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: calls.append(signum))
                for sig in (signal.SIGUSR1, signal.SIGUSR2)}
    hold, held = os.pipe()
    os.set_blocking(held, False)
    while True:
        try:
            os.write(held, b"x" * 4096)
        except BlockingIOError:
            break
    os.set_blocking(held, True)
    us = os.getpid()
    signaller = os.fork()
    if signaller == 0:
        try:
            child = _held_child(us)
            os.kill(child, signal.SIGUSR1)
            os.kill(us, signal.SIGUSR2)
            time.sleep(0.05)
            os.read(hold, 1 << 16)  # let it go on
        finally:
            os._exit(0)
    try:
        record, status = _spawn(cgroup_fds=(held,))
    finally:
        os.waitpid(signaller, 0)
        os.close(hold)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if record:  # no cgroup namespace for us (EPERM; in a box, ENOSYS): the child ended there, its signal still blocked
        assert (STEPS[struct.unpack("=ii", record)[0]], os.waitstatus_to_exitcode(status)) == ("cgroup", 127)
    else:
        assert (record, os.waitstatus_to_exitcode(status)) == (b"", -signal.SIGUSR1)
    assert calls == [signal.SIGUSR2]


def _held_child(parent: int) -> int:
    """The spawned child of `parent` once it sleeps (in its write into the full pipe)."""
    me = os.getpid()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(f"/proc/{parent}/task/{parent}/children") as f:
            children = [int(pid) for pid in f.read().split() if int(pid) != me]
        for pid in children:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "S":
                    return pid
        time.sleep(0.001)
    raise AssertionError("the spawned child never blocked")


def test_the_c_spawn_refuses_a_limit_it_cannot_represent_rather_than_wrapping_it():
    """(2**64 wrapped to 0 bytes, -2 to about RLIM_INFINITY: the value modulo 2**64 is another limit.)"""
    for value in (1 << 64, -2):
        with pytest.raises(OverflowError):
            _spawn(limits=[(resource.RLIMIT_FSIZE, value, value)])
