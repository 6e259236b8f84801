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
  target the program-to-be, cloned sharing the init's memory (CLONE_VM|CLONE_VFORK) and
         running no Python: signals, session, limits, descriptors, cwd, cgroup,
         privileges, seccomp, execve, in C (_lastmile.c; launch_program plans it).
"""
from __future__ import annotations

import errno
import gc
import os
import resource
import socket
import struct
import time
from typing import NoReturn, Optional

from . import _channel, init, mountns, netns, privs, rlimits, userns, utsns
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
    sc.load_last_mile()
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
    started = time.monotonic()
    forked = time.perf_counter()
    target = launch_program(step, plan.argv, plan.env, plan.cwd, plan.rlimits, bpf, fds.procs)   # 10-11
    step.times["target: fork to execve"] = round((time.perf_counter() - forked) * 1000, 3)
    for procs in fds.procs:
        os.close(procs)
    _channel.send_record(step.status_fd, _channel.EXECUTING, max_rss=_own_peak_memory())          # 12
    _close_stdio()                                  # 13. the program's output ends when the program's does
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


def launch_program(step: Step, argv: tuple[str, ...], env_pairs: tuple[tuple[str, str], ...], cwd: str,
                   limits: tuple[rlimits.RlimitSpec, ...], bpf: bytes, cgroup_fds: tuple[int, ...] = (),
                   death_signal: int = 0, lifeline: int = -1) -> int:
    """Start the program, confined, and return its pid once it has exec'd: the box's program (from the
    init) or a `sandbox exec` command (from its helper, live/exec.py), which get exactly the same
    confinement.  A failure is reported on step.status_fd and ends this process (exit 125).

    The plan is made here, in Python; _lastmile.spawn carries it out in a child that shares our memory
    and runs no Python (no page of ours is copied for it), in this order (_lastmile.c's enum step):
    1 every signal to its default (Python ignores SIGPIPE and SIGXFSZ; exec would keep that);
    2 setsid (no controlling terminal: no TIOCSTI into the caller's); 3 the rlimits, never above the
    hard limit it has; 4 close every descriptor but 0-2 (nothing of the caller's leaks in); 5 the
    parent-death signal, if asked; 6 chdir; 7 join the box's cgroup (each hierarchy's, on cgroup v1), as
    late as possible so only the program is charged, and a cgroup namespace rooted there; 8 its own
    session keyring, no_new_privs, an empty bounding set; 9 every signal unblocked; 10 seccomp, last: the
    filter also binds its own next call; 11 execve, with the plan's environment only."""
    env = dict(env_pairs)                        # only the plan's environment
    step("working directory", os.chdir, cwd)     # the program is looked up from where it will run
    try:
        path = _find_program(argv[0], env.get("PATH", ""))
    except OSError as e:
        _report(step.status_fd, _exec_failure(argv[0], e.errno or 0, e.strerror or ""))
    failures, failure_pipe = os.pipe2(os.O_CLOEXEC)   # EOF without a record: the exec happened
    keep = (0, 1, 2, failure_pipe, *cgroup_fds, lifeline)
    pid = step("start the target", sc.spawn_confined, path, argv, tuple(env.items()), cwd, rlimits.numbered(limits),
               keep, cgroup_fds, bpf, privs.last_capability(), failure_pipe, death_signal, lifeline)
    os.close(failure_pipe)
    failure = _read_all(failures)
    if failure:
        os.waitpid(pid, 0)
        _report(step.status_fd, failure_record(failure, argv[0], cwd))
    return pid


def failure_record(data: bytes, name: str, cwd: str) -> dict[str, object]:
    """The target's failure record (step number and errno, two native ints: _lastmile.c) as the
    supervisor reads it: exec_failed for the exec (127 not found, 126 otherwise, as a shell), else
    setup_failed with the step's name and errno, as the init's own steps report theirs."""
    number, err = struct.unpack("=ii", data[:8])
    steps = sc.last_mile_steps()
    step = steps[number] if 0 < number < len(steps) else f"step {number}"
    if step == "execve":
        if err == errno.ENOENT:  # the program is there (found before): its #! interpreter is not, 126 as in a shell
            return _exec_failure(name, err, "cannot run it: its interpreter (#!) is not in the box", exit_code=126)
        return _exec_failure(name, err, os.strerror(err))
    error = OSError(err, os.strerror(err), cwd) if step == "working directory" else OSError(err, os.strerror(err))
    return {"kind": _channel.SETUP_FAILED, "step": step, "errno": err, "message": str(error)}


def _own_peak_memory() -> int:
    """This process's peak resident memory so far, in bytes: the floor of the program's ru_maxrss.
    The target shared our memory until its exec (CLONE_VM), and the kernel carries the old memory's
    high-water mark across execve into the program's ru_maxrss (exec_mmap: our peak, then), so a
    program that never grows past it reports our peak, not its own: the supervisor tells the two
    apart with this number (supervisor._program_usage).  Read after the exec, it is at least what
    was carried (a high-water mark only grows)."""
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


def _exec_failure(name: str, err: int, strerror: str, exit_code: Optional[int] = None) -> dict[str, object]:
    """exit_code: 127 for a program not found, 126 for one that cannot run (ExecError.from_record)."""
    message = strerror if strerror.startswith(name) else f"{name}: {strerror}"
    code = exit_code if exit_code is not None else 127 if err == errno.ENOENT else 126
    return {"kind": _channel.EXEC_FAILED, "errno": err, "message": message, "exit_code": code}


def _report(fd: int, record: dict[str, object]) -> NoReturn:
    """Send the target's failure upward and end this process (the init, or exec's helper)."""
    _channel.send_record(fd, **record)  # type: ignore[arg-type]
    os._exit(EXIT_SETUP_FAILED)


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

