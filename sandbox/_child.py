"""The CHILD pipeline: init -> target -> execve.  Side: child.

The init is cloned straight into fresh namespaces by a single-threaded process
(the fork server or the CLI; see _forkserver), never by a possibly threaded
caller.  It takes its descriptors, reads the Plan, then runs one numbered step
after another; each step names why it exists.  A step that fails sends a
SETUP_FAILED record upward and exits; the program's own output pipes never carry
sandbox errors.

Two processes:
  init   PID 1 of the box, in its own user, mount, pid, net, ipc, uts and cgroup
         namespaces from birth; maps its ids, builds the root, hostname,
         loopback; runs the target, reaps, reports.  It honours no signal
         (init.py): the supervisor ends a box by killing the program.
  target the program-to-be; limits, stdio, privileges, seccomp, execve.
"""
from __future__ import annotations

import errno
import gc
import os
import resource
import socket
import time
from typing import Optional

from . import _channel, cgroup, init, mountns, netns, privs, rlimits, seccomp, userns, utsns
from .transfer import box as workdir_files
from .transfer import packing
from . import _syscalls as sc
from .plan import Plan

NAMESPACES = (sc.CLONE_NEWUSER | sc.CLONE_NEWNS | sc.CLONE_NEWPID | sc.CLONE_NEWNET | sc.CLONE_NEWIPC
              | sc.CLONE_NEWUTS | sc.CLONE_NEWCGROUP)
EXIT_SETUP_FAILED = 125
PROCESS_NAME = "sandbox-init"  # the box can read its init's command line: no host paths in it


class Step:
    """Runs one named step; on failure reports it upward and exits the process.

    It also times each step (ms): the init reports them with the program's exit, so
    bench/timeline.py can show where a run's setup goes.
    """

    def __init__(self, status_fd: int) -> None:
        self.status_fd = status_fd
        self.times: dict[str, float] = {}

    def __call__(self, name: str, function, *args):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            result = function(*args)
        except Exception as e:  # noqa: BLE001 - every failure must reach the supervisor
            _channel.send_record(
                self.status_fd, _channel.SETUP_FAILED, step=name,
                errno=getattr(e, "errno", None), message=str(e) or type(e).__name__,
            )
            os._exit(EXIT_SETUP_FAILED)
        self.times[name] = round((time.perf_counter() - start) * 1000, 3)
        return result


def warm_up() -> None:
    """In the fork server, before any clone: import what the init needs, once, read what does
    not change, and keep the garbage collector off the inherited objects so clones share pages."""
    sc.load_prctl()
    privs.warm_up()
    gc.freeze()


def start_box(handover: int, lifeline: int) -> int:
    """Clone the box's init into fresh namespaces; returns its pid (in the caller's namespace).

    The init gets ready and then waits on `handover` (a Unix socket) for its run's
    descriptors (_channel.hand_over), so it may be cloned before the run is asked for.
    lifeline: the read end of a pipe whose write end only the caller holds; EOF on it
    tells the init that its parent is gone.
    """
    pid = sc.fork_into_namespaces(NAMESPACES)
    if pid == 0:
        try:
            _init(handover, lifeline)
        finally:
            os._exit(EXIT_SETUP_FAILED)
    return pid


