"""The PARENT pipeline: plan, start the box, watch it, judge it, clean up.  Side: parent.

run() is the numbered pipeline a reader follows: prepare() settles the host side
(steps 1-3: the cgroup subtree, every host path found once and held, the plan and
its filter), run_prepared() runs one box of it (steps 4-10); a batch of test cases
prepares once and runs many boxes.  The box's init is started
by a launcher (_forkserver: a clone of the Sandbox's fork server, or of the
single-threaded CLI itself).  The program's stdout and stderr always flow through
pipes to this process, which forwards them live and caps what it passes (OLE),
never waiting on a consumer that does not read (streams.py: the deadlines hold
whatever the reader does); the program's stdin is handed over directly.
Man pages: pipe(7), wait4(2).
"""
from __future__ import annotations

import os
import selectors
import signal
import sys
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, Optional, Union

from . import _cache, _channel, cgroup, seccomp, streams
from .live import registry
from .boxprocs import end_box
from .transfer import packing
from ._channel import InitFds
from ._forkserver import InitProcess
from .errors import ExecError, HostError, ProfileError, SetupError, UsageError
from .hostcheck import NO_CGROUP_REMEDY, userns_refusal_reason
from .hostpaths import HostPaths
from .plan import Plan, Request, make_plan
from .profile import Profile
from .result import LimitValues, Result, Usage, decide_verdict, signal_name
from .streams import pseudo_terminal, read_stream, write_all

SETUP_TIMEOUT = 120.0  # building a box takes milliseconds; this only catches a wedged child
KILL_GRACE = 2.0       # after killing the program, SIGKILL the init if the box has not ended
CPU_POLL_MIN = 0.01    # seconds between checks of the box's CPU time (cgroup cpu.stat)
CPU_POLL_MAX = 0.25
CGROUP_ROOT_ENV = "SANDBOX_CGROUP_ROOT"
Launcher = Callable[[InitFds], InitProcess]  # clones the box's init with these descriptors

PASS = "pass"        # the caller's own stream
CAPTURE = "capture"  # collected into the Result
STDOUT = "stdout"    # stderr only: into the same pipe as stdout, in the order written
TERMINAL = "terminal"  # the caller's terminal (fd 1 or 2), seen by the program through a pseudo-terminal of its own
Sink = Union[str, int]  # PASS, CAPTURE, STDOUT, TERMINAL, or a file descriptor to write to
Source = Union[None, int, bytes]  # None: the caller's stdin; an fd; or bytes to feed


@dataclass(frozen=True)
class Stdio:
    stdin: Source = None
    stdout: Sink = PASS
    stderr: Sink = PASS


_bpf_cache: dict[seccomp.SeccompSpec, bytes] = {}


def compile_seccomp(spec: seccomp.SeccompSpec, source: str) -> bytes:
    """Compile once per policy (and per process; the disk cache spares a fresh process the
    compiler); a name libseccomp does not know is a profile error."""
    if spec not in _bpf_cache:
        try:
            _bpf_cache[spec] = _cache.seccomp_filter(spec, seccomp.compile_filter)
        except seccomp.UnknownSyscall as e:
            raise ProfileError(source, [f"seccomp: unknown syscall(s) on this architecture: {e}"]) from None
    return _bpf_cache[spec]


_subtrees: dict[Optional[str], tuple[Optional[cgroup.Subtree], str]] = {}
_subtrees_lock = threading.Lock()


