"""The CHILD pipeline: proxy -> init -> target -> execve.  Side: child.

Started as a fork of a single-threaded process (the fork server or the CLI; see
_forkserver), never of a possibly threaded caller.  start_proxy() gives the fork
its descriptors; main() reads the Plan, then runs one numbered step after another;
each step names why it exists.  A step that fails sends a SETUP_FAILED record
upward and exits; the program's own output pipes never carry sandbox errors.

Three processes:
  proxy  the supervisor's child; enters the user namespace, unshares the rest,
         forks the init, relays the supervisor's kill request, waits.
  init   PID 1 of the box; builds the root, hostname, loopback; runs the target.
  target the program-to-be; limits, stdio, privileges, seccomp, execve.
"""
from __future__ import annotations

import gc
import os
import select
import signal
import time
from typing import TYPE_CHECKING, NoReturn

from . import _channel, cgroup, mountns, netns, pidns, privs, rlimits, seccomp, userns, utsns
from . import _syscalls as sc
from .plan import Plan

if TYPE_CHECKING:
    from ._forkserver import ProxyFds

NAMESPACES = sc.CLONE_NEWNS | sc.CLONE_NEWPID | sc.CLONE_NEWNET | sc.CLONE_NEWIPC | sc.CLONE_NEWUTS | sc.CLONE_NEWCGROUP
EXIT_SETUP_FAILED = 125


class _Step:
    """Runs one named step; on failure reports it upward and exits the process."""

    def __init__(self, status_fd: int) -> None:
        self.status_fd = status_fd

    def __call__(self, name: str, function, *args):  # type: ignore[no-untyped-def]
        try:
            return function(*args)
        except Exception as e:  # noqa: BLE001 - every failure must reach the supervisor
            _channel.send_record(
                self.status_fd, _channel.SETUP_FAILED, step=name,
                errno=getattr(e, "errno", None), message=str(e) or type(e).__name__,
            )
            os._exit(EXIT_SETUP_FAILED)


def warm_up() -> None:
    """In the fork server, before any fork: import what the proxy needs, once, and keep the
    garbage collector off the inherited objects so forks share their pages."""
    sc.load_prctl()
    gc.freeze()


def start_proxy(fds: "ProxyFds", parent_pid: int) -> NoReturn:
    """In a fresh fork of the server (or of the CLI): become the proxy with these descriptors."""
    from ._forkserver import PROXY_NAME

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the server reaps with a handler; we wait ourselves
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    os.setsid()  # the terminal's signals are not the box's
    for source, target in ((fds.stdin, 0), (fds.stdout, 1), (fds.stderr, 2)):
        os.dup2(source, target)
    sc.set_command_line(PROXY_NAME)  # the box can read its init's command line: no host paths
    close_fds_except(0, 1, 2, fds.plan, fds.status, fds.procs)
    main(fds.plan, fds.status, fds.procs, parent_pid)
    os._exit(EXIT_SETUP_FAILED)  # main never returns


def main(plan_fd: int, status_fd: int, cgroup_fd: int, parent_pid: int) -> None:
    """The proxy.  cgroup_fd: the box cgroup's cgroup.procs, or -1 without cgroups."""
    step = _Step(status_fd)
    plan, bpf = step("read plan", _channel.receive_plan, plan_fd)
    os.close(plan_fd)
    step("die with the parent", privs.die_with_parent, parent_pid)                         # 1
    step("user namespace", userns.enter, plan.ids)                                          # 2
    step("other namespaces", sc.unshare, NAMESPACES)                                        # 3
    # 4. The supervisor asks for the box to end with SIGUSR1; only we can name the init's pid.
    #    Armed before the fork, so a request can never find us without a handler.
    init: list[int] = []
    signal.signal(signal.SIGUSR1, lambda *_: init and os.kill(init[0], signal.SIGUSR1))
    lifeline_read, lifeline_write = os.pipe2(os.O_CLOEXEC)                                  # 5
    init_pid = os.fork()                                                                    # 6
    if init_pid == 0:
        os.close(lifeline_write)
        _init(plan, bpf, step, lifeline_read, cgroup_fd)
    init.append(init_pid)
    os.close(lifeline_read)
    _, status = os.waitpid(init_pid, 0)                                                     # 7
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _init(plan: Plan, bpf: bytes, step: _Step, lifeline: int, cgroup_fd: int) -> None:
    """PID 1 of the box."""
    step("die with the proxy", _die_with_proxy, lifeline)                                   # 1
    step("signals", pidns.become_init)                                                      # 2. sigwaitinfo only
    step("mount namespace", mountns.build_root, plan.mounts)                                # 3
    step("hostname", utsns.configure, plan.hostname)                                        # 4
    step("network", netns.configure, plan.net)                                              # 5
    step("not dumpable", privs.make_undumpable)     # 5b. the program may not touch /proc/1/* (oom_score_adj, fds)
    exec_read, exec_write = os.pipe2(os.O_CLOEXEC)                                          # 6
    started = time.monotonic()
    target = os.fork()                                                                      # 7
    if target == 0:
        os.close(exec_read)
        _target(plan, bpf, step.status_fd, exec_write, cgroup_fd)
    os.close(exec_write)
    if cgroup_fd >= 0:
        os.close(cgroup_fd)
    failure = _read_all(exec_read)                                                          # 8
    if failure:
        os.write(step.status_fd, failure)
        os.waitpid(target, 0)
        os._exit(EXIT_SETUP_FAILED)
    _channel.send_record(step.status_fd, _channel.STARTED)
    end = pidns.reap_until(target, started)                                                 # 9
    _channel.send_record(step.status_fd, _channel.EXITED, **vars(end))
    os._exit(0)                                                                             # 10: the kernel ends the rest