def _init(handover: int, lifeline: int) -> None:
    """PID 1 of the box, from its first instruction to the program's end."""
    born = time.perf_counter()
    gc.disable()                                        # 0. a collection would touch (copy) every shared page
    init.reset_signals()                               #    the parent's handlers and mask are not ours
    os.setsid()                                         #    the terminal's signals are not the box's
    sc.set_command_line(PROCESS_NAME)
    close_fds_except(0, 1, 2, handover, lifeline)
    _occupy_stdio()                                     #    descriptors received next land above 2
    privs.die_with_parent(lifeline)                     #    no one to report to yet: a quiet exit
    os.close(lifeline)
    ready = round((time.perf_counter() - born) * 1000, 3)
    with socket.socket(fileno=handover) as channel:     #    ready; wait for the run
        fds = _channel.take_over(channel)
    if fds is None:
        os._exit(0)
    for source, target in ((fds.stdin, 0), (fds.stdout, 1), (fds.stderr, 2)):
        os.dup2(source, target)
        os.close(source)
    step = Step(fds.status)
    step.times["get ready (before the run is asked for)"] = ready
    plan, bpf = step("read plan", _channel.receive_plan, fds.plan)                         # 1
    os.close(fds.plan)
    step("user namespace", userns.map_ids, plan.ids)                                        # 2
    step("signals", init.become_init)                                                      # 3. sigwaitinfo only
    step("mount namespace", mountns.build_root, plan.mounts)                                # 4
    step("hostname", utsns.configure, plan.hostname)                                        # 5
    step("network", netns.configure, plan.net)                                              # 6
    step("per-user limits", userns.limit_counts, plan.user_counts)  # 7. after the mounts: open_tree's detached
                                                    #    trees count as mount namespaces; before the program
    step("not dumpable", privs.make_undumpable)     # 8. the program may not touch /proc/1/* (oom_score_adj, fds)
    if fds.files >= 0:                              # 9. the caller's files into the work dir
        step("files in", _files_in, fds.files, plan.cwd)
    exec_read, exec_write = os.pipe2(os.O_CLOEXEC)                                          # 10
    started = time.monotonic()
    forked = time.perf_counter()
    target = os.fork()                                                                      # 11
    if target == 0:
        os.close(exec_read)
        _target(plan, bpf, step.status_fd, exec_write, fds.procs)
    os.close(exec_write)
    if fds.procs >= 0:
        os.close(fds.procs)
    _close_stdio()                                  # 12. the program's output ends when the program's does
    failure = _read_all(exec_read)                                                          # 13
    if failure:
        os.write(step.status_fd, failure)
        os.waitpid(target, 0)
        os._exit(EXIT_SETUP_FAILED)
    step.times["target: fork to execve"] = round((time.perf_counter() - forked) * 1000, 3)
    _channel.send_record(step.status_fd, _channel.STARTED)
    end = init.reap_until(target, started)                                                 # 14
    out = _files_out(fds.files, plan) if plan.collect else {}                              # 15
    _channel.send_record(step.status_fd, _channel.EXITED, **vars(end), steps=step.times, **out)
    os._exit(0)                                                                             # 16: the kernel ends the rest


def _files_in(memfd: int, workdir: str) -> None:
    workdir_files.write_into(workdir, memfd, packing.packed_files(memfd))


def _files_out(memfd: int, plan: Plan) -> dict[str, object]:
    """The named files back into the memfd for the supervisor; for the report, the names
    cut at the limit (or what went wrong: the program's outcome still counts)."""
    try:
        found, cut = workdir_files.read_out(plan.cwd, plan.collect, plan.collect_limit)
        os.ftruncate(memfd, 0)
        os.lseek(memfd, 0, os.SEEK_SET)
        packing.pack_files(memfd, list(found))
    except OSError as e:
        return {"files_error": str(e)}
    return {"files_cut": cut}


def _occupy_stdio() -> None:
    """Put /dev/null on whichever of 0, 1, 2 the parent had closed."""
    while (fd := os.open(os.devnull, os.O_RDWR)) <= 2:
        pass
    os.close(fd)


def _close_stdio() -> None:
    for fd in (0, 1, 2):
        os.close(fd)


def _target(plan: Plan, bpf: bytes, status_fd: int, exec_error_fd: int, cgroup_fd: int) -> None:
    """The program's process, from fork to execve.  It reports its own peak memory just before the
    exec on the status pipe, and closes it: the program never holds it."""
    confine_and_exec(plan.argv, plan.env, plan.cwd, plan.rlimits, bpf, exec_error_fd, cgroup_fd, status_fd)


