"""Profile + request -> Plan: everything the child will do, as data.  Side: parent.

This is the only module that knows how a Profile maps onto the mechanisms'
specs.  A Plan is frozen and picklable: the supervisor sends it to the child,
whose pipeline executes it without making any policy decision of its own.
Pure: it never looks at the host.  What the host paths it names were found to be comes
in as data (a HostSide, from hostlookup.resolve_host_paths, the step before planning);
the plan records each object's canonical path and identity, which the box's init
checks when it mounts it.
"""
from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Any, Optional

from ._record import dataclass, field
from .cgroup import CgroupLimits
from .errors import UsageError
from .hostside import HostObject, HostSide, within
from .limits import CGROUP_V1, NO_CGROUP, V1_MECHANISMS, Limits, Mechanism, each_set, overridden
from .mountns import MountOp
from .profile import MountEntry, Profile, SeccompPolicy, SyscallRule
from .rlimits import RlimitSpec
from .seccomp import ArgCondition, SeccompRule, SeccompSpec
from .userns import IdMapSpec
from .transfer.packing import FileEntry, check_name, content_size

WORK_DIR = "/work"
SCRIPT_PLACEHOLDER = "{script}"
DEFAULT_COLLECT_LIMIT = 16 << 20
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # POSIX's portable name: what a shell can export
# What one box may take of the per-user counts it shares with its caller (SECURITY.md, "Per-user
# resources").  Counted per user namespace (ucounts): the box's namespace gets these limits of its
# own.  No namespace of any kind may be made in the box (its filters refuse that anyway), but cgroup
# namespaces: the box's own counts there, and the program roots one at its own cgroup.
USER_COUNTS = (
    ("max_user_namespaces", 0), ("max_mnt_namespaces", 0), ("max_pid_namespaces", 0),
    ("max_net_namespaces", 0), ("max_ipc_namespaces", 0), ("max_uts_namespaces", 0),
    ("max_time_namespaces", 0), ("max_cgroup_namespaces", 8),
    ("max_inotify_instances", 32), ("max_inotify_watches", 8192),  # Linux's defaults: 128 and up to 1M
    ("max_fanotify_groups", 16), ("max_fanotify_marks", 8192),     # 128, 8192+
)
# Counted per user through rlimits (checked at each user namespace against the limit it was made with):
# the program gets a share well under Linux's defaults (about 60000 signals, 800 KiB, 8 MiB).
PER_USER_RLIMITS = (RlimitSpec("sigpending", 1024, 1024), RlimitSpec("msgqueue", 256 << 10, 256 << 10),
                    RlimitSpec("memlock", 1 << 20, 1 << 20))


FALLBACK_NAME = "sandbox"  # the box's user's name where the caller's cannot be written in /etc/passwd
_UNSAFE_NAME = re.compile(r"[:\n\r\x00]|^$|^[+-]")  # a field separator, a line break, an NIS "+" or "-" entry


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
    limits: dict[str, Any] = field(default_factory=dict)  # overrides by limit name, parsed (limits.parse_overrides)
    net: Optional[str] = None
    binds: tuple[Bind, ...] = ()
    workdir: Optional[str] = None
    env: tuple[tuple[str, str], ...] = ()
    cgroup_root: Optional[str] = None  # a delegated cgroup v2 subtree to use (else: discovered)
    files: tuple[FileEntry, ...] = ()  # (path under /work, mode, content) put in before the run
    collect: tuple[str, ...] = ()  # paths under /work to bring out after the run
    collect_limit: Optional[int] = None  # bytes per collected file (default: the file_size limit, else 16M)
    rootfs: Optional[str] = None  # a root file system instead of the host's (overrides the profile's)
    overlay: Optional[tuple[str, Optional[str]]] = None  # (lower, upper or None): lower at /work, writable
    # The work dir (--workdir or --overlay's lower) at its own host path, where the program starts,
    # and /work a symlink to it: a venv's `pip install -e .` and other absolute paths still hold.
    at_host_path: bool = False


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
    enforced_by: tuple[tuple[str, Mechanism], ...]  # each limit that is set -> what enforces it
    cgroup: Optional[CgroupLimits]  # the box's cgroup files; None: no delegated cgroup, rlimits only
    # (a cgroup without some controllers has only the others' files; its limits are rlimits)
    user_counts: tuple[tuple[str, int], ...] = USER_COUNTS  # the box's user namespace's own limits
    collect: tuple[str, ...] = ()  # files the init brings out of the work dir after the run
    collect_limit: int = 0


