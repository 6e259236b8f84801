"""cgroup v2: whole-box limits and exact accounting in a delegated subtree.  Side: parent (join: child).

A box gets one cgroup of its own, a child of a delegated subtree.  Its limits
(the files the limit table names, sandbox/limits.py: memory.max with
memory.swap.max=0, pids.max, cpu.max) are written before any process is in it; only the program joins it, just before execve, through a
cgroup.procs descriptor the supervisor opened, so the Python helpers are never
charged to it.  Usage is read from memory.peak, memory.events, pids.peak and
cpu.stat; cgroup.kill ends every process in it at once.

Never touches a cgroup it was not delegated: discovery only reads, and only
a subtree owned by the caller (or named explicitly) is ever written.
Man pages: cgroups(7), cgroup_namespaces(7); the kernel's cgroup-v2.rst
("Delegation", "No Internal Process Constraint").
"""
from __future__ import annotations

import errno
import functools
import itertools
import os
import time
from typing import TYPE_CHECKING, Optional, Sequence, Union

from ._record import dataclass, field

if TYPE_CHECKING:
    from . import cgroupv1

# The controllers a box's limits use (limits.py's rows name theirs).  A subtree is usable with any
# of them delegated: each limit whose controller is missing falls back to its no-cgroup mechanism
# (issue 16).  The box's CPU time never needs one: cpu.stat with usage_usec, user_usec and
# system_usec is a core file of every non-root cgroup v2 ("This file exists whether the controller
# is enabled or not", the kernel's cgroup-v2.rst, since Linux 4.15: commit d41bf8c9deae "cgroup,
# sched: Move basic cpu stats from cgroup.stat to cpu.stat"), as are cgroup.kill, cgroup.freeze
# and cgroup.events.
CONTROLLERS = ("memory", "pids", "cpu")
# What a profile's `require: [cgroup]` needs at least: whole-box memory and process limits.  cpu
# (cpu.max) is a quota, not a safety limit; without it `cpus` is reported not enforced.
REQUIRED_BY_PROFILES = ("memory", "pids")
ROOT_ENV = "SANDBOX_CGROUP_ROOT"  # names a delegated subtree, as --cgroup-root does
RUN_PREFIX = "sandbox-run-"
LEAF_PREFIX = "sandbox-supervisor-"


@dataclass(frozen=True)
class CgroupLimits:
    """What a box's cgroup is limited to: (interface file, content) pairs, written in order."""

    files: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CgroupUsage:
    memory_peak: Optional[int]
    oom_kills: int
    pids_peak: Optional[int]
    cpu_usec: int
    user_usec: int
    system_usec: int


@dataclass(frozen=True)
class Delegation:
    """A cgroup v2 directory this process may create box cgroups in, and why."""

    path: str
    controllers: tuple[str, ...]
    source: str  # "explicit" or "own cgroup"
    problem: Optional[str] = None  # set when the subtree cannot be used, with the fix
    # Of CONTROLLERS, those not delegated: the subtree is still usable, and the limits they would
    # hold fall back to their no-cgroup mechanisms (limits.Limit.enforced_by).
    missing: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        return self.problem is None

    @property
    def delegated(self) -> frozenset[str]:
        """The controllers of CONTROLLERS a box's cgroup here gets (make_plan's `cgroup`)."""
        return frozenset(c for c in CONTROLLERS if c in self.controllers)


# systemd's way to delegate every controller to users' managers (systemd.resource-control(5), Delegate=).
DELEGATE_DROP_IN = "/etc/systemd/system/user@.service.d/delegate.conf"
DELEGATE_LINES = ("[Service]", "Delegate=cpu cpuset io memory pids")
MISSING_CONTROLLERS_FIX = (f"systemd: the drop-in {DELEGATE_DROP_IN} with "
                           f"{' '.join(f'`{line}`' for line in DELEGATE_LINES)}, then `systemctl daemon-reload` and "
                           "a new login; by hand: enable them in the parent's cgroup.subtree_control")
NO_CGROUP_REMEDY = (
    "no delegated cgroup v2 subtree is available; fix: log in through a systemd session (a run then gets a "
    "delegated scope of your systemd user manager by itself), give a system service Delegate=yes, or pass "
    "--cgroup-root / SANDBOX_CGROUP_ROOT naming a cgroup v2 directory delegated to this user"
)