def confine_and_exec(argv: tuple[str, ...], env_pairs: tuple[tuple[str, str], ...], cwd: str,
                     limits: tuple[rlimits.RlimitSpec, ...], bpf: bytes, exec_error_fd: int,
                     cgroup_fd: int = -1, report_fd: int = -1) -> None:
    """From a fork inside the box to execve: the program's, or a `sandbox exec` command's
    (live/exec.py), which must get exactly the same confinement.  Failures go to exec_error_fd."""
    step = Step(exec_error_fd)
    step("signals", init.reset_signals)                # 1. Python ignores SIGPIPE and SIGXFSZ; exec would keep that
    step("new session", os.setsid)                      # 2. no controlling terminal: no TIOCSTI into the caller's
    step("rlimits", rlimits.apply, limits)              # 3
    step("file descriptors", close_fds_except,          # 4. nothing of the caller's leaks in
         0, 1, 2, exec_error_fd, cgroup_fd, report_fd)
    step("working directory", os.chdir, cwd)            # 5
    env = dict(env_pairs)                               # 6. only the plan's environment
    try:
        path = _find_program(argv[0], env.get("PATH", ""))
    except OSError as e:
        _report_exec_failure(exec_error_fd, argv[0], e.errno or 0, e.strerror or "")
    if cgroup_fd >= 0:                                  # 7. as late as possible: only the program is charged
        step("cgroup", _join_cgroup, cgroup_fd)
    step("privileges", privs.drop_all)                  # 8. no_new_privs, empty bounding set
    if report_fd >= 0:                                  #    our peak memory: the program's starts from it
        _channel.send_record(report_fd, _channel.EXECUTING, max_rss=_own_peak_memory())
        os.close(report_fd)                             #    (received by SCM_RIGHTS: not close-on-exec)
    step("seccomp", seccomp.load, bpf)                  # 9. last: the filter also binds our own next call
    try:
        os.execve(path, list(argv), env)                # 10
    except OSError as e:
        if e.errno == errno.ENOENT:  # the program is there (found above): its #! interpreter is not, 126 as in a shell
            _report_exec_failure(exec_error_fd, argv[0], e.errno, "cannot run it: its interpreter (#!) is not in the box",
                                 exit_code=126)
        _report_exec_failure(exec_error_fd, argv[0], e.errno or 0, e.strerror or "")


def _own_peak_memory() -> int:
    """This process's peak resident memory so far, in bytes.  The kernel carries it across execve into
    the program's ru_maxrss (exec_mmap: the old mm's high-water mark), so a program that never grows
    past what this Python helper touched reports our peak, not its own: the supervisor tells the two
    apart with this number (supervisor._program_usage)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _find_program(name: str, search_path: str) -> str:
    """The program's path, found as execvp(3) finds it, so a shell's exit codes follow: a name that
    exists but cannot be executed (a device such as /dev/null, a directory, a file without the
    x bit) is PermissionError (126); only a name found nowhere is FileNotFoundError (127)."""
    if "/" in name:
        candidates = [name]
    else:
        candidates = [os.path.join(d or ".", name) for d in search_path.split(":")]
    denied = None
    for candidate in candidates:
        if not os.path.exists(candidate):
            continue
        if os.path.isdir(candidate):
            denied = denied or PermissionError(13, f"{name}: is a directory")
        elif not os.path.isfile(candidate) or not os.access(candidate, os.X_OK):
            denied = denied or PermissionError(13, f"{name}: not executable")
        else:
            return candidate
    if denied:
        raise denied
    raise FileNotFoundError(2, f"{name}: program not found in the box" + ("" if "/" in name else f" (PATH={search_path})"))


def _report_exec_failure(fd: int, name: str, err: int, strerror: str, exit_code: Optional[int] = None) -> None:
    """exit_code: 127 for a program not found, 126 for one that cannot run (ExecError.from_record)."""
    message = strerror if strerror.startswith(name) else f"{name}: {strerror}"
    code = exit_code if exit_code is not None else 127 if err == errno.ENOENT else 126
    _channel.send_record(fd, _channel.EXEC_FAILED, errno=err, message=message, exit_code=code)
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