def _die_with_proxy(lifeline: int) -> None:
    """pdeathsig, then check the proxy did not die before it was armed (EOF on the lifeline)."""
    sc.set_parent_death_signal(signal.SIGKILL)
    if select.select([lifeline], [], [], 0)[0]:
        os._exit(1)


def _target(plan: Plan, bpf: bytes, status_fd: int, exec_error_fd: int, cgroup_fd: int) -> None:
    """The program's process, from fork to execve."""
    step = _Step(exec_error_fd)  # failures here go to the init, which forwards them
    os.close(status_fd)
    step("signals", pidns.reset_signals)                # 1. Python ignores SIGPIPE and SIGXFSZ; exec would keep that
    step("new session", os.setsid)                      # 2. no controlling terminal: no TIOCSTI into the caller's
    step("rlimits", rlimits.apply, plan.rlimits)        # 3
    step("file descriptors", close_fds_except, 0, 1, 2, exec_error_fd, cgroup_fd)  # 4. nothing of the caller's leaks in
    step("working directory", os.chdir, plan.cwd)       # 5
    env = dict(plan.env)                                # 6. only the plan's environment
    try:
        path = _find_program(plan.argv[0], env.get("PATH", ""))
    except OSError as e:
        _report_exec_failure(exec_error_fd, plan.argv[0], e.errno or 0, e.strerror or "")
    if cgroup_fd >= 0:                                  # 7. as late as possible: only the program is charged
        step("cgroup", _join_cgroup, cgroup_fd)
    step("privileges", privs.drop_all)                  # 8. no_new_privs, empty bounding set
    step("seccomp", seccomp.load, bpf)                  # 9. last: the filter also binds our own next call
    try:
        os.execve(path, list(plan.argv), env)           # 10
    except OSError as e:
        _report_exec_failure(exec_error_fd, plan.argv[0], e.errno or 0, e.strerror or "")


def _find_program(name: str, search_path: str) -> str:
    if "/" in name:
        candidates = [name]
    else:
        candidates = [os.path.join(d or ".", name) for d in search_path.split(":")]
    for candidate in candidates:
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            raise PermissionError(13, f"{name}: not executable")
    raise FileNotFoundError(2, f"{name}: program not found in the box" + ("" if "/" in name else f" (PATH={search_path})"))


def _report_exec_failure(fd: int, name: str, err: int, strerror: str) -> None:
    message = strerror if strerror.startswith(name) else f"{name}: {strerror}"
    _channel.send_record(fd, _channel.EXEC_FAILED, errno=err, message=message)
    os._exit(127)


def _join_cgroup(procs_fd: int) -> None:
    """Join the box's cgroup, then root a cgroup namespace there so the program sees "/"."""
    cgroup.join(procs_fd)
    sc.unshare(sc.CLONE_NEWCGROUP)


def close_fds_except(*keep: int) -> None:
    """Close every file descriptor but `keep` (negative numbers are ignored)."""
    low = 0
    for fd in sorted(k for k in keep if k >= 0):
        if fd > low:  # never an empty range: CPython turns closerange(0, 0) into close_range(0, ~0)
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 20)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)