def cgroup_subtree(explicit: Optional[str], profile: Profile) -> Optional[cgroup.Subtree]:
    """The delegated cgroup v2 subtree boxes go in (prepared and swept once per process), or None.

    An explicit root that cannot be used is an error; a profile that requires cgroups
    refuses to run without one (fail closed) rather than get a weaker box.
    """
    explicit = explicit or os.environ.get(CGROUP_ROOT_ENV) or None
    with _subtrees_lock:
        if explicit not in _subtrees:
            delegation = cgroup.find_delegation(explicit)
            problem = delegation.problem if delegation else NO_CGROUP_REMEDY
            subtree = None
            if delegation and delegation.usable:
                try:
                    subtree = cgroup.Subtree(delegation)
                except OSError as e:
                    problem = f"preparing {delegation.path} failed: {e.strerror or e}"
            if explicit and subtree is None:
                raise HostError(f"cgroup root {explicit}: {problem}")
            _subtrees[explicit] = (subtree, problem or "")
        subtree, problem = _subtrees[explicit]
    if subtree is None and "cgroup" in profile.require:
        raise HostError(f"profile {profile.name} requires cgroup v2 limits, but {problem}")
    return subtree


@dataclass
class Prepared:
    """A run's host side, settled once: the cgroup subtree, every host path found and held, the plan
    and its filter.  A batch of runs (test cases) shares one, so a box of an early case cannot steer
    where a later case's paths lead: the later boxes get the very objects the first one got."""

    profile: Profile
    request: Request
    subtree: Optional[cgroup.Subtree]
    paths: HostPaths
    plan: Plan
    bpf: bytes

    def close(self) -> None:
        self.paths.close()

    def __enter__(self) -> "Prepared":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prepare(profile: Profile, request: Request) -> Prepared:
    """Steps 1-3 of a run, for one run or for many alike."""
    subtree = cgroup_subtree(request.cgroup_root, profile)                 # 1. host: a delegated cgroup v2 subtree?
    paths = HostPaths()                                                    #    every host path found once, held to the end
    try:
        plan = make_plan(profile, request, os.getuid(), os.getgid(),       # 2. the whole run as data
                         cgroup=subtree is not None, paths=paths)
        bpf = compile_seccomp(plan.seccomp, profile.source)                # 3. once per policy
    except BaseException:
        paths.close()
        raise
    return Prepared(profile, request, subtree, paths, plan, bpf)


def run(profile: Profile, request: Request, stdio: Stdio, launch: Launcher) -> Result:
    """One box, start to verdict.  launch: a ForkServer's spawn, or fork_here in the CLI."""
    with prepare(profile, request) as prepared:                            # 1-3
        return run_prepared(prepared, stdio, launch)                       # 4-10


def run_prepared(prepared: Prepared, stdio: Stdio, launch: Launcher) -> Result:
    """Steps 4-10: one box of a prepared run."""
    plan, bpf, request = prepared.plan, prepared.bpf, prepared.request
    if request.name:
        _check_name_free(request.name)
    subtree = prepared.subtree
    run_cgroup = subtree.new_run(plan.cgroup) if subtree and plan.cgroup else None  # 4. limits before anyone is in it
    try:
        box = _Box(plan, bpf, stdio, launch, run_cgroup, request.files)    # 5. hand over the plan, start the init
    except BaseException:
        if run_cgroup:
            run_cgroup.destroy()
        raise
    named = _live_box(request.name, prepared.profile, plan, bpf, box) if request.name else None
    box.on_started = (lambda: registry.register(named)) if named else None  # 5b. listed once the program runs
    try:
        usage = box.watch()                                                # 6-8. status, output, deadlines, usage
    finally:
        if named:
            registry.unregister(named)
        box.close()                                                        # 10. kill, reap, remove the cgroup
    return _judge(plan, usage, box)                                        # 9. decide


def _check_name_free(name: str) -> None:
    """Refuse a name a running box has, before starting anything."""
    registry.check_name(name)
    if any(box.name == name for box in registry.live()):
        raise UsageError(f"--name {name}: a sandbox of that name is running; pick another name or "
                         f"`sandbox kill {name}`")


