"""cgroup v1: whole-box limits and accounting on hybrid and legacy hosts, through cgroupspy.  Side: parent.

Where the controllers still live on v1 hierarchies (a hybrid systemd host: Ubuntu 20.04, RHEL 8,
Debian booted with systemd.unified_cgroup_hierarchy=0, every Judge0 machine), a box gets a cgroup
of its own in each hierarchy we use, a child of a subtree delegated to the caller there (the
directory, its tasks and cgroup.procs chowned to the user, as an administrator or
`sandbox doctor`'s commands do).  It mirrors cgroup.py's Subtree and RunCgroup, so the supervisor,
the watch and the live commands take either:

  memory   memory.limit_in_bytes, and memory.memsw.limit_in_bytes the same (memory plus swap: no
           swap beyond the limit) where swap is accounted; OOM kills from memory.oom_control's
           oom_kill; the peak from memory.memsw.max_usage_in_bytes (or memory.max_usage_in_bytes)
  cpuacct  the box's CPU time: cpuacct.usage (ns), split by cpuacct.usage_user / usage_sys
  pids     pids.max; pids.peak where the kernel has it
  freezer  freezer.state: freeze and thaw, and a kill that cannot race a fork (frozen, then SIGKILL
           to each task; v1 has no cgroup.kill); a thaw guard per run, since a frozen task ignores
           SIGKILL until thawed (RunCgroup.guard_thaw)

The limit files a plan names are cgroup v2's (plan.py, limits.py); `translated` turns them into
these.  Only the program joins, from the last mile, one cgroup.procs per hierarchy (the descriptors
opened here): the helpers are never charged, as on v2.

cgroupspy's part: its Node objects name every cgroup (a run's is created and deleted through its
parent's node), and its controller classes read and write memory's and cpuacct's files.  Its
node types know no pids or freezer controller: their files go through its base Controller's
get_property / set_property on the same nodes.  What is not cgroupspy's: finding the hierarchies
(/proc/self/mountinfo; cgroupspy's Tree walks all of /sys/fs/cgroup and creates sub_groups it is
given), and the descriptors the program joins with.
"""
from __future__ import annotations

import errno
import functools
import itertools
import os
import signal
import time
from typing import Any, Optional, Sequence

from ._record import dataclass
from .errors import HostError
from .cgroup import (LEAF_PREFIX, RUN_PREFIX, CgroupLimits, CgroupNow, CgroupUsage, SubtreeGone, _owner_alive,
                     _owner_tag)

# The hierarchies a box uses, by controller.  memory and cpuacct are needed (the box's memory limit
# and its CPU time); pids and freezer are used where delegated (else RLIMIT_NPROC, and a kill by
# repeated SIGKILL).
CONTROLLERS = ("memory", "cpuacct", "pids", "freezer")
REQUIRED = ("memory", "cpuacct")
# What the box's cgroup holds, in cgroup v2's names (plan.py speaks those): v1's memory and pids.
HELD = frozenset({"memory", "pids"})
UNLIMITED = "max"
FREEZE_TIMEOUT = 5.0


def hierarchies() -> dict[str, tuple[str, str]]:
    """Each v1 hierarchy of CONTROLLERS mounted here: controller -> (mount point, the hierarchy's path
    at that mount), from /proc/self/mountinfo (the first mount of each)."""
    found: dict[str, tuple[str, str]] = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, info = left.split(), right.split()
            if len(info) < 3 or info[0] != "cgroup":
                continue
            for controller in set(info[2].split(",")) & set(CONTROLLERS):
                found.setdefault(controller, (fields[4], fields[3]))
    return found


def own_paths() -> dict[str, str]:
    """This process's cgroup in each v1 hierarchy (controller -> path within it), /proc/self/cgroup."""
    paths: dict[str, str] = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(","):
                if controller in CONTROLLERS:
                    paths[controller] = path
    return paths


def directory(mount: tuple[str, str], path: str) -> Optional[str]:
    """The directory of `path` (a path within the hierarchy) under its mount, or None outside it."""
    point, root = mount
    relative = os.path.relpath(path, root)
    outside = relative == ".." or relative.startswith("../")
    return None if outside else os.path.normpath(os.path.join(point, relative))


def within(path: str, mounts: dict[str, tuple[str, str]]) -> Optional[str]:
    """A directory's path within its hierarchy, if it lies under one of `mounts`, else None."""
    real = os.path.realpath(path)
    for point, root in mounts.values():
        if real == point or real.startswith(point.rstrip("/") + "/"):
            return os.path.normpath(os.path.join(root, os.path.relpath(real, point)))
    return None


def in_each(mounts: dict[str, tuple[str, str]], path: str) -> dict[str, str]:
    """The directory of `path` (within a hierarchy) in each hierarchy of `mounts` that has it."""
    return {c: d for c, mount in mounts.items() if (d := directory(mount, path)) and os.path.isdir(d)}


