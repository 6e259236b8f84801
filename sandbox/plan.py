"""Profile + request -> Plan: everything the child will do, as data.  Pure; side: parent.

This is the only module that knows how a Profile maps onto the mechanisms'
specs.  A Plan is frozen and picklable: the supervisor sends it to the child,
whose pipeline executes it without making any policy decision of its own.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from typing import Any, Optional

from .cgroup import CgroupLimits
from .errors import UsageError
from .mountns import MountOp
from .profile import Limits, MountEntry, Profile, SyscallRule
from .rlimits import RlimitSpec
from .seccomp import ArgCondition, SeccompRule, SeccompSpec
from .userns import IdMapSpec
from .workfiles import check_name

WORK_DIR = "/work"
SCRIPT_PLACEHOLDER = "{script}"
DEFAULT_COLLECT_LIMIT = 16 << 20
HELPER_PROCESSES = 1  # the init shares the box's process count


@dataclass(frozen=True)
class Bind:
    source: str
    target: str
    writable: bool = False


@dataclass(frozen=True)
class Request:
    """What one caller asks for on top of a profile (CLI flags or API arguments)."""

    program: tuple[str, ...] = ()
    script: Optional[str] = None
    script_args: tuple[str, ...] = ()
    limits: dict[str, Any] = field(default_factory=dict)  # parsed values, by Limits field name
    net: Optional[str] = None
    binds: tuple[Bind, ...] = ()
    workdir: Optional[str] = None
    env: tuple[tuple[str, str], ...] = ()
    cgroup_root: Optional[str] = None  # a delegated cgroup v2 subtree to use (else: discovered)
    files: tuple[tuple[str, int, bytes], ...] = ()  # (path under /work, mode, content) put in before the run
    collect: tuple[str, ...] = ()  # paths under /work to bring out after the run
    collect_limit: Optional[int] = None  # bytes per collected file (default: the file_size limit, else 16M)
    name: Optional[str] = None  # register the running box under this name (sandbox ps/exec/freeze/kill)
    rootfs: Optional[str] = None  # a root file system instead of the host's (overrides the profile's)
    overlay: Optional[tuple[str, Optional[str]]] = None  # (lower, upper or None): lower at /work, writable


@dataclass(frozen=True)
class Plan:
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    cwd: str
    ids: IdMapSpec
    mounts: tuple[MountOp, ...]
    hostname: str
    net: str
    rlimits: tuple[RlimitSpec, ...]
    seccomp: SeccompSpec
    limits: Limits
    enforced_by: tuple[tuple[str, str], ...]
    cgroup: Optional[CgroupLimits]  # None: no delegated cgroup, rlimits only
    collect: tuple[str, ...] = ()  # files the init brings out of the work dir after the run
    collect_limit: int = 0


def make_plan(profile: Profile, request: Request, caller_uid: int, caller_gid: int, cgroup: bool = False) -> Plan:
    """Combine a validated profile with one request; raises UsageError for bad requests.

    `cgroup` says whether a delegated cgroup v2 subtree will hold the box: then memory,
    pids and CPU are whole-box cgroup limits, otherwise per-process rlimits.
    """
    limits = replace(profile.limits, **request.limits)
    work_binds = _work_binds(request)
    overlay = request.overlay is not None or (request.workdir is not None and profile.workdir == "overlay")
    _check_files(request, work_binds, overlay)
    argv = _argv(profile, request, work_binds)
    rootfs = _rootfs(request.rootfs or profile.rootfs)
    # With a root file system of its own, the profile's binds (host paths) are not used.
    mounts = tuple(_profile_mount(entry, limits) for entry in profile.mounts if not (rootfs and entry.kind == "bind"))
    mounts += _work_mounts(request, work_binds, limits, overlay)
    if rootfs:
        mounts = _rootfs_mounts(rootfs, mounts) + mounts
    env = dict(profile.env)
    env.update(request.env)
    return Plan(
        argv=argv,
        env=tuple(env.items()),
        cwd=WORK_DIR,
        ids=IdMapSpec(profile.uid, profile.gid, caller_uid, caller_gid),
        mounts=mounts,
        hostname=profile.hostname,
        net=request.net or profile.net,
        rlimits=_rlimits(limits, cgroup),
        seccomp=seccomp_spec(profile),
        limits=limits,
        enforced_by=tuple(_enforced_by(limits, caller_uid, cgroup).items()),
        cgroup=CgroupLimits(limits.memory, limits.pids, limits.cpus) if cgroup else None,
        collect=request.collect,
        collect_limit=request.collect_limit if request.collect_limit is not None else limits.file_size or DEFAULT_COLLECT_LIMIT,
    )


def _check_files(request: Request, work_binds: list[Bind], overlay: bool) -> None:
    """Files in and out live in the box's own work directory (its tmpfs, or a throwaway layer
    over a host work dir), never in a host directory bound there."""
    if (request.files or request.collect) and not overlay and any(b.target == WORK_DIR for b in work_binds):
        raise UsageError(f"files and collect need a work dir of the box's own; {WORK_DIR} is a host directory "
                         f"bound {'read-write' if any(b.writable for b in work_binds if b.target == WORK_DIR) else 'read-only'}")
    names = [entry[0] for entry in request.files]
    for name in names + list(request.collect):
        problem = check_name(name)
        if problem:
            raise UsageError(f"file {name!r}: {problem} under {WORK_DIR}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UsageError(f"file {repeated[0]!r}: given more than once for {WORK_DIR}")


def _abs_existing(path: str, what: str) -> str:
    """The caller's path with every symlink resolved: the box's init reaches host paths under
    /oldroot, where an absolute symlink would point into the box's own root instead."""
    full = os.path.realpath(path)
    if not os.path.exists(full):
        raise UsageError(f"{what} {path}: no such file or directory")
    return full


