"""The PARENT pipeline: plan, start the box, watch it, judge it, clean up.  Side: parent.

run() is the numbered pipeline a reader follows, as _child._init is the child's.
prepare() settles the host side once (steps 1-4: the cgroup subtree, every host path
found once and held, the plan, its filter); run_prepared() runs one box of it
(steps 5-12); a batch of test cases prepares once and runs many boxes.  Each step is a
function or a room of its own: the box's streams (boxio), its launch (a launcher from
_forkserver: a clone of the Sandbox's fork server, or of the single-threaded CLI
itself), the watch while it runs (watch), its usage, its verdict (result).  Whatever
ends a run, the ExitStack ends what was started, in reverse: the hook told, the init
killed and reaped (its namespaces follow), our descriptors closed, the cgroup removed.
Man pages: pipe(7), wait4(2).
"""
from __future__ import annotations

import os
import signal
import threading
from contextlib import ExitStack, contextmanager
from typing import Callable, Iterator, Optional, Sequence

from ._record import dataclass, replace
from . import _cache, _channel, cgroup, seccomp
from ._channel import InitFds
from ._forkserver import InitProcess
from .boxio import CAPTURE, PASS, STDOUT, TERMINAL, BoxStreams, Output, Sink, Source, Stdio
from .errors import ExecError, HostError, ProfileError, SetupError, UsageError
from .hooks import RunHook, RunningBox
from .hostlookup import resolve_host_paths
from .hostpaths import HostPaths
from .interrupts import Interrupts
from .limits import NO_CGROUP
from .plan import FALLBACK_NAME, Plan, Request, make_plan
from .profile import Profile
from .result import Result, Usage, decide_verdict, signal_name
from .transfer import packing
from .watch import SETUP_TIMEOUT, Watch, Watched

__all__ = ["CAPTURE", "PASS", "STDOUT", "TERMINAL", "Sink", "Source", "Stdio", "Prepared", "prepare", "run",
           "run_prepared", "compile_seccomp", "cgroup_subtree", "box_controllers"]

PEAK_SLACK = 1 << 20  # a margin above the floor: within it, a peak is not told from the init's
Launcher = Callable[[InitFds], InitProcess]  # clones the box's init with these descriptors


_bpf_cache: dict[seccomp.SeccompSpec, bytes] = {}
_SPEC_NOT_SENT = seccomp.SeccompSpec("kill", (), ())  # in the plan the init gets: it has the BPF bytes


def compile_seccomp(spec: seccomp.SeccompSpec, source: str) -> bytes:
    """Compile once per policy (and per process; the disk cache spares a fresh process the
    compiler); a name libseccomp does not know is a profile error."""
    if spec not in _bpf_cache:
        try:
            _bpf_cache[spec] = _cache.seccomp_filter(spec, seccomp.compile_filter)
        except seccomp.UnknownSyscall as e:
            raise ProfileError(source, [f"seccomp: unknown syscall(s) on this architecture: {e}"]) from None
    return _bpf_cache[spec]


_subtrees: dict[Optional[str], tuple[Optional[cgroup.AnySubtree], str]] = {}
_subtrees_lock = threading.Lock()


def cgroup_subtree(explicit: Optional[str], profile: Profile,
                   residents: Sequence[int] = ()) -> Optional[cgroup.AnySubtree]:
    """The delegated cgroup subtree boxes go in (prepared and swept once per process), or None: a v2
    one, else a v1 one (cgroupv1.py: a hybrid or legacy host), else None.

    An explicit root that cannot be used is an error; a profile that requires cgroups
    refuses to run without one (fail closed) rather than get a weaker box.  `residents`:
    our processes sitting in it when it is first prepared (default: this one).
    """
    explicit = cgroup.named_root(explicit)
    with _subtrees_lock:
        if explicit not in _subtrees:
            subtree, problem = _prepared_subtree(explicit, residents)
            if explicit and subtree is None:
                raise HostError(f"cgroup root {explicit}: {problem}")
            _subtrees[explicit] = (subtree, problem or "")
        subtree, problem = _subtrees[explicit]
    if subtree is None and "cgroup" in profile.require:
        raise HostError(f"profile {profile.name} requires cgroup v2 limits, but {problem}")
    return subtree


