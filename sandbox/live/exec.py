"""`sandbox exec`: a command inside a running box, confined exactly as its program is.  Side: parent, then child.

As nsenter(1) does, but never with more than the program has.  The CLI (single-
threaded) forks a helper, which:
  1. joins the box's cgroup, while it still sees the host's cgroup tree;
  2. becomes not dumpable: the box's processes share our uid and must not reach into
     a process that briefly holds every capability of their user namespace;
  3. joins all seven namespaces of the box's program (PID 2; the init is not dumpable and,
     never having exec'd, the kernel keeps it out of our reach) at once through a pidfd
     (setns(2), Linux 5.8): its cgroup namespace too, rooted at the box's cgroup;
  4. starts the command, now inside the box's pid namespace, which takes the program's
     rlimits, environment and working directory, drops every capability, loads the
     program's seccomp filter and execs (_child.launch_program, the program's own path),
     and dies with the helper;
  5. waits for it and exits with its status.
The command's output reaches the caller through pipes (or a pseudo-terminal of its own),
never the caller's own descriptors, which the box's processes could open through /proc.
The box's processes can open those pipes too (same uid: /proc/PID/fd/1) and hold them or
write into them, so exec relays at most the box's output limit (a command that passes it
is killed: it dies with its helper) and stops when the helper has exited, taking only
what the pipes hold at that moment.
"""
from __future__ import annotations

import os
import selectors
import signal
import threading
from typing import Iterator, Optional, Sequence

from .._record import dataclass
from .. import _channel, _child, cgroup, privs
from .. import _syscalls as sc
from . import control
from ..errors import ExecError, SetupError, UsageError
from .registry import Confinement, LiveBox
from ..boxio import PASS, TERMINAL, BoxStreams, OutputCap, Stdio
from ..streams import read_stream, readable_now, write_all

EXIT_HELPER_FAILED = 125


@dataclass(frozen=True)
class Finished:
    """How a command run by `sandbox exec` ended."""

    exit_code: int                      # the command's, 128+N for signal N, as `sandbox run` reports a program's
    output_limit: Optional[int] = None  # the box's output limit, when the command passed it and was killed (OLE)


def exec_in(box: LiveBox, argv: Sequence[str], env: dict[str, str]) -> Finished:
    """Run argv in the box, its output capped at the box's output limit; returns when it has ended."""
    if not argv:
        raise UsageError("sandbox exec: nothing to run; give NAME -- PROGRAM [ARGS]")
    pidfd = control.open_box_program(box)  # the program's namespaces, held whatever becomes of its pid
    if pidfd is None:
        raise UsageError(f"sandbox {box.name} has ended")
    procs: tuple[int, ...] = ()
    if box.cgroup:
        if cgroup.run_cgroup_at(box.cgroup).current().frozen:
            os.close(pidfd)
            raise UsageError(f"sandbox {box.name} is frozen; `sandbox thaw {box.name}` first")
        procs = cgroup.run_cgroup_at(box.cgroup).open_procs()
    _child.warm_up()  # python-prctl and the host's cap_last_cap: out of sight once inside
    confinement = box.confinement
    environment = tuple({**dict(confinement.env), **env}.items())
    in_read, in_write = os.pipe2(os.O_CLOEXEC)
    sink = TERMINAL if os.isatty(1) else PASS
    streams = BoxStreams.open(Stdio(in_read, sink, sink))
    fail_read, fail_write = os.pipe2(os.O_CLOEXEC)
    lifeline, ours = os.pipe2(os.O_CLOEXEC)  # `ours` stays open as long as this process lives
    helper = os.fork()
    if helper == 0:
        try:
            privs.die_with_parent(lifeline)  # an exec interrupted or killed takes its command along
            for source, target in ((streams.stdin, 0), (streams.stdout, 1), (streams.stderr, 2)):
                os.dup2(source, target)
            _child.close_fds_except(0, 1, 2, pidfd, *procs, fail_write)
            _helper(pidfd, procs, tuple(argv), environment, confinement, fail_write)
        finally:
            os._exit(EXIT_HELPER_FAILED)
    for fd in {pidfd, *procs, in_read, fail_write, lifeline}:
        os.close(fd)
    streams.handed_over()
    threading.Thread(target=_copy_stdin, args=(in_write,), daemon=True).start()
    outputs = {fd: 1 if stream == "stdout" else 2 for fd, stream in streams.readers.items()}
    helper_pidfd = os.pidfd_open(helper)  # our unreaped child: its pid is ours until we wait for it
    try:
        within_limit = _relay(outputs, helper_pidfd, OutputCap(confinement.output))
    finally:
        streams.close()
        os.close(helper_pidfd)
    if not within_limit:
        os.kill(helper, signal.SIGKILL)  # the command dies with it (its parent-death signal)
        os.waitpid(helper, 0)
        os.close(fail_read)
        return Finished(128 + signal.SIGKILL, output_limit=confinement.output)
    _, status = os.waitpid(helper, 0)
    failure = _failure(fail_read)
    if failure:
        if failure["kind"] == _channel.EXEC_FAILED:
            raise ExecError.from_record(failure)
        raise SetupError(f"entering sandbox {box.name} failed at step '{failure.get('step')}': "
                         f"{failure.get('message')}", step=failure.get("step"), errno=failure.get("errno"))
    code = os.waitstatus_to_exitcode(status)
    return Finished(128 - code if code < 0 else code)