def _work_binds(request: Request) -> list[Bind]:
    binds = []
    for given, flag in ((request.workdir, "--workdir"), (request.overlay[0] if request.overlay else None, "--overlay")):
        if given is not None:
            workdir = _abs_existing(given, flag)
            if not os.path.isdir(workdir):
                raise UsageError(f"{flag} {given}: not a directory")
            binds.append(Bind(workdir, WORK_DIR))
    for bind in request.binds:
        source = _abs_existing(bind.source, "--bind-rw" if bind.writable else "--bind")
        target = bind.target or source
        if not os.path.isabs(target):
            raise UsageError(f"--bind {bind.source}:{bind.target}: the target must be an absolute path")
        binds.append(Bind(source, os.path.normpath(target), bind.writable))
    if [b.target for b in binds].count(WORK_DIR) > 1:
        raise UsageError(f"{WORK_DIR} is given twice (--workdir, --overlay, or a --bind/--bind-rw to {WORK_DIR}); "
                         f"give one")
    return binds


def _script_target(script: str, work_binds: list[Bind]) -> tuple[str, bool]:
    """Where the script appears in the box, and whether it needs a bind of its own."""
    workdir = next((b for b in work_binds if b.target == WORK_DIR), None)
    if workdir is None:
        return f"{WORK_DIR}/{os.path.basename(script)}", True
    relative = os.path.relpath(os.path.realpath(script), os.path.realpath(workdir.source))
    if relative.startswith(os.pardir + os.sep) or relative == os.pardir:
        raise UsageError(f"{script}: the script must be inside the work directory {workdir.source}")
    return f"{WORK_DIR}/{relative}", False


def _argv(profile: Profile, request: Request, work_binds: list[Bind]) -> tuple[str, ...]:
    if request.program:
        return request.program
    if request.script is None:
        raise UsageError("nothing to run: give a script, or -- PROGRAM [ARGS]")
    if SCRIPT_PLACEHOLDER not in profile.command:
        raise UsageError(f"profile {profile.name} does not run scripts; use -- PROGRAM [ARGS]")
    script = _abs_existing(request.script, "script")
    if not os.path.isfile(script):
        raise UsageError(f"script {request.script}: not a regular file")
    target, _ = _script_target(script, work_binds)
    return tuple(target if part == SCRIPT_PLACEHOLDER else part for part in profile.command) + request.script_args


def _profile_mount(entry: MountEntry, limits: Limits) -> MountOp:
    if entry.kind == "bind":
        return MountOp("bind", entry.target, entry.source, readonly=not entry.writable, optional=entry.optional)
    if entry.kind == "tmpfs":
        return MountOp("tmpfs", entry.target, size=entry.size or limits.tmp_size, mode=0o1777)
    return MountOp(entry.kind, entry.target)


def _work_mounts(request: Request, work_binds: list[Bind], limits: Limits, overlay: bool) -> tuple[MountOp, ...]:
    """/work (a private tmpfs unless a directory is bound there), the script, then the caller's binds.

    With `overlay`, the host work dir is the read-only lower layer of an overlay whose writable
    layer is a tmpfs of the box's own (size: tmp_size), gone with the box."""
    ops = []
    if not any(b.target == WORK_DIR for b in work_binds):
        ops.append(MountOp("tmpfs", WORK_DIR, size=limits.tmp_size, mode=0o755))
    if request.script is not None and not request.program:
        script = os.path.abspath(request.script)
        target, needs_bind = _script_target(script, work_binds)
        if needs_bind:
            ops.append(MountOp("bind", target, script, readonly=True))
    for bind in work_binds:
        if overlay and bind.target == WORK_DIR:
            upper = _upper_dir(request.overlay[1]) if request.overlay else None
            if upper and (_within(upper, bind.source) or _within(bind.source, upper)):
                raise UsageError(f"--overlay {bind.source}:{upper}: the layer and the lower directory must not overlap")
            ops.append(MountOp("overlay", WORK_DIR, bind.source, readonly=False, size=limits.tmp_size, upper=upper))
        else:
            ops.append(MountOp("bind", bind.target, bind.source, readonly=not bind.writable))
    return tuple(ops)


def _within(path: str, directory: str) -> bool:
    return os.path.commonpath([os.path.realpath(path), os.path.realpath(directory)]) == os.path.realpath(directory)