def _live_box(name: str, profile: Profile, plan: Plan, bpf: bytes, box: "_Box") -> registry.LiveBox:
    return registry.LiveBox(
        name=name, id=registry.new_id(), pid=box.init.pid, start=cgroup.process_start_time(box.init.pid) or "",
        profile=profile.name, command=plan.argv, started=time.time(),
        cgroup=box.cgroup.path if box.cgroup else None,
        confinement=registry.Confinement(plan.cwd, plan.env, plan.rlimits, bpf, plan.limits.output),
    )


def _judge(plan: Plan, usage: Usage, box: "_Box") -> Result:
    limits = plan.limits
    verdict, limit = decide_verdict(usage, LimitValues(limits.cpu_time, limits.wall_time, limits.memory))
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
        enforced_by=dict(plan.enforced_by),
        message=_message(verdict.value, limit, usage, plan),
        stdout=box.captured("stdout"),
        stderr=box.captured("stderr"),
        files=box.files,
        files_truncated=list(box.exit_report.get("files_cut", [])),
        stdout_truncated=box.truncated["stdout"],
        stderr_truncated=box.truncated["stderr"],
        limits={k: v for k, v in vars(limits).items() if v is not None},
    )


def _message(verdict: str, limit: Optional[str], usage: Usage, plan: Plan) -> str:
    if limit:
        return f"{limit} limit exceeded (enforced by {dict(plan.enforced_by).get(limit, 'the supervisor')})"
    if usage.signal is not None:
        return f"killed by {signal_name(usage.signal)}"
    if verdict == "RE" and dict(plan.enforced_by).get("memory", "").startswith("RLIMIT_AS"):
        return f"exited with {usage.exit_code} (note: memory is capped by RLIMIT_AS, where a failed allocation is an error of the program)"
    return f"exited with {usage.exit_code}"