def _helper(pidfd: int, procs: tuple[int, ...], argv: tuple[str, ...], env: tuple[tuple[str, str], ...],
            confinement: Confinement, fail_write: int) -> None:
    """Steps 1-5 of the module docstring; a failing step is reported on fail_write."""
    step = _child.Step(fail_write)
    for fd in procs:
        step("cgroup", cgroup.join, fd)                                             # 1
    step("not dumpable", privs.make_undumpable)                                     # 2
    step("namespaces", sc.setns, pidfd, _child.NAMESPACES)                          # 3
    os.close(pidfd)
    lifeline, ours = os.pipe2(os.O_CLOEXEC)  # `ours` stays open until the helper exits
    command = _child.launch_program(step, argv, env, confinement.cwd, confinement.rlimits,  # 4
                                    confinement.bpf, death_signal=signal.SIGKILL, lifeline=lifeline)
    os.close(lifeline)                   # killing the helper kills the command (exec's output limit)
    os.close(fail_write)
    for fd in (0, 1, 2):
        os.close(fd)
    _, status = os.waitpid(command, 0)                                              # 5
    code = os.waitstatus_to_exitcode(status)
    os._exit(128 - code if code < 0 else code)


def _copy_stdin(pipe: int) -> None:
    """Our stdin into the command's, until either ends (a thread: the command may never read)."""
    try:
        while data := os.read(0, 1 << 16):
            write_all(pipe, data)
    except OSError:
        pass
    finally:
        os.close(pipe)


def _relay(outputs: dict[int, int], helper_pidfd: int, cap: OutputCap) -> bool:
    """The command's output (pipe -> our fd) to ours, as it comes, until the helper has exited (the
    command has ended); then only what the pipes hold at that moment: the box's processes may hold
    them open and write on.  False as soon as the output passes the box's output limit (what fits
    is passed)."""

    def forward(fd: int, data: bytes) -> bool:
        write_all(outputs[fd], cap.take(data))
        return not cap.exceeded

    with selectors.PollSelector() as selector:  # epoll watches are a per-user count the box can drain
        for fd in outputs:
            selector.register(fd, selectors.EVENT_READ)
        selector.register(helper_pidfd, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fd == helper_pidfd:  # the command has ended
                    still_open = [fd for fd in outputs if fd in selector.get_map()]
                    return all(forward(fd, data) for fd in still_open for data in _held(fd))
                data = read_stream(key.fd)
                if not data:
                    selector.unregister(key.fd)
                elif not forward(key.fd, data):
                    return False


def _held(fd: int) -> Iterator[bytes]:
    """What a pipe holds now, in chunks, and nothing that comes after."""
    left = readable_now(fd)
    while left > 0 and (data := read_stream(fd, min(left, 1 << 16))):
        left -= len(data)
        yield data


def _failure(fd: int) -> dict:
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
    os.close(fd)
    records = list(_channel.RecordReader().feed(data))
    return records[0] if records else {}