def _rootfs(path: Optional[str]) -> Optional[str]:
    if path is None:
        return None
    full = _abs_existing(path, "rootfs")
    if not os.path.isdir(full):
        raise UsageError(f"rootfs {path}: not a directory")
    if full == "/":
        raise UsageError(f"rootfs {path}: that is the host's own root (all of it, /sys and /home too); "
                         f"a profile's binds name what of it to show")
    return full


def _rootfs_mounts(rootfs: str, later: tuple[MountOp, ...]) -> tuple[MountOp, ...]:
    """Each top-level entry of the root file system, bound read-only into the box's root (a tmpfs,
    so mount points can still be made in it).  An entry is left out when a later mount needs a
    path under it that the read-only image does not have (a bind to /mnt/data, say)."""
    def blocks(name: str) -> bool:
        return any((op.target.startswith(f"/{name}/") and not os.path.isdir(rootfs + op.target))
                   or (op.target == f"/{name}" and not os.path.isdir(os.path.join(rootfs, name)))
                   for op in later)

    return tuple(MountOp("bind", f"/{name}", os.path.join(rootfs, name), readonly=True)
                 for name in sorted(os.listdir(rootfs)) if not blocks(name))


def _upper_dir(path: Optional[str]) -> Optional[str]:
    """Where a kept overlay layer lives: a directory of the caller's (made if missing, never a symlink)."""
    if path is None:
        return None
    given = os.path.abspath(path)
    full = os.path.join(os.path.realpath(os.path.dirname(given)), os.path.basename(given))  # as _abs_existing
    if os.path.islink(full) or (os.path.exists(full) and not os.path.isdir(full)):
        raise UsageError(f"--overlay upper {path}: not a directory")
    if not os.path.isdir(os.path.dirname(full)):
        raise UsageError(f"--overlay upper {path}: its parent directory does not exist")
    if os.path.exists(full) and os.stat(full).st_uid != os.getuid():
        raise UsageError(f"--overlay upper {path}: not your directory")
    return full


def _rlimits(limits: Limits, cgroup: bool) -> tuple[RlimitSpec, ...]:
    """Per-process limits.  With a cgroup, memory and pids are the cgroup's (RLIMIT_AS breaks
    JITs and counts address space, not memory); RLIMIT_CPU stays as a per-process backstop."""
    specs = [RlimitSpec("core", 0, 0)]
    if limits.cpu_time is not None:
        # Whole seconds only: SIGXCPU at the soft limit, SIGKILL a second later.
        seconds = max(1, math.ceil(limits.cpu_time))
        specs.append(RlimitSpec("cpu", seconds, seconds + 1))
    if limits.memory is not None and not cgroup:
        specs.append(RlimitSpec("as", limits.memory, limits.memory))
    if limits.pids is not None and not cgroup:
        total = limits.pids + HELPER_PROCESSES
        specs.append(RlimitSpec("nproc", total, total))
    if limits.file_size is not None:
        specs.append(RlimitSpec("fsize", limits.file_size, limits.file_size))
    if limits.open_files is not None:
        specs.append(RlimitSpec("nofile", limits.open_files, limits.open_files))
    if limits.stack is not None:
        specs.append(RlimitSpec("stack", limits.stack, limits.stack))
    return tuple(specs)


def _enforced_by(limits: Limits, caller_uid: int, cgroup: bool) -> dict[str, str]:
    """Which mechanism enforces each limit that is set, stated honestly."""
    mechanisms = {
        "cpu_time": "RLIMIT_CPU (per process, whole seconds)",
        "wall_time": "supervisor timer",
        "memory": "RLIMIT_AS (per process address space)",
        "pids": "RLIMIT_NPROC (per box user namespace)",
        "output": "supervisor output cap",
        "file_size": "RLIMIT_FSIZE",
        "open_files": "RLIMIT_NOFILE",
        "stack": "RLIMIT_STACK",
        "tmp_size": "tmpfs size",
        "cpus": "not enforced: needs a delegated cgroup v2 subtree (cpu.max)",
    }
    if cgroup:
        mechanisms.update({
            "cpu_time": "cgroup cpu.stat (whole box, watched by the supervisor)",
            "memory": "cgroup memory.max (swap off)",
            "pids": "cgroup pids.max",
            "cpus": "cgroup cpu.max",
        })
    elif caller_uid == 0:
        mechanisms["pids"] = "not enforced: the kernel exempts uid 0 from RLIMIT_NPROC"
    return {key: mechanisms[key] for key in mechanisms if getattr(limits, key) is not None}


def _seccomp_rule(rule: SyscallRule) -> SeccompRule:
    condition = None if rule.arg is None else ArgCondition(rule.arg, rule.mask, rule.value)
    return SeccompRule(rule.name, condition)


def seccomp_spec(profile: Profile) -> SeccompSpec:
    policy = profile.seccomp
    return SeccompSpec(
        policy.default,
        tuple(_seccomp_rule(r) for r in policy.allow),
        tuple(_seccomp_rule(r) for r in policy.kill),
    )