def is_v1_directory(path: str) -> bool:
    """Does `path` lie in a cgroup v1 hierarchy we use (an explicit root naming one)?"""
    return within(path, hierarchies()) is not None


@dataclass(frozen=True)
class Delegation:
    """The v1 directories (controller -> directory) this process may create box cgroups in, and why."""

    paths: tuple[tuple[str, str], ...]
    source: str  # "explicit" or "own cgroup"
    problem: Optional[str] = None
    missing: tuple[str, ...] = ()
    swap_accounted: bool = False

    @property
    def usable(self) -> bool:
        return self.problem is None

    @property
    def path(self) -> str:
        """The one named in messages: the memory hierarchy's directory."""
        return dict(self.paths).get("memory") or (self.paths[0][1] if self.paths else "")


def inspect(paths: dict[str, str], source: str) -> Delegation:
    """Read-only: can this process make box cgroups in these directories?  Problems carry the fix."""
    missing = tuple(c for c in CONTROLLERS if c not in paths)
    lacking = [c for c in REQUIRED if c in missing]
    shown = tuple(sorted(paths.items()))
    if lacking:
        return Delegation(shown, source, f"no delegated cgroup v1 {' '.join(lacking)} hierarchy (a box needs memory "
                                         f"and cpuacct); fix: {delegate_commands()}", missing)
    for controller, path in paths.items():
        for name in (".", "tasks", "cgroup.procs"):
            if not os.access(os.path.join(path, name), os.W_OK):
                return Delegation(shown, source, f"{path} is not delegated to this user ({name} is not writable); "
                                                 f"fix: {delegate_commands()}", missing)
    swap = os.path.exists(os.path.join(paths["memory"], "memory.memsw.limit_in_bytes"))
    return Delegation(shown, source, missing=missing, swap_accounted=swap)


def find_delegation(explicit: Optional[str]) -> Optional[Delegation]:
    """The v1 subtree to use: an explicit directory of one hierarchy (the same path is used in each),
    else our own cgroup in each hierarchy where it is owned by us.  None where there is no v1
    hierarchy of ours, and for root without an explicit one (root may write every cgroup)."""
    mounts = hierarchies()
    if not mounts or ("memory" not in mounts and not explicit):
        return None
    if explicit:
        named = within(explicit, mounts)
        return None if named is None else inspect(in_each(mounts, named), "explicit")
    if os.geteuid() == 0:
        return None
    own = own_paths()
    paths = {}
    for controller, mount in mounts.items():
        found = directory(mount, own[controller]) if controller in own else None
        try:
            if found is not None and os.stat(found).st_uid == os.geteuid():
                paths[controller] = found
        except OSError:
            continue
    if "memory" not in paths:
        return None
    return inspect(paths, "own cgroup")


def delegate_commands(user: str = "USER") -> str:
    """What an administrator runs to delegate a subtree of each v1 hierarchy to `user` (the directory and
    its tasks and cgroup.procs; its limit files stay root's, so the user cannot raise its own limits)."""
    mounts = hierarchies()
    points = [point for _, (point, _) in sorted(mounts.items())] or [f"/sys/fs/cgroup/{c}" for c in CONTROLLERS]
    memory = mounts.get("memory", ("/sys/fs/cgroup/memory", "/"))[0]
    return (f"as root: `for d in {' '.join(points)}; do mkdir -p $d/sandbox/{user} && chown {user} "
            f"$d/sandbox/{user} $d/sandbox/{user}/tasks $d/sandbox/{user}/cgroup.procs; done`, then pass "
            f"--cgroup-root {memory}/sandbox/{user} (or SANDBOX_CGROUP_ROOT)")


def _nodes(directory_path: str) -> Any:
    """A cgroupspy node for a directory: its parent directory as the tree's root (Node does no I/O)."""
    from cgroupspy.nodes import Node

    parent, name = os.path.split(directory_path.rstrip("/"))
    return Node(name, parent=Node(parent))


def _controller(controller: str, node: Any) -> Any:
    """cgroupspy's controller for a node, chosen by what we use it for, not by the directory's name
    (a hierarchy mounted as cpu,cpuacct is still cpuacct's)."""
    from cgroupspy.controllers import Controller, CpuAcctController, MemoryController

    return {"memory": MemoryController, "cpuacct": CpuAcctController}.get(controller, Controller)(node)