class _Box:
    """One running box as the supervisor sees it: its init and three pipes."""

    program_started = False  # the init reported the program running (set by the pump)
    outlets: dict[str, streams.Outlet]  # stream -> where its bytes go, unless captured (set by watch)

    def __init__(self, plan: Plan, bpf: bytes, stdio: Stdio, launch: Launcher,
                 run_cgroup: Optional[cgroup.RunCgroup] = None, files: tuple = ()) -> None:
        self.plan = plan
        self.cgroup = run_cgroup
        self.sinks = {"stdout": stdio.stdout, "stderr": stdio.stderr}
        merged = stdio.stderr == STDOUT
        self.buffers = {"stdout": bytearray(), "stderr": bytearray()}
        self.truncated = {"stdout": False, "stderr": False}
        self.output_left = plan.limits.output
        self.killed_for: Optional[str] = None
        self.on_started: Optional[Callable[[], None]] = None  # called once the program runs
        self.records: list[dict] = []
        plan_fd = _channel.plan_memfd((plan, bpf))
        self.status_read, status_write = os.pipe2(os.O_CLOEXEC)
        terminal = [stream for stream, sink in self.sinks.items() if sink == TERMINAL]
        tty_read, tty_write = pseudo_terminal(1 if "stdout" in terminal else 2) if terminal else (-1, -1)
        out_read, out_write = (-1, tty_write) if "stdout" in terminal else os.pipe2(os.O_CLOEXEC)
        err_read, err_write = (-1, out_write) if merged else (-1, tty_write) if "stderr" in terminal \
            else os.pipe2(os.O_CLOEXEC)
        self.streams = {fd: stream for fd, stream in ((out_read, "stdout"), (err_read, "stderr"),
                                                     (tty_read, terminal[0] if terminal else "")) if fd >= 0}
        self.open_fds = {fd for fd in (out_read, err_read, tty_read, self.status_read) if fd >= 0}  # ours to close
        self.files_fd = _files_memfd(files) if files or plan.collect else -1  # closed by close()
        self.exit_report: dict = {}
        self.files: dict[str, bytes] = {}
        stdin = _stdin_fd(stdio.stdin)
        procs = run_cgroup.open_procs() if run_cgroup else -1
        try:
            self.init = launch(InitFds(stdin, out_write, err_write, plan_fd, status_write, procs, self.files_fd))
        except BaseException as e:
            for fd in (*self.open_fds, self.files_fd):
                if fd >= 0:
                    os.close(fd)
            if isinstance(e, OSError):  # clone() refused: its namespaces, the user namespace first
                raise _setup_error({"step": "user namespace", "errno": e.errno, "message": str(e)}) from None
            raise
        finally:
            for fd in {plan_fd, status_write, procs, out_write, err_write, tty_write}:
                if fd >= 0:
                    os.close(fd)
            if stdin not in (0, stdio.stdin):
                os.close(stdin)

    def watch(self) -> Usage:
        """Pump output and records until the box has ended, enforcing the deadlines whatever the
        consumers of its output do; then deliver the rest of its output."""
        self.outlets = streams.outlets_for({stream: fd for stream in self.sinks
                                            if (fd := self._sink_fd(stream)) is not None})
        try:
            # poll(2), not epoll: epoll watches are a per-user count (fs.epoll.max_user_watches) that a
            # box, running as the same user, can drain; poll counts nothing.
            with selectors.PollSelector() as selector:
                return self._pump(selector)
        finally:
            for outlet in set(self.outlets.values()):
                outlet.close()

    def _sink_fd(self, stream: str) -> Optional[int]:
        sink = self.sinks[stream]
        if sink in (CAPTURE, STDOUT):
            return None
        if sink in (PASS, TERMINAL):
            return 1 if stream == "stdout" else 2
        return int(sink)

    def _pump(self, selector: selectors.BaseSelector) -> Usage:
        started_at = time.monotonic()
        deadline: Optional[float] = started_at + SETUP_TIMEOUT
        deadline_reason = "setup"
        reader = _channel.RecordReader()
        relay = streams.Relay(selector)
        relay.read(self.status_read)  # the program's output only once the program is known to run: a named
        cpu_check: Optional[float] = None  # box is listed before anything it printed reaches the caller
        while self.status_read in self.open_fds:  # the init alone holds the status pipe: open while the box lives
            wake = min((t for t in (deadline, cpu_check) if t is not None), default=None)
            events = selector.select(None if wake is None else max(0.0, wake - time.monotonic()))
            now = time.monotonic()
            if cpu_check is not None and now >= cpu_check:
                cpu_check = self._check_box_cpu()
            if deadline is not None and now >= deadline:  # whatever else is happening: a flood, a stalled reader
                deadline, deadline_reason = self._on_deadline(deadline_reason)
            for key, _ in events:
                if isinstance(key.data, streams.Outlet):
                    relay.writable(key.data)
                    continue
                data = read_stream(key.fd)
                if not data:
                    relay.forget(key.fd)
                    os.close(key.fd)
                    self.open_fds.remove(key.fd)
                elif key.fd == self.status_read:
                    for record in reader.feed(data):
                        self.records.append(record)
                        if record["kind"] == _channel.STARTED:
                            started_at = time.monotonic()
                            self.program_started = True
                            if self.on_started:
                                self.on_started()
                            for fd in self.open_fds - {self.status_read}:
                                relay.read(fd)
                            wall = self.plan.limits.wall_time
                            deadline, deadline_reason = (None, "") if wall is None else (started_at + wall, "wall_time")
                            if self.cgroup and self.plan.limits.cpu_time is not None:
                                cpu_check = started_at + CPU_POLL_MIN
                else:
                    outlet = self._forward(self.streams[key.fd], data)
                    if outlet is not None:
                        relay.sent(key.fd, outlet)
                    if self.killed_for == "output" and deadline_reason not in ("kill", "gone"):
                        deadline, deadline_reason = time.monotonic() + KILL_GRACE, "kill"
        box_wall = time.monotonic() - started_at
        self._deliver_rest(relay)
        self.init.wait()
        return self._usage(box_wall)

    def _deliver_rest(self, relay: streams.Relay) -> None:
        """The box has ended: what its streams still hold, and what waits for a slow reader, is
        delivered now, waiting for the readers as long as they take, like any filter; no deadline
        is left to keep.  The kernel has ended the box's processes, so the streams reach EOF."""
        for fd in sorted(self.open_fds):
            relay.forget(fd)
            while data := read_stream(fd):
                outlet = self._forward(self.streams[fd], data)
                if outlet is not None:
                    outlet.finish()
            os.close(fd)
        self.open_fds.clear()
        for outlet in set(self.outlets.values()):
            outlet.finish()

    def _check_box_cpu(self) -> Optional[float]:
        """CPU time of the whole box (every process and thread) against the limit; the next check time."""
        assert self.cgroup is not None and self.plan.limits.cpu_time is not None
        if self.killed_for:
            return None
        left = self.plan.limits.cpu_time - self.cgroup.cpu_usec() / 1e6
        if left < 0:
            self.killed_for = "cpu_time"
            self._request_kill()
            return None
        # The box burns at most one second per CPU per second: no breach is possible sooner.
        return time.monotonic() + min(CPU_POLL_MAX, max(CPU_POLL_MIN, left / (os.cpu_count() or 1)))

    def _on_deadline(self, reason: str) -> tuple[Optional[float], str]:
        if reason == "kill":  # the init did not end the box in time: SIGKILL it, the namespace follows
            self.init.kill()
            return None, "gone"
        self.killed_for = self.killed_for or ("wall_time" if reason == "wall_time" else "setup")
        self._request_kill()
        return time.monotonic() + KILL_GRACE, "kill"

    def _request_kill(self) -> None:
        """End every process of the program: cgroup.kill where there is a cgroup, else SIGKILL to
        the program (never a request to the init, which honours no signal: init.py).  Either way
        the init then reports usage and exits.  Before the program runs: SIGKILL to the init."""
        end_box(self.init.pid, self.init.pidfd, self.cgroup, self.program_started)

    def _forward(self, stream: str, data: bytes) -> Optional[streams.Outlet]:
        """Count the bytes against the output limit, cut them there, and pass them on: into the
        Result, or into the stream's outlet (returned, for the pump to watch)."""
        if self.output_left is not None:
            if len(data) > self.output_left:
                data = data[: self.output_left]
                self.truncated[stream] = True
                if self.killed_for is None:
                    self.killed_for = "output"
                    self._request_kill()
            self.output_left -= len(data)
        if self.sinks[stream] == CAPTURE:
            self.buffers[stream] += data
            return None
        outlet = self.outlets[stream]
        outlet.send(data)
        return outlet

    def _collected_files(self) -> dict[str, bytes]:
        """The files the init brought out of the work dir."""
        if not self.plan.collect or "files_cut" not in self.exit_report:
            return {}
        try:
            return {name: content for name, _, content in packing.unpack_files(self.files_fd)
                    if name in self.plan.collect}
        except (ValueError, UnicodeDecodeError):
            raise SetupError("the box's collected files could not be read back") from None

    def captured(self, stream: str) -> Optional[bytes]:
        return bytes(self.buffers[stream]) if self.sinks[stream] == CAPTURE else None  # STDOUT: None

    def _usage(self, supervisor_wall: float) -> Usage:
        by_kind = {r["kind"]: r for r in self.records}
        if _channel.SETUP_FAILED in by_kind:
            failure = by_kind[_channel.SETUP_FAILED]
            raise _setup_error(failure)
        if _channel.EXEC_FAILED in by_kind:
            failure = by_kind[_channel.EXEC_FAILED]
            code = 127 if failure.get("errno") == 2 else 126
            raise ExecError(failure["message"], code, errno=failure.get("errno"))
        if self.killed_for == "setup":
            raise SetupError(f"the box was not ready within {SETUP_TIMEOUT:.0f}s")
        end = by_kind.get(_channel.EXITED)
        self.exit_report = end or {}
        self.files = self._collected_files()
        if end is None and not self.killed_for:
            how = "" if self.init.returncode is None else f" (its init exited with {self.init.returncode})"
            raise SetupError(f"the box ended without reporting the program's status{how}")
        usage = self._program_usage(end, supervisor_wall)
        return usage if self.cgroup is None else _with_cgroup_usage(usage, self.cgroup.usage())

    def _program_usage(self, end: Optional[dict], supervisor_wall: float) -> Usage:
        """From the init's report; or, if the init did not answer a kill in time and we cut it, what we know."""
        if end is None:
            return Usage(signal=signal.SIGKILL, wall_time=supervisor_wall, killed_for=self.killed_for,
                         output_exceeded=any(self.truncated.values()))
        status = end["wait_status"]
        return Usage(
            exit_code=os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            cpu_time=end["user_time"] + end["system_time"],
            user_time=end["user_time"],
            system_time=end["system_time"],
            wall_time=end["wall_time"],
            memory_peak=end["max_rss"],
            killed_for=self.killed_for,
            output_exceeded=any(self.truncated.values()),
        )

    def close(self) -> None:
        """Whatever happened, nothing of this box survives: kill the init (its namespace
        follows), wait for it, and remove the box's cgroup."""
        if not self.init.poll():
            self.init.kill()
            self.init.wait()
        self.init.close()
        for fd in self.open_fds:
            os.close(fd)
        self.open_fds.clear()
        if self.files_fd >= 0:
            os.close(self.files_fd)
            self.files_fd = -1
        if self.cgroup:
            try:
                self.cgroup.destroy()
            except OSError as e:
                if sys.exc_info()[0] is None:  # do not hide the error that brought us here
                    raise SetupError(f"removing the box's cgroup {self.cgroup.path} failed: {e.strerror or e}; "
                                     f"the next run sweeps it") from None