def delegated_controllers(path: str) -> tuple[str, ...]:
    """Which of CONTROLLERS the parent hands down to `path` (its cgroup.controllers), in order."""
    available = _read(os.path.join(path, "cgroup.controllers")).split()
    return tuple(c for c in CONTROLLERS if c in available)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def cgroup2_mount() -> Optional[str]:
    """Where the cgroup v2 hierarchy is mounted, from /proc/self/mountinfo."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[0] == "cgroup2":
                return left.split()[4]
    return None


def cgroup_of(pid: int) -> Optional[str]:
    """PID's cgroup v2 path relative to the hierarchy's root (the "0::" line of /proc/PID/cgroup), or None."""
    try:
        text = _read(f"/proc/{pid}/cgroup")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("0::"):
            return line[3:].strip()
    return None


def own_cgroup_path(mount: str) -> Optional[str]:
    """This process's cgroup v2 directory, unless it was removed or lies outside our cgroup namespace."""
    relative = cgroup_of(os.getpid())
    if relative is None or relative.endswith(" (deleted)") or relative.startswith("/.."):
        return None
    return os.path.normpath(mount + relative)


def inspect(path: str, source: str, residents: Sequence[int] = ()) -> Delegation:
    """Read-only: can this process create box cgroups under `path`?  Problems carry the fix.
    `residents` are processes of ours sitting in `path` (default: this one), which Subtree moves."""
    try:
        controllers = tuple(_read(os.path.join(path, "cgroup.controllers")).split())
    except OSError as e:
        return Delegation(path, (), source, f"{path} is not a cgroup v2 directory ({e.strerror})")
    missing = tuple(c for c in CONTROLLERS if c not in controllers)
    if len(missing) == len(CONTROLLERS):  # no limit of the box's would be the cgroup's: not worth it
        return Delegation(path, controllers, source,
                          f"{path} lacks the {' '.join(missing)} controller(s), every one a box uses; fix: "
                          f"{MISSING_CONTROLLERS_FIX}", missing)
    for name in (".", "cgroup.procs", "cgroup.subtree_control"):
        if not os.access(os.path.join(path, name), os.W_OK):
            return Delegation(path, controllers, source,
                              f"{path} is not delegated to this user ({name} is not writable); "
                              f"fix: run under `systemd-run --user --scope -p Delegate=yes`, or chown the subtree "
                              f"(directory, cgroup.procs, cgroup.subtree_control, cgroup.threads) to this user")
    enabled = _read(os.path.join(path, "cgroup.subtree_control")).split()
    others = set(_read(os.path.join(path, "cgroup.procs")).split()) - {str(pid) for pid in residents or [os.getpid()]}
    if not all(c in enabled for c in CONTROLLERS if c not in missing) and others:
        return Delegation(path, controllers, source,
                          f"{path} holds other processes ({' '.join(sorted(others)[:5])}), so the no-internal-process "
                          f"rule forbids enabling controllers below it; fix: run under `systemd-run --user --scope "
                          f"-p Delegate=yes`, or give --cgroup-root a subtree of its own", missing)
    return Delegation(path, controllers, source, missing=missing)


def named_root(explicit: Optional[str]) -> Optional[str]:
    """The subtree the caller named: the flag or keyword, else $SANDBOX_CGROUP_ROOT, else None."""
    return explicit or os.environ.get(ROOT_ENV) or None


def controllers_offered(mount: str) -> tuple[str, ...]:
    """Which of the controllers we use the cgroup v2 hierarchy has at all (none on a hybrid host,
    whose controllers sit on cgroup v1): without them no delegation can give a box its limits."""
    try:
        offered = _read(os.path.join(mount, "cgroup.controllers")).split()
    except OSError:
        return ()
    return tuple(c for c in CONTROLLERS if c in offered)


def find_delegation(explicit: Optional[str], residents: Sequence[int] = ()) -> Optional[Delegation]:
    """The subtree to use: an explicit one, else our own cgroup if it is delegated to us.

    Root never adopts its own cgroup automatically: every cgroup is writable by root,
    so writability says nothing about delegation there.
    """
    mount = cgroup2_mount()
    if explicit:
        if mount is None:
            return Delegation(explicit, (), "explicit", "no cgroup v2 hierarchy is mounted")
        return inspect(os.path.normpath(explicit), "explicit", residents)
    if mount is None or os.geteuid() == 0:
        return None
    own = own_cgroup_path(mount)
    try:
        if own is None or os.stat(own).st_uid != os.geteuid():
            return None
    except OSError:  # our cgroup is not visible under this mount (another cgroup namespace)
        return None
    return inspect(own, "own cgroup")