def _prepared_subtree(explicit: Optional[str], residents: Sequence[int]) -> tuple[Optional[cgroup.AnySubtree], str]:
    """The subtree found (v2 first, then v1) and prepared, or None and why not."""
    from . import cgroupv1

    v1 = explicit is not None and cgroupv1.is_v1_directory(explicit)
    delegation = None if v1 else cgroup.find_delegation(explicit, residents)
    problem = delegation.problem if delegation else cgroup.NO_CGROUP_REMEDY
    if delegation and delegation.usable:
        try:
            return cgroup.Subtree(delegation, residents), ""
        except OSError as e:
            return None, f"preparing {delegation.path} failed: {e.strerror or e}"
    if explicit and not v1:
        return None, problem or ""
    found = cgroupv1.find_delegation(explicit)
    if found is None:
        return None, problem or ""
    if not found.usable:
        return None, found.problem or ""
    try:
        return cgroupv1.Subtree(found), ""
    except OSError as e:
        return None, f"preparing {found.path} failed: {e.strerror or e}"


def box_controllers(profile: Profile, subtree: Optional[cgroup.AnySubtree]) -> frozenset[str]:
    """The controllers a box's cgroup gets (none without a subtree).  A profile that requires cgroup
    limits takes a subtree with only some controllers (systemd's Delegate= often lacks cpu) if it has
    memory and pids, the whole-box limits that keep a box from taking the host down; cpus is then
    reported not enforced.  Without them it refuses to run, as without a subtree (fail closed)."""
    controllers = subtree.controllers if subtree is not None else NO_CGROUP
    lacking = [c for c in cgroup.REQUIRED_BY_PROFILES if c not in controllers]
    if subtree is not None and lacking and "cgroup" in profile.require:
        raise HostError(f"profile {profile.name} requires cgroup v2 limits, but {subtree.path} lacks the "
                        f"{' '.join(lacking)} controller(s) (it needs {' and '.join(cgroup.REQUIRED_BY_PROFILES)} at "
                        f"least); fix: {cgroup.MISSING_CONTROLLERS_FIX}")
    return controllers