def _with_cgroup_usage(usage: Usage, measured: cgroup.CgroupUsage) -> Usage:
    """The cgroup's numbers cover every process of the program, and nothing of ours."""
    return replace(
        usage,
        cpu_time=measured.cpu_usec / 1e6,
        user_time=measured.user_usec / 1e6,
        system_time=measured.system_usec / 1e6,
        memory_peak=measured.memory_peak if measured.memory_peak is not None else usage.memory_peak,
        pids_peak=measured.pids_peak,
        oom_killed=measured.oom_kills > 0,
    )


def _setup_error(failure: dict) -> Exception:
    step, err, message = failure.get("step"), failure.get("errno"), failure.get("message", "")
    if step == "user namespace" and err in (1, 13, 28):  # EPERM, EACCES, ENOSPC
        return HostError(f"cannot create a user namespace: {userns_refusal_reason()}", step=step, errno=err)
    return SetupError(f"setting up the box failed at step '{step}': {message}", step=step, errno=err)


def _files_memfd(files: tuple) -> int:
    """The caller's files for the work dir, in a memfd the init reads (and writes the collected
    files back into): nothing on the host disk that a killed supervisor could leave behind."""
    fd = os.memfd_create("sandbox-files", os.MFD_CLOEXEC)
    try:
        packing.pack_files(fd, list(files))
    except BaseException as e:
        os.close(fd)
        if isinstance(e, (ValueError, OSError)):  # a host file changed under us (or a sysfs file lied of its size)
            raise UsageError(f"files for the box: {e}") from None
        raise
    return fd


def _stdin_fd(source: Source) -> int:
    """The fd the program reads: the caller's stdin, a given fd, or a memfd holding the bytes."""
    if isinstance(source, int):
        return source
    if source is None:
        try:
            os.fstat(0)
            return 0
        except OSError:  # the caller has no stdin: the program reads an empty one
            return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    fd = os.memfd_create("sandbox-stdin", os.MFD_CLOEXEC)
    write_all(fd, source)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