def process_start_time(pid: int) -> Optional[str]:
    """When a process started (/proc/PID/stat field 22): with its pid, a name no later process can take."""
    try:
        return _read(f"/proc/{pid}/stat").rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _owner_tag() -> str:
    pid = os.getpid()
    return f"{pid}-{process_start_time(pid)}"


def _owner_alive(name: str) -> bool:
    """Names carry the supervisor's pid and start time, so a reused pid is not mistaken for it."""
    tag = name.removeprefix(RUN_PREFIX).removeprefix(LEAF_PREFIX)
    pid, _, start = tag.partition("-")
    start = start.split("-")[0]
    return pid.isdigit() and process_start_time(int(pid)) == start


class SubtreeGone(FileNotFoundError):
    """The subtree itself was removed: systemd collects a transient scope once no process is left in
    it (a Sandbox's fork server killed from outside), while a run was about to make its box there."""


@dataclass(frozen=True)
class CgroupNow:
    cpu_usec: int
    memory: Optional[int]
    pids: Optional[int]
    frozen: bool


class Subtree:
    """A prepared delegated subtree: controllers enabled, stale boxes swept.  One per process."""

    def __init__(self, delegation: Delegation, residents: Sequence[int] = ()) -> None:
        """residents: our processes sitting in the subtree's root (default: this one), moved into
        a leaf of ours (the API's fork server sits in the scope made for it, not its caller)."""
        self.path = delegation.path
        self._counter = itertools.count()
        self._tag = _owner_tag()
        self._enable_controllers(residents)
        self.sweep_stale()

    @functools.cached_property
    def controllers(self) -> frozenset[str]:
        """The controllers of CONTROLLERS the box cgroups here get: those delegated, which
        _enable_controllers enabled for children (make_plan's `cgroup`)."""
        return frozenset(delegated_controllers(self.path))

    def _enable_controllers(self, residents: Sequence[int]) -> None:
        """Enable for children those of +memory +pids +cpu that are delegated here.  The no-internal-process
        rule forbids that while processes sit in this cgroup, so first move ours into a leaf of our own."""
        control = os.path.join(self.path, "cgroup.subtree_control")
        wanted = delegated_controllers(self.path)
        if all(c in _read(control).split() for c in wanted):
            return
        if _read(os.path.join(self.path, "cgroup.procs")).split():
            leaf = os.path.join(self.path, LEAF_PREFIX + self._tag)
            os.makedirs(leaf, exist_ok=True)
            for pid in residents or [0]:  # 0: the writer
                _write(os.path.join(leaf, "cgroup.procs"), str(pid))
        try:
            _write(control, " ".join("+" + c for c in wanted))
        except OSError as e:
            if e.errno == errno.EBUSY:
                raise OSError(e.errno, f"{self.path} still holds other processes; move them into a leaf cgroup "
                                       f"(the no-internal-process rule) or use a subtree of their own") from None
            raise

    def sweep_stale(self) -> None:
        """Remove box cgroups whose supervisor died (a kill -9 leaves them behind)."""
        for name in os.listdir(self.path):
            if name.startswith((RUN_PREFIX, LEAF_PREFIX)) and not _owner_alive(name):
                RunCgroup(os.path.join(self.path, name)).destroy()

    def new_run(self, limits: CgroupLimits) -> "RunCgroup":
        path = os.path.join(self.path, f"{RUN_PREFIX}{self._tag}-{next(self._counter)}")
        try:
            os.mkdir(path, 0o755)
        except FileNotFoundError:
            raise SubtreeGone(errno.ENOENT, f"{self.path} is gone", self.path) from None
        run = RunCgroup(path)
        try:
            run.apply(limits)
        except BaseException:
            run.destroy()
            raise
        return run