def make_plan(profile: Profile, request: Request, host: HostSide, caller_uid: int, caller_gid: int,
              cgroup: frozenset[str] = NO_CGROUP, caller_name: str = FALLBACK_NAME) -> Plan:
    """Combine a validated profile with one request and what its host paths were found to be
    (`host`, from hostlookup.resolve_host_paths); raises UsageError for bad requests.  Pure:
    the same arguments give the same plan, on any machine (tests/unit/test_plan_golden.py).

    `cgroup` is the set of controllers (of memory, pids, cpu) of the delegated cgroup v2 subtree
    that will hold the box, empty for none: each of memory, pids and cpus is a whole-box cgroup
    limit where its controller is there, otherwise what it is without a cgroup (a per-process
    rlimit, or not enforced); CPU time is the cgroup's with any (cpu.stat is a core file).  A
    subtree with only some controllers is what systemd's Delegate= often gives.  `caller_name` is
    the caller's user name, the name of the box's user in a generated /etc/passwd.
    """
    limits = overridden(profile.limits, request.limits)
    work = _work_dir(request, host)
    work_binds = _work_binds(request, host, work)
    overlay = request.overlay is not None or (request.workdir is not None and profile.workdir == "overlay")
    _check_files(request, work_binds, overlay, limits, work)
    script = _script(profile, request, host)
    argv = _argv(profile, request, work_binds, script, work)
    rootfs = _given(host.rootfs, "rootfs") if request.rootfs or profile.rootfs else None
    # With a root file system of its own, the profile's binds (host paths) are not used.
    mounts = tuple(op for entry in profile.mounts if not (rootfs and entry.kind == "bind")
                   for op in _profile_mount(entry, limits, host))
    mounts += _work_mounts(request, work_binds, script, limits, overlay, host, work)
    if rootfs:
        mounts = _rootfs_mounts(host, mounts) + mounts
    env = dict(profile.env)
    if not rootfs:  # an image has an /etc of its own, read-only
        mounts = generated_files(profile, caller_name, env.get("HOME", "/")) + mounts
    for name, _ in request.env:
        check_env_name(name, "env")
    env.update(request.env)
    return Plan(
        argv=argv,
        env=tuple(env.items()),
        cwd=work,
        ids=IdMapSpec(profile.uid, profile.gid, caller_uid, caller_gid),
        mounts=mounts,
        hostname=profile.hostname,
        net=request.net or profile.net,
        rlimits=_rlimits(limits, cgroup, profile.cgroup_only, profile.rlimit_backstops),
        seccomp=seccomp_spec(profile),
        limits=limits,
        enforced_by=_enforced_by(limits, caller_uid, cgroup, profile.cgroup_only, profile.rlimit_backstops),
        cgroup=_cgroup_limits(limits, cgroup) if cgroup else None,
        collect=request.collect,
        collect_limit=request.collect_limit if request.collect_limit is not None else limits.file_size or DEFAULT_COLLECT_LIMIT,
    )


@dataclass(frozen=True)
class _HostBind:
    """A caller's bind with its source found on the host."""

    source: HostObject
    target: str
    writable: bool = False


def check_env_name(name: str, what: str) -> None:
    """A variable the caller sets must have a POSIX name: `BAD NAME` or `1X` would reach the program
    as an entry no shell can read, and a name with '=' would set another variable."""
    if not _ENV_NAME.fullmatch(name):
        raise UsageError(f"{what} {name!r}: not a variable name (letters, digits and _, not starting with a digit)")