class Subtree:
    """A prepared delegated v1 subtree (one directory per hierarchy), stale boxes swept.  One per process."""

    def __init__(self, delegation: Delegation) -> None:
        self.paths = dict(delegation.paths)
        self.path = delegation.path
        self.swap_accounted = delegation.swap_accounted
        self._counter = itertools.count()
        self._tag = _owner_tag()
        self.sweep_stale()

    @functools.cached_property
    def controllers(self) -> frozenset[str]:
        """The cgroup v2 controller names the box's limits use that this subtree holds (make_plan's
        `cgroup`), and CGROUP_V1 saying whose files they are."""
        from .limits import CGROUP_V1

        return (frozenset(self.paths) & HELD) | {CGROUP_V1}

    def sweep_stale(self) -> None:
        """Remove box cgroups whose supervisor died (a kill -9 leaves them behind), in each hierarchy."""
        names = {name for path in self.paths.values() for name in os.listdir(path)
                 if name.startswith((RUN_PREFIX, LEAF_PREFIX)) and not _owner_alive(name)}
        for name in names:
            RunCgroup({c: os.path.join(path, name) for c, path in self.paths.items()}).destroy()

    def new_run(self, limits: CgroupLimits) -> "RunCgroup":
        name = f"{RUN_PREFIX}{self._tag}-{next(self._counter)}"
        made: dict[str, str] = {}
        try:
            for controller, path in self.paths.items():
                try:
                    _nodes(path).create_cgroup(name)
                except FileNotFoundError:
                    raise SubtreeGone(errno.ENOENT, f"{path} is gone", path) from None
                made[controller] = os.path.join(path, name)
            run = RunCgroup(made)
            run.apply(translated(limits, self.swap_accounted))
            run.guard_thaw()
        except BaseException:
            RunCgroup(made).destroy()
            raise
        return run


def translated(limits: CgroupLimits, swap_accounted: bool) -> tuple[tuple[str, str, str], ...]:
    """The plan's cgroup v2 writes as v1 ones: (controller, file, content), in an order the kernel
    takes (memsw is never below the memory limit: the memory limit first, then memsw)."""
    writes: list[tuple[str, str, str]] = []
    for name, content in limits.files:
        if name == "memory.max":
            value = "-1" if content == UNLIMITED else content
            writes.append(("memory", "memory.limit_in_bytes", value))
            if swap_accounted:
                writes.append(("memory", "memory.memsw.limit_in_bytes", value))
            else:  # swap not accounted: keep the box's memory out of swap as far as the kernel lets us
                writes.append(("memory", "memory.swappiness", "0"))
        elif name == "pids.max":
            writes.append(("pids", "pids.max", content))
        # memory.swap.max (memsw covers it) and cpu.max (no v1 cpu quota here) have no v1 write
    return tuple(writes)