@dataclass
class RunCgroup:
    """One box's cgroup."""

    path: str
    _kill_supported: bool = field(default=True, repr=False)

    def apply(self, limits: CgroupLimits) -> None:
        """Write every limit before any process is inside."""
        for name, content in limits.files:
            _write(self._file(name), content)

    def _file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def open_procs(self) -> tuple[int, ...]:
        """The descriptors the program joins with (cgroup v2: one, on cgroup.procs): opened here,
        with the caller's credentials and cgroup namespace, which the kernel checks at write time."""
        return (os.open(self._file("cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC),)

    def cpu_usec(self) -> int:
        return self._stat("cpu.stat").get("usage_usec", 0)

    def usage(self) -> CgroupUsage:
        cpu = self._stat("cpu.stat")
        events = self._stat("memory.events")
        return CgroupUsage(
            memory_peak=self._number("memory.peak"),
            oom_kills=events.get("oom_kill", 0) + events.get("oom_group_kill", 0),
            pids_peak=self._number("pids.peak"),
            cpu_usec=cpu.get("usage_usec", 0),
            user_usec=cpu.get("user_usec", 0),
            system_usec=cpu.get("system_usec", 0),
        )

    def _stat(self, name: str) -> dict[str, int]:
        try:
            return {k: int(v) for k, v in (line.split() for line in _read(self._file(name)).splitlines())}
        except OSError:
            return {}

    def _number(self, name: str) -> Optional[int]:
        try:
            return int(_read(self._file(name)))
        except (OSError, ValueError):
            return None  # older kernels: memory.peak needs 5.19, pids.peak 6.1+

    def kill(self) -> None:
        """SIGKILL every process in the box at once (cgroup.kill, Linux 5.14)."""
        try:
            _write(self._file("cgroup.kill"), "1")
        except FileNotFoundError:
            for pid in _read(self._file("cgroup.procs")).split():
                try:
                    os.kill(int(pid), 9)
                except ProcessLookupError:
                    pass

    def current(self) -> CgroupNow:
        """What the box uses now (for `sandbox ps`), and whether it is frozen."""
        return CgroupNow(
            cpu_usec=self.cpu_usec(),
            memory=self._number("memory.current"),
            pids=self._number("pids.current"),
            frozen=self._stat("cgroup.events").get("frozen", 0) == 1,
        )

    def freeze(self, frozen: bool, timeout: float = 5.0) -> None:
        """Stop (or restart) every process of the box at once (cgroup.freeze, Linux 5.2) and
        wait until the kernel says it is done: a frozen box uses no CPU until thawed."""
        _write(self._file("cgroup.freeze"), "1" if frozen else "0")
        deadline = time.monotonic() + timeout
        while (self._stat("cgroup.events").get("frozen", 0) == 1) != frozen:
            if time.monotonic() > deadline:
                raise OSError(errno.ETIMEDOUT, f"{self.path}: not {'frozen' if frozen else 'thawed'} within {timeout:.0f}s")
            time.sleep(0.01)

    def populated(self) -> bool:
        return self._stat("cgroup.events").get("populated", 0) == 1

    def destroy(self, timeout: float = 5.0) -> None:
        """Kill what is left, wait until it is empty, remove it (children first)."""
        try:  # the common case, an empty box: one rmdir, no reads
            os.rmdir(self.path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno not in (errno.EBUSY, errno.ENOTEMPTY):  # processes or child cgroups inside
                raise
        for child in os.listdir(self.path):
            if os.path.isdir(self._file(child)):
                RunCgroup(self._file(child)).destroy(timeout)
        deadline = time.monotonic() + timeout
        while True:
            if self.populated():
                self.kill()
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError as e:
                if e.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)


AnySubtree = Union["Subtree", "cgroupv1.Subtree"]
AnyRunCgroup = Union["RunCgroup", "cgroupv1.RunCgroup"]


def run_cgroup_at(path: str) -> AnyRunCgroup:
    """A box's cgroup from the path the live registry keeps: a v2 directory, or a v1 box's memory
    directory (its cgroups in the other hierarchies found by the same path)."""
    from . import cgroupv1

    return cgroupv1.RunCgroup.at(path) if cgroupv1.is_v1_directory(path) else RunCgroup(path)


def join(procs_fd: int) -> None:
    """Child side: move the calling process into the box's cgroup ("0" means the writer)."""
    os.write(procs_fd, b"0")
    os.close(procs_fd)