def _check_files(request: Request, work_binds: list[_HostBind], overlay: bool, limits: Limits, work: str) -> None:
    """Files in and out live in the box's own work directory (its tmpfs, or a throwaway layer
    over a host work dir), never in a host directory bound there; and they must fit in it."""
    if (request.files or request.collect) and not overlay and any(b.target == work for b in work_binds):
        raise UsageError(f"files and collect need a work dir of the box's own; {work} is a host directory "
                         f"bound {'read-write' if any(b.writable for b in work_binds if b.target == work) else 'read-only'}")
    names = [entry[0] for entry in request.files]
    for name in names + list(request.collect):
        problem = check_name(name)
        if problem:
            raise UsageError(f"file {name!r}: {problem} under {WORK_DIR}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UsageError(f"file {repeated[0]!r}: given more than once for {WORK_DIR}")
    kept_layer = request.overlay is not None and request.overlay[1] is not None
    total = sum(content_size(entry[2]) for entry in request.files)
    if limits.tmp_size is not None and not kept_layer and total > limits.tmp_size:
        biggest = max(request.files, key=lambda entry: content_size(entry[2]))
        raise UsageError(f"files for {WORK_DIR}: {_mib(total)} in all (the largest, {biggest[0]!r}, "
                         f"{_mib(content_size(biggest[2]))}) do not fit in the work dir, which holds "
                         f"{_mib(limits.tmp_size)} (tmp_size)")


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB"


def _given(found: Optional[HostObject], what: str) -> HostObject:
    """What the host side says of a path the request names (it has one for each)."""
    if found is None:
        raise LookupError(f"{what}: the host side has no object for it (hostlookup.resolve_host_paths finds one)")
    return found


def runs_script(profile: Profile, request: Request) -> bool:
    """Does this request run a script of the caller's through the profile's command?  Then the
    script is a host path to find; else it is not looked at."""
    return not request.program and request.script is not None and SCRIPT_PLACEHOLDER in profile.command


def mount_points(profile: Profile, request: Request, binds: tuple[HostObject, ...],
                 script: Optional[HostObject], work: Optional[HostObject] = None) -> frozenset[str]:
    """Every path in the box a plan of this request may mount something at (a superset): where
    hostlookup checks a root file system for real directories (HostSide.image_dirs).  `work`:
    the work dir found on the host, which --at-host-path mounts at its own path."""
    points = {entry.target for entry in profile.mounts} | {WORK_DIR}
    if request.at_host_path and work is not None:
        points.add(work.path)
    points.update(op.target for op in generated_files(profile, "", ""))
    if script is not None:
        points.add(f"{WORK_DIR}/{os.path.basename(script.path)}")
    points.update(os.path.normpath(bind.target or source.path) for bind, source in zip(request.binds, binds))
    return frozenset(points)


def _work_dir(request: Request, host: HostSide) -> str:
    """Where the work dir is in the box and the program starts: /work, or with at_host_path the
    work dir's own canonical host path (as bwrap --bind DIR DIR --chdir DIR, docker -v DIR:DIR -w DIR)."""
    if not request.at_host_path:
        return WORK_DIR
    if request.workdir is not None:
        found = _given(host.workdir, "--workdir")
    elif request.overlay is not None:
        found = _given(host.overlay_lower, "--overlay")
    else:
        raise UsageError("--at-host-path shows the work dir at its own path: give --workdir DIR or --overlay DIR")
    if within(found.path, WORK_DIR) or within(WORK_DIR, found.path):  # "/" is above /work
        raise UsageError(f"--at-host-path: the work dir {found.path} cannot be shown at its own path "
                         f"(it would hide the box's root or {WORK_DIR})")
    return found.path


def _work_binds(request: Request, host: HostSide, work: str = WORK_DIR) -> list[_HostBind]:
    binds = []
    if request.workdir is not None:
        binds.append(_HostBind(_given(host.workdir, "--workdir"), work))
    if request.overlay is not None:
        binds.append(_HostBind(_given(host.overlay_lower, "--overlay"), work))
    if len(host.binds) != len(request.binds):
        raise LookupError(f"{len(request.binds)} binds asked for, the host side has {len(host.binds)}")
    for bind, source in zip(request.binds, host.binds):
        target = bind.target or source.path
        if not os.path.isabs(target):
            raise UsageError(f"--bind {bind.source}:{bind.target}: the target must be an absolute path")
        binds.append(_HostBind(source, os.path.normpath(target), bind.writable))
    if work != WORK_DIR and any(b.target == WORK_DIR for b in binds):
        raise UsageError(f"--at-host-path makes {WORK_DIR} a symlink to the work dir {work}; bind nothing to {WORK_DIR}")
    if [b.target for b in binds].count(work) > 1:
        raise UsageError(f"{work} is given twice (--workdir, --overlay, or a --bind/--bind-rw to {WORK_DIR}); "
                         f"give one")
    return binds


def _script(profile: Profile, request: Request, host: HostSide) -> Optional[HostObject]:
    if request.program or request.script is None:
        return None
    if not runs_script(profile, request):
        raise UsageError(f"profile {profile.name} does not run scripts; use -- PROGRAM [ARGS]")
    return _given(host.script, "script")


def _script_target(script: HostObject, work_binds: list[_HostBind], work: str = WORK_DIR) -> tuple[str, bool]:
    """Where the script appears in the box, and whether it needs a bind of its own."""
    workdir = next((b for b in work_binds if b.target == work), None)
    if workdir is None:
        return f"{work}/{os.path.basename(script.path)}", True
    if not within(script.path, workdir.source.path):
        raise UsageError(f"{script.path}: the script must be inside the work directory {workdir.source.path}")
    return os.path.join(work, os.path.relpath(script.path, workdir.source.path)), False


def _argv(profile: Profile, request: Request, work_binds: list[_HostBind],
          script: Optional[HostObject], work: str = WORK_DIR) -> tuple[str, ...]:
    if request.program:
        return request.program
    if script is None:
        raise UsageError("nothing to run: give a script, or -- PROGRAM [ARGS]")
    target, _ = _script_target(script, work_binds, work)
    return tuple(target if part == SCRIPT_PLACEHOLDER else part for part in profile.command) + request.script_args


def _profile_mount(entry: MountEntry, limits: Limits, host: HostSide) -> tuple[MountOp, ...]:
    """The profile's mount as an operation; a bind whose source is a symlink is recreated as that
    symlink (merged-/usr hosts look the same inside), an optional one that is missing is left out."""
    if entry.kind == "tmpfs":
        return (MountOp("tmpfs", entry.target, size=entry.size or limits.tmp_size, mode=0o1777),)
    if entry.kind == "dev":  # its /dev/shm is a tmpfs of shm_size
        return (MountOp("dev", entry.target, size=limits.shm_size, pts=entry.pts),)
    if entry.kind != "bind":
        return (MountOp(entry.kind, entry.target),)
    assert entry.source is not None
    if entry.source not in host.profile_binds:
        raise LookupError(f"profile bind {entry.source}: the host side has no entry for it")
    source = host.profile_binds[entry.source]
    if source is None:  # optional, and missing on this host
        return ()
    if source.link is not None:
        return (MountOp("symlink", entry.target, source.link),)
    return (MountOp("bind", entry.target, source.path, readonly=not entry.writable, identity=source.identity),)


def _work_mounts(request: Request, work_binds: list[_HostBind], script: Optional[HostObject], limits: Limits,
                 overlay: bool, host: HostSide, work: str = WORK_DIR) -> tuple[MountOp, ...]:
    """/work (a private tmpfs unless a directory is bound there), the script, then the caller's binds.

    With `overlay`, the host work dir is the read-only lower layer of an overlay whose writable
    layer is a tmpfs of the box's own (size: tmp_size), gone with the box.  With the work dir
    at its host path (`work`), /work is a symlink to it, so `cd /work` still finds the project."""
    ops = []
    if work != WORK_DIR:
        ops.append(MountOp("symlink", WORK_DIR, work))
    elif not any(b.target == WORK_DIR for b in work_binds):
        ops.append(MountOp("tmpfs", WORK_DIR, size=limits.tmp_size, mode=0o755))
    if script is not None:
        target, needs_bind = _script_target(script, work_binds, work)
        if needs_bind:
            ops.append(MountOp("bind", target, script.path, readonly=True, identity=script.identity))
    for bind in work_binds:
        source = bind.source
        if overlay and bind.target == work:
            upper = _given(host.overlay_upper, "--overlay upper") if request.overlay and request.overlay[1] else None
            ops.append(MountOp("overlay", work, source.path, readonly=False, size=limits.tmp_size,
                               identity=source.identity, upper=upper.path if upper else None,
                               upper_identity=upper.identity if upper else None))
        else:
            ops.append(MountOp("bind", bind.target, source.path, readonly=not bind.writable, identity=source.identity))
    return tuple(ops)


def _rootfs_mounts(host: HostSide, later: tuple[MountOp, ...]) -> tuple[MountOp, ...]:
    """Each top-level entry of the root file system, bound read-only into the box's root (a tmpfs,
    so mount points can still be made in it); a symlink is recreated as itself.  An entry is left
    out when a later mount needs a path under it that the read-only image does not have as real
    directories (a bind to /mnt/data, or anything under an entry that is a symlink: mount points
    are never made through a symlink of the image)."""
    def blocks(name: str, entry: HostObject) -> bool:
        return any(op.target == f"/{name}" and not entry.is_dir
                   or op.target.startswith(f"/{name}/") and op.target not in host.image_dirs
                   for op in later)

    ops = []
    for entry in host.image:
        name = os.path.basename(entry.path)
        if blocks(name, entry):
            continue
        if entry.link is not None:
            ops.append(MountOp("symlink", f"/{name}", entry.link))
        else:
            ops.append(MountOp("bind", f"/{name}", entry.path, readonly=True, identity=entry.identity))
    return tuple(ops)


def generated_files(profile: Profile, caller_name: str, home: str) -> tuple[MountOp, ...]:
    """The profile's generated files (profile.GENERATED_FILES) as `file` operations: the box's own
    uid and gid under the caller's name (a name that would break a line of /etc/passwd is replaced
    by FALLBACK_NAME), localhost and the box's hostname on loopback, lookups in these files only.
    Nothing of the host's user database: the box knows one user, its own."""
    name = FALLBACK_NAME if _UNSAFE_NAME.search(caller_name) else caller_name
    home = home if not _UNSAFE_NAME.search(home) else "/"
    host = profile.hostname
    texts = {
        "passwd": f"{name}:x:{profile.uid}:{profile.gid}:{name}:{home}:/bin/sh\n",
        "group": f"{name}:x:{profile.gid}:\n",
        "hosts": f"127.0.0.1\tlocalhost {host}\n::1\tlocalhost ip6-localhost ip6-loopback {host}\n",
        "nsswitch": "".join(f"{db}: files\n" for db in ("passwd", "group", "shadow", "hosts", "networks",
                                                          "protocols", "services", "ethers", "rpc", "netgroup")),
    }
    paths = {"passwd": "/etc/passwd", "group": "/etc/group", "hosts": "/etc/hosts", "nsswitch": "/etc/nsswitch.conf"}
    return tuple(MountOp("file", paths[kind], mode=0o644, content=texts[kind]) for kind in profile.generated)


def _rlimits(limits: Limits, cgroup: frozenset[str], cgroup_only: tuple[str, ...] = (),
             backstops: bool = True) -> tuple[RlimitSpec, ...]:
    """Per-process limits: core dumps off and the per-user counts always, then each set limit's
    rlimit, unless the box's cgroup holds that limit or the profile wants only a cgroup to
    (limits.Limit.applied_rlimit)."""
    specs = [RlimitSpec("core", 0, 0), *PER_USER_RLIMITS]
    for limit, value in each_set(limits):
        rlimit = limit.applied_rlimit(cgroup, limit.name in cgroup_only, backstops)
        if rlimit is not None:
            specs.append(RlimitSpec(rlimit.resource, *rlimit.bounds(value)))
    return tuple(specs)


def _cgroup_limits(limits: Limits, cgroup: frozenset[str]) -> CgroupLimits:
    """The files the box's cgroup gets, in table order, for each set limit that has one of a
    controller the cgroup has (a file of another would not exist there: the write would fail)."""
    return CgroupLimits(tuple(write for limit, value in each_set(limits)
                              if limit.cgroup is not None and limit.cgroup.controller in cgroup
                              for write in limit.cgroup.writes(value)))


def _enforced_by(limits: Limits, caller_uid: int, cgroup: frozenset[str], cgroup_only: tuple[str, ...] = (),
                 backstops: bool = True) -> tuple[tuple[str, Mechanism], ...]:
    """Which mechanism enforces each limit that is set, stated honestly (a v1 box's in v1's words)."""
    told = V1_MECHANISMS if CGROUP_V1 in cgroup else {}
    return tuple((limit.name, told.get(mechanism, mechanism)) for limit, _ in each_set(limits)
                 for mechanism in [limit.enforced_by(cgroup, caller_uid == 0, limit.name in cgroup_only, backstops)])


def _seccomp_rule(rule: SyscallRule) -> SeccompRule:
    condition = None if rule.arg is None else ArgCondition(rule.arg, rule.mask, rule.value)
    return SeccompRule(rule.name, condition)


def seccomp_spec(profile: Profile) -> SeccompSpec:
    return _spec_of(profile.seccomp)


@lru_cache(maxsize=64)
def _spec_of(policy: SeccompPolicy) -> SeccompSpec:
    """One spec object per policy: a judge's runs share their profile's, so the supervisor's filter
    cache finds it by identity instead of comparing hundreds of rules per run."""
    return SeccompSpec(
        policy.default,
        tuple(_seccomp_rule(r) for r in policy.allow),
        tuple(_seccomp_rule(r) for r in policy.kill),
        tuple(_seccomp_rule(r) for r in policy.eagain),
    )
