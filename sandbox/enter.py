"""`sandbox exec`: a command inside a running box, confined exactly as its program is.  Side: parent, then child.

As nsenter(1) does, but never with more than the program has.  The CLI (single-
threaded) forks a helper, which:
  1. joins the box's cgroup, while it still sees the host's cgroup tree;
  2. becomes not dumpable: the box's processes share our uid and must not reach into
     a process that briefly holds every capability of their user namespace;
  3. joins all seven namespaces of the box's program (PID 2; the init is not dumpable and,
     never having exec'd, the kernel keeps it out of our reach) at once through a pidfd
     (setns(2), Linux 5.8): its cgroup namespace too, rooted at the box's cgroup;
  4. forks the command, now inside the box's pid namespace, which takes the program's
     rlimits, environment and working directory, drops every capability, loads the
     program's seccomp filter and execs (_child.confine_and_exec, the program's own path);
  5. waits for it and exits with its status.
The command's output reaches the caller through pipes (or a pseudo-terminal of its own),
never the caller's own descriptors, which the box's processes could open through /proc.
"""
from __future__ import annotations

import os
import selectors
import threading
from typing import Sequence

from . import _channel, _child, cgroup, control, privs
from . import _syscalls as sc
from .errors import ExecError, SetupError, UsageError
from .registry import Confinement, LiveBox
from .streams import pseudo_terminal, read_stream, write_all

EXIT_HELPER_FAILED = 125


def exec_in(box: LiveBox, argv: Sequence[str], env: dict[str, str]) -> int:
    """Run argv in the box; returns its exit code (128+N for signal N), as `sandbox run` does."""
    if not argv:
        raise UsageError("sandbox exec: nothing to run; give NAME -- PROGRAM [ARGS]")
    pidfd = control.open_box_program(box)  # the program's namespaces, held whatever becomes of its pid
    if pidfd is None:
        raise UsageError(f"sandbox {box.name} has ended")
    procs = -1
    if box.cgroup:
        if cgroup.RunCgroup(box.cgroup).current().frozen:
            os.close(pidfd)
            raise UsageError(f"sandbox {box.name} is frozen; `sandbox thaw {box.name}` first")
        procs = cgroup.RunCgroup(box.cgroup).open_procs()
    _child.warm_up()  # python-prctl and the host's cap_last_cap: out of sight once inside
    confinement = box.confinement
    environment = tuple({**dict(confinement.env), **env}.items())
    terminal = os.isatty(1)
    out_read, out_write = pseudo_terminal(1) if terminal else os.pipe2(os.O_CLOEXEC)
    err_read, err_write = (-1, out_write) if terminal else os.pipe2(os.O_CLOEXEC)
    in_read, in_write = os.pipe2(os.O_CLOEXEC)
    fail_read, fail_write = os.pipe2(os.O_CLOEXEC)
    helper = os.fork()
    if helper == 0:
        try:
            for source, target in ((in_read, 0), (out_write, 1), (err_write, 2)):
                os.dup2(source, target)
            _child.close_fds_except(0, 1, 2, pidfd, procs, fail_write)
            _helper(pidfd, procs, tuple(argv), environment, confinement, fail_write)
        finally:
            os._exit(EXIT_HELPER_FAILED)
    for fd in {pidfd, procs, in_read, out_write, err_write, fail_write} - {-1}:
        os.close(fd)
    threading.Thread(target=_copy_stdin, args=(in_write,), daemon=True).start()
    _relay({fd: target for fd, target in ((out_read, 1), (err_read, 2)) if fd >= 0})
    _, status = os.waitpid(helper, 0)
    failure = _failure(fail_read)
    if failure:
        if failure["kind"] == _channel.EXEC_FAILED:
            raise ExecError(failure["message"], 127 if failure.get("errno") == 2 else 126, errno=failure.get("errno"))
        raise SetupError(f"entering sandbox {box.name} failed at step '{failure.get('step')}': "
                         f"{failure.get('message')}", step=failure.get("step"), errno=failure.get("errno"))
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _helper(pidfd: int, procs: int, argv: tuple[str, ...], env: tuple[tuple[str, str], ...],
            confinement: Confinement, fail_write: int) -> None:
    """Steps 1-5 of the module docstring; a failing step is reported on fail_write."""
    step = _child.Step(fail_write)
    if procs >= 0:
        step("cgroup", cgroup.join, procs)                                          # 1
    step("not dumpable", privs.make_undumpable)                                     # 2
    step("namespaces", sc.setns, pidfd, _child.NAMESPACES)                          # 3
    os.close(pidfd)
    command = os.fork()                                                             # 4
    if command == 0:
        _child.confine_and_exec(argv, env, confinement.cwd, confinement.rlimits, confinement.bpf, fail_write)
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


def _relay(streams: dict[int, int]) -> None:
    """The command's output to ours, as it comes, until every stream ends."""
    with selectors.DefaultSelector() as selector:
        for fd in streams:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            for key, _ in selector.select():
                data = read_stream(key.fd)
                if data:
                    write_all(streams[key.fd], data)
                else:
                    selector.unregister(key.fd)
                    os.close(key.fd)


def _failure(fd: int) -> dict:
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
    os.close(fd)
    records = list(_channel.RecordReader().feed(data))
    return records[0] if records else {}