@dataclass
class Prepared:
    """A run's host side, settled once: the cgroup subtree, every host path found and held, the plan
    and its filter.  A batch of runs (test cases) shares one, so a box of an early case cannot steer
    where a later case's paths lead: the later boxes get the very objects the first one got."""

    profile: Profile
    request: Request
    subtree: Optional[cgroup.AnySubtree]
    paths: HostPaths
    plan: Plan
    bpf: bytes

    def close(self) -> None:
        self.paths.close()

    def __enter__(self) -> "Prepared":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def caller_name() -> str:
    """The caller's user name as getpass.getuser finds it (LOGNAME, USER, LNAME, USERNAME, then the
    user database), for the box's generated /etc/passwd; the plan's fallback where there is none.
    Its rule, not its module: getpass imports termios for its prompts, which a run never shows."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if os.environ.get(name):
            return os.environ[name]
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return FALLBACK_NAME


def prepare(profile: Profile, request: Request) -> Prepared:
    """Steps 1-4 of a run, for one run or for many alike."""
    subtree = cgroup_subtree(request.cgroup_root, profile)                 # 1. host: a delegated cgroup v2 subtree?
    controllers = box_controllers(profile, subtree)                        #    with which controllers
    paths = HostPaths()                                                    #    holds what step 2 finds, to the end
    try:
        host = resolve_host_paths(profile, request, paths)                 # 2. host: every path it names, found once
        plan = make_plan(profile, request, host, os.getuid(), os.getgid(), # 3. the whole run as data (pure)
                         cgroup=controllers, caller_name=caller_name())
        bpf = compile_seccomp(plan.seccomp, profile.source)                # 4. its filter, once per policy
    except BaseException:
        paths.close()
        raise
    return Prepared(profile, request, subtree, paths, plan, bpf)


def run(profile: Profile, request: Request, stdio: Stdio, launch: Launcher, hook: Optional[RunHook] = None,
        interrupts: Optional[Interrupts] = None) -> Result:
    """One box, start to verdict.  launch: a ForkServer's spawn, or fork_here in the CLI; hook: told
    when the box starts and ends (a named box: live/registry.NamedBox); interrupts: signals to the
    caller, passed on to the program (the CLI's: interrupts.passed_on)."""
    with prepare(profile, request) as prepared:                            # 1-4
        return run_prepared(prepared, stdio, launch, hook, interrupts)     # 5-12


def run_prepared(prepared: Prepared, stdio: Stdio, launch: Launcher, hook: Optional[RunHook] = None,
                 interrupts: Optional[Interrupts] = None) -> Result:
    """Steps 5-12: one box of a prepared run."""
    plan = prepared.plan
    if hook:
        hook.before_start()                                                # 5. the hook may refuse: nothing exists yet
    with ExitStack() as ending:                                            #    ends what was started, in reverse
        if hook:
            ending.callback(hook.ended)                                    #    told last, whatever ended the run
        run_cgroup = ending.enter_context(_box_cgroup(prepared))           # 6. the box's cgroup, limited before anyone is in it
        streams = ending.enter_context(BoxStreams.open(stdio))             # 7. the program's stdin, stdout, stderr
        files = ending.enter_context(_files_memfd(prepared))               # 8. files for the work dir, in a memfd
        init, status = _launch(prepared, streams, run_cgroup, files, launch)  # 9. hand over the plan, start the init
        ending.callback(_end_init, init)
        ending.callback(os.close, status)
        output = ending.enter_context(Output(stdio, plan.limits.output))
        on_started = _hook_started(hook, prepared, init, run_cgroup)
        watched = Watch(init, status, streams, output, plan.limits, run_cgroup, on_started,  # 10. records, output,
                        interrupts).run()                                  #     deadlines, signals
        init.wait()
        usage = _usage(watched, init, run_cgroup, output)                  # 11. what the program used
        collected, cut = _collected(plan, watched, files)
    return _judge(plan, usage, output, collected, cut)                     # 12. the verdict


@contextmanager
def _box_cgroup(prepared: Prepared) -> Iterator[Optional[cgroup.AnyRunCgroup]]:
    """The box's own cgroup under the subtree, its limits written before anyone is in it; removed
    at the end.  A removal that fails (destroy() has killed what was left and waited) costs the
    run nothing: its result stands, or the error that ended it is the one reported, and the
    cgroup, named for its owner, is swept by the next run (cgroup.Subtree)."""
    subtree, limits = prepared.subtree, prepared.plan.cgroup
    if subtree is None or limits is None:
        yield None
        return
    run_cgroup = subtree.new_run(limits)
    try:
        yield run_cgroup
    finally:
        try:
            run_cgroup.destroy()
        except OSError:
            pass


@contextmanager
def _files_memfd(prepared: Prepared) -> Iterator[int]:
    """The caller's files for the work dir, in a memfd the init reads (and writes the collected
    files back into): nothing on the host disk that a killed supervisor could leave behind."""
    files, plan = prepared.request.files, prepared.plan
    if not files and not plan.collect:
        yield -1
        return
    fd = os.memfd_create("sandbox-files", os.MFD_CLOEXEC)
    try:
        try:
            packing.pack_files(fd, list(files))
        except (ValueError, OSError) as e:  # a host file changed under us (or a sysfs file lied of its size)
            raise UsageError(f"files for the box: {e}") from None
        yield fd
    finally:
        os.close(fd)


def _launch(prepared: Prepared, streams: BoxStreams, run_cgroup: Optional[cgroup.AnyRunCgroup], files: int,
            launch: Launcher) -> tuple[InitProcess, int]:
    """Start the box's init with its descriptors: the plan and filter (a memfd), the program's
    streams, the status pipe (whose read end is returned), the box's cgroup.procs, the files.
    Ours of what the init got are closed once it has its copies, or when anything fails."""
    handed: list[int] = []
    try:
        # The init loads the compiled filter; the spec it came from (most of a pickled plan) stays here.
        plan_fd = _channel.plan_memfd((replace(prepared.plan, seccomp=_SPEC_NOT_SENT), prepared.bpf))
        handed.append(plan_fd)
        status_read, status_write = os.pipe2(os.O_CLOEXEC)
        handed.append(status_write)
        try:
            procs = run_cgroup.open_procs() if run_cgroup else ()
            handed.extend(procs)
            init = _start(launch, InitFds(streams.stdin, streams.stdout, streams.stderr, plan_fd, status_write,
                                          procs, files))
        except BaseException:
            os.close(status_read)
            raise
    finally:
        for fd in handed:
            if fd >= 0:
                os.close(fd)
        streams.handed_over()
    return init, status_read


def _start(launch: Launcher, fds: InitFds) -> InitProcess:
    try:
        return launch(fds)
    except OSError as e:  # clone() refused: its namespaces, the user namespace first
        raise _setup_error({"step": "user namespace", "errno": e.errno, "message": str(e)}) from None


def _end_init(init: InitProcess) -> None:
    """Nothing of the box survives: kill its init (the namespaces follow) unless it has exited, and reap it."""
    if not init.poll():
        init.kill()
        init.wait()
    init.close()


def _hook_started(hook: Optional[RunHook], prepared: Prepared, init: InitProcess,
                  run_cgroup: Optional[cgroup.AnyRunCgroup]) -> Optional[Callable[[], None]]:
    if hook is None:
        return None
    box = RunningBox(prepared.profile.name, prepared.plan, prepared.bpf, init.pid,
                     cgroup.process_start_time(init.pid) or "",  # now: the init may be gone when the hook hears
                     run_cgroup.path if run_cgroup else None)
    return lambda: hook.started(box)


def _usage(watched: Watched, init: InitProcess, run_cgroup: Optional[cgroup.AnyRunCgroup], output: Output) -> Usage:
    """The program's usage, from the init's report and the box's cgroup; a failed setup or exec raises."""
    if failure := watched.record(_channel.SETUP_FAILED):
        raise _setup_error(failure)
    if failure := watched.record(_channel.EXEC_FAILED):
        raise ExecError.from_record(failure)
    if watched.killed_for == "setup":
        raise SetupError(f"the box was not ready within {SETUP_TIMEOUT:.0f}s")
    end = watched.record(_channel.EXITED)
    if end is None and not watched.killed_for:
        how = "" if init.returncode is None else f" (its init exited with {init.returncode})"
        raise SetupError(f"the box ended without reporting the program's status{how}")
    usage = _program_usage(end, watched, any(output.truncated.values()))
    if run_cgroup is not None:
        return _with_cgroup_usage(usage, run_cgroup.usage())
    # rusage counts the reaped processes only: a box ended for its CPU time may have had workers
    # burning that nobody reaped; the watch saw them, and the box used at least that much.
    return replace(usage, cpu_time=max(usage.cpu_time, watched.cpu_seen))


def _program_usage(end: Optional[dict], watched: Watched, output_exceeded: bool) -> Usage:
    """From the init's report; or, if the init did not answer a kill in time and we cut it, what we know."""
    if end is None:
        return Usage(signal=signal.SIGKILL, wall_time=watched.wall_time, killed_for=watched.killed_for,
                     output_exceeded=output_exceeded)
    status = end["wait_status"]
    floor = (watched.record(_channel.EXECUTING) or {}).get("max_rss")
    return Usage(
        exit_code=os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        cpu_time=end["user_time"] + end["system_time"],
        user_time=end["user_time"],
        system_time=end["system_time"],
        wall_time=end["wall_time"],
        memory_peak=_own_peak(end["max_rss"], floor),
        killed_for=watched.killed_for,
        output_exceeded=output_exceeded,
    )


def _own_peak(max_rss: int, floor: Optional[int]) -> Optional[int]:
    """The program's own peak memory from rusage, or None where rusage cannot tell it: ru_maxrss
    carries over the peak of the memory the program was exec'd from (the init's, which the target
    shared until its exec: `floor`, ~14 MiB, read by the init just after the exec, so at least what
    was carried), so a program that stayed below it reports the init's number.  Above the floor
    (and a margin), the number is the program's alone."""
    if floor is None or max_rss > floor + PEAK_SLACK:
        return max_rss
    return None


def _with_cgroup_usage(usage: Usage, measured: cgroup.CgroupUsage) -> Usage:
    """The cgroup's numbers cover every process of the program, and nothing of ours.

    CPU time is always the cgroup's (cpu.stat is a core file).  A peak is exact or unknown, never a
    sampled lower bound: memory.peak (Linux 5.19; a file of the memory controller) where it is, else
    the program's own peak as without a cgroup (ru_maxrss above the helper's floor, or None); an
    MLE still comes from memory.events' oom_kill where the memory controller is there.  pids_peak
    is pids.peak (Linux 6.1, the pids controller) or None: there is no own count to stand in."""
    return replace(
        usage,
        cpu_time=measured.cpu_usec / 1e6,
        user_time=measured.user_usec / 1e6,
        system_time=measured.system_usec / 1e6,
        memory_peak=measured.memory_peak if measured.memory_peak is not None else usage.memory_peak,
        pids_peak=measured.pids_peak,
        oom_killed=measured.oom_kills > 0,
    )


def _collected(plan: Plan, watched: Watched, files: int) -> tuple[dict[str, bytes], list[str]]:
    """The files the init brought out of the work dir, and the names it cut at the collect limit."""
    end = watched.record(_channel.EXITED) or {}
    if not plan.collect or "files_cut" not in end:
        return {}, []
    try:
        found = {name: content for name, _, content in packing.unpack_files(files) if name in plan.collect}
    except (ValueError, UnicodeDecodeError):
        raise SetupError("the box's collected files could not be read back") from None
    return found, list(end["files_cut"])


def _judge(plan: Plan, usage: Usage, output: Output, files: dict[str, bytes], files_cut: list[str]) -> Result:
    limits = plan.limits
    verdict, limit = decide_verdict(usage, limits)
    return Result(
        verdict=verdict,
        exit_code=usage.exit_code,
        signal=usage.signal,
        limit=limit,
        cpu_time=round(usage.cpu_time, 6),
        user_time=round(usage.user_time, 6),
        system_time=round(usage.system_time, 6),
        wall_time=round(usage.wall_time, 6),
        memory_peak=usage.memory_peak,
        pids_peak=usage.pids_peak,
        oom_killed=usage.oom_killed,
        enforced_by={name: mechanism.value for name, mechanism in plan.enforced_by},
        message=_message(verdict.value, limit, usage, plan, output.captured("stderr")),
        stdout=output.captured("stdout"),
        stderr=output.captured("stderr"),
        files=files,
        files_truncated=files_cut,
        stdout_truncated=output.truncated["stdout"],
        stderr_truncated=output.truncated["stderr"],
        limits={k: v for k, v in vars(limits).items() if v is not None},
    )


def _message(verdict: str, limit: Optional[str], usage: Usage, plan: Plan, stderr: Optional[bytes]) -> str:
    """Why the run ended, in a line: the limit and what enforced it; or the program's own end, with
    a note where a mechanism makes a breach look like the program's error (limits.Mechanism) and
    memory plausibly ran out (not on every failure: a ZeroDivisionError is the program's own)."""
    mechanisms = dict(plan.enforced_by)
    if limit:
        mechanism = mechanisms.get(limit)
        return f"{limit} limit exceeded (enforced by {'the supervisor' if mechanism is None else mechanism.value})"
    end = f"killed by {signal_name(usage.signal)}" if usage.signal is not None else f"exited with {usage.exit_code}"
    notes = [note for mechanism in mechanisms.values() if (note := mechanism.failure_note)]
    if verdict == "RE" and notes and _out_of_memory_plausibly(usage, plan, stderr):
        return f"{end} (note: {'; '.join(notes)})"
    return end


OUT_OF_MEMORY_WORDS = (b"MemoryError", b"bad_alloc", b"out of memory", b"Cannot allocate memory",
                       b"allocation failed", b"OutOfMemoryError")


def _out_of_memory_plausibly(usage: Usage, plan: Plan, stderr: Optional[bytes]) -> bool:
    """Did the program fail as a failed allocation does: a crash by SIGSEGV, SIGABRT or SIGBUS (C's
    unchecked malloc, C++'s std::bad_alloc), a captured stderr that says so (Python's MemoryError,
    Node's heap, Java's OutOfMemoryError), or a peak near the limit?"""
    if usage.signal in (signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS):
        return True
    if stderr and any(word.lower() in stderr.lower() for word in OUT_OF_MEMORY_WORDS):
        return True
    limit = plan.limits.memory
    return limit is not None and usage.memory_peak is not None and usage.memory_peak * 2 >= limit


def _setup_error(failure: dict) -> Exception:
    step, err, message = failure.get("step"), failure.get("errno"), failure.get("message", "")
    if step == "user namespace" and err in (1, 13, 28):  # EPERM, EACCES, ENOSPC
        from .hostcheck import userns_refusal_reason  # the doctor's knowledge, only when it is needed

        return HostError(f"cannot create a user namespace: {userns_refusal_reason()}", step=step, errno=err)
    return SetupError(f"setting up the box failed at step '{step}': {message}", step=step, errno=err)