class RunCgroup:
    """One box's cgroups, one per hierarchy (controller -> directory)."""

    def __init__(self, paths: dict[str, str]) -> None:
        self.paths = paths
        self.path = paths.get("memory") or next(iter(paths.values()), "")
        self._guard: Optional[tuple[int, int]] = None  # (the thaw guard's pid, the write end of its lifeline)

    def guard_thaw(self) -> None:
        """A v1-frozen task ignores SIGKILL until thawed: a box frozen (`sandbox freeze`, or mid-kill)
        when its supervisor dies would live on, frozen, after its init and pid namespace are gone.  A
        guard outside the box holds freezer.state and writes THAWED when the lifeline, whose only
        write end is ours, reads EOF: at destroy(), or when this process dies however it dies."""
        if "freezer" not in self.paths:
            return
        state = os.open(os.path.join(self.paths["freezer"], "freezer.state"), os.O_WRONLY | os.O_CLOEXEC)
        read, write = os.pipe2(os.O_CLOEXEC)
        try:
            actions = [(os.POSIX_SPAWN_DUP2, read, 0), (os.POSIX_SPAWN_DUP2, state, 3),
                       (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
                       (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0)]
            pid = os.posix_spawn("/bin/sh", ["sh", "-c", "cat >/dev/null; echo THAWED >&3"], {},
                                 file_actions=actions, setsid=True)
        except BaseException:
            os.close(write)
            raise
        finally:
            os.close(read)
            os.close(state)
        self._guard = (pid, write)

    def _end_guard(self) -> None:
        if self._guard is not None:
            pid, write = self._guard
            self._guard = None
            os.close(write)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass

    @classmethod
    def at(cls, path: str) -> "RunCgroup":
        """A box's cgroups from its memory directory (the one the live registry keeps): the same path
        in each other hierarchy of ours that has it."""
        mounts = hierarchies()
        named = within(path, mounts)
        return cls(in_each(mounts, named) if named is not None else {})

    def _of(self, controller: str) -> Any:
        return _controller(controller, _nodes(self.paths[controller]))

    def apply(self, writes: Sequence[tuple[str, str, str]]) -> None:
        """Write every limit before any process is inside."""
        for controller, name, content in writes:
            if controller in self.paths:
                self._of(controller).set_property(name.encode(), content)

    def open_procs(self) -> tuple[int, ...]:
        """cgroup.procs of each hierarchy, for the program to join with (opened with our credentials:
        v1 checks the opener's euid against the joining process's uid at write time)."""
        fds: list[int] = []
        try:
            for path in self.paths.values():
                fds.append(os.open(os.path.join(path, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC))
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        return tuple(fds)

    def _number(self, controller: str, name: str) -> Optional[int]:
        if controller not in self.paths:
            return None
        try:
            return int(self._of(controller).get_property(name.encode()))
        except (OSError, ValueError):
            return None

    def cpu_usec(self) -> int:
        usage = self._number("cpuacct", "cpuacct.usage")
        return 0 if usage is None else usage // 1000

    def usage(self) -> CgroupUsage:
        peak = self._number("memory", "memory.memsw.max_usage_in_bytes")
        user, system = self._number("cpuacct", "cpuacct.usage_user"), self._number("cpuacct", "cpuacct.usage_sys")
        return CgroupUsage(
            memory_peak=peak if peak is not None else self._number("memory", "memory.max_usage_in_bytes"),
            oom_kills=self._oom_kills(),
            pids_peak=self._number("pids", "pids.peak"),
            cpu_usec=self.cpu_usec(),
            user_usec=(user or 0) // 1000,
            system_usec=(system or 0) // 1000,
        )

    def _oom_kills(self) -> int:
        """memory.oom_control's oom_kill (Linux 4.13): processes the OOM killer took in this cgroup."""
        if "memory" not in self.paths:
            return 0
        try:
            control = self._of("memory").oom_control
        except OSError:
            return 0
        return int(control.get("oom_kill", 0)) if isinstance(control, dict) else 0

    def _tasks(self) -> list[int]:
        tasks: set[int] = set()
        for controller in self.paths:
            try:
                tasks.update(self._of(controller).procs)
            except OSError:
                continue
        return sorted(tasks)

    def populated(self) -> bool:
        return bool(self._tasks())

    def kill(self) -> None:
        """SIGKILL every process of the box: frozen first where the freezer is ours, so no fork
        slips between reading the tasks and the kills; thawed after, so they die.  A freeze that
        does not complete (a task stuck FREEZING) is undone and the kills repeated instead: a task
        left frozen would ignore its SIGKILL."""
        frozen = "freezer" in self.paths
        if frozen:
            try:
                self.freeze(True)
            except OSError:
                frozen = False
                self._thaw_quietly()
        for _ in range(100):
            tasks = self._tasks()
            if not tasks:
                break
            for pid in tasks:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if frozen:
                break
        if frozen:
            self.freeze(False)

    def _thaw_quietly(self) -> None:
        try:
            self._of("freezer").set_property(b"freezer.state", "THAWED")
        except OSError:
            pass  # gone already: nothing is frozen in it

    def current(self) -> CgroupNow:
        return CgroupNow(cpu_usec=self.cpu_usec(), memory=self._number("memory", "memory.usage_in_bytes"),
                         pids=self._number("pids", "pids.current"), frozen=self._state() == "FROZEN")

    def _state(self) -> Optional[str]:
        if "freezer" not in self.paths:
            return None
        try:
            return str(self._of("freezer").get_property(b"freezer.state"))
        except OSError:
            return None

    def freeze(self, frozen: bool, timeout: float = FREEZE_TIMEOUT) -> None:
        """freezer.state FROZEN (or THAWED), waiting until the kernel says it is done (FREEZING
        while a task is still on its way)."""
        if "freezer" not in self.paths:
            raise HostError("freezing a box on cgroup v1 needs the freezer hierarchy, and none is delegated "
                            "(see `sandbox doctor`)")
        wanted = "FROZEN" if frozen else "THAWED"
        self._of("freezer").set_property(b"freezer.state", wanted)
        deadline = time.monotonic() + timeout
        while self._state() != wanted:
            if time.monotonic() > deadline:
                raise OSError(errno.ETIMEDOUT, f"{self.paths['freezer']}: not {wanted.lower()} within {timeout:.0f}s")
            time.sleep(0.01)

    def destroy(self, timeout: float = 5.0) -> None:
        """Kill what is left, wait until each hierarchy's cgroup is empty, remove them."""
        try:
            deadline = time.monotonic() + timeout
            for controller, path in list(self.paths.items()):
                parent, name = os.path.split(path)
                while True:
                    try:
                        _nodes(parent).delete_cgroup(name)
                        break
                    except FileNotFoundError:
                        break
                    except OSError as e:
                        if e.errno != errno.EBUSY or time.monotonic() > deadline:
                            raise
                        self.kill()
                        time.sleep(0.005)
        finally:
            self._end_guard()
