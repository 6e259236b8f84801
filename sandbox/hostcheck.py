"""What this host allows, in words a user can act on.  Side: parent.

Turns a refusal from the kernel into a one-line cause and fix, and builds the
report `sandbox doctor` prints.  The cgroup tests decide what to run from the
same report, so users and tests see the same words.  Man pages:
user_namespaces(7), cgroups(7), seccomp(2); Debian's
kernel.unprivileged_userns_clone and Ubuntu's
kernel.apparmor_restrict_unprivileged_userns sysctls.
"""
from __future__ import annotations

import glob
import os
import pwd
import sys
from typing import Optional, Sequence

from ._record import dataclass
from . import _syscalls as sc
from . import cgroup, systemd
from .cgroup import NO_CGROUP_REMEDY
from .errors import SandboxError
from .limits import TABLE


PROC_SYS = "/proc/sys"
APPARMOR_SYSCTL = "kernel.apparmor_restrict_unprivileged_userns"
APPARMOR_PROFILE_NAME = "sandbox-python"
APPARMOR_PROFILE_FILE = f"/etc/apparmor.d/{APPARMOR_PROFILE_NAME}"


def _read_sysctl(path: str) -> Optional[str]:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _sysctl(proc_sys: str, name: str) -> Optional[str]:
    """A sysctl by its dotted name, read under `proc_sys`: tests pass a fake /proc/sys tree."""
    return _read_sysctl(os.path.join(proc_sys, *name.split(".")))


def interpreter() -> str:
    """The binary AppArmor attaches a profile to: sys.executable with its links resolved (a venv's
    python is a link to /usr/bin/python3.X, and AppArmor only ever sees the file that was exec'd)."""
    return os.path.realpath(sys.executable)


def _userns_refusal(proc_sys: str) -> tuple[str, str]:
    """(cause, fix) for a refused user namespace, from the sysctls that refuse them, most specific first."""
    if _sysctl(proc_sys, "kernel.unprivileged_userns_clone") == "0":
        return ("unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0)",
                "sysctl -w kernel.unprivileged_userns_clone=1")
    if _sysctl(proc_sys, "user.max_user_namespaces") == "0":
        return ("user namespaces are disabled (user.max_user_namespaces=0)", "sysctl -w user.max_user_namespaces=15000")
    if _sysctl(proc_sys, APPARMOR_SYSCTL) not in (None, "0"):
        return (f"AppArmor restricts unprivileged user namespaces ({APPARMOR_SYSCTL}=1)",
                f"load an AppArmor profile that lets {interpreter()} create user namespaces (`sandbox doctor` "
                f"prints it and the commands), or, for every program at once, sysctl -w {APPARMOR_SYSCTL}=0")
    return ("the kernel refused to create a user namespace (seccomp or a container runtime may forbid it)",
            "run on a host that allows unprivileged user namespaces")


def userns_refusal_reason(proc_sys: str = PROC_SYS) -> str:
    """Why unprivileged user namespaces are refused here, and the fix: one line for a failed run."""
    cause, fix = _userns_refusal(proc_sys)
    return f"{cause}; fix: {fix}"


def apparmor_profile(executable: str) -> list[str]:
    """The profile that lets `executable`, and only it, create user namespaces: the shape of Ubuntu's own
    profiles for bwrap and the like (abi 4.0, unconfined, a `userns` rule, a local/ include for additions)."""
    path = f'"{executable}"' if any(c.isspace() for c in executable) else executable
    return ["abi <abi/4.0>,", "include <tunables/global>",
            f"profile {APPARMOR_PROFILE_NAME} {path} flags=(unconfined) {{",
            "  userns,", f"  include if exists <local/{APPARMOR_PROFILE_NAME}>", "}"]


@dataclass(frozen=True)
class Check:
    """One fact about the host.  essential: the sandbox cannot run without it.  more: the lines of a file the
    fix says to write (an AppArmor profile, a systemd drop-in), printed verbatim under it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    essential: bool = False
    more: tuple[str, ...] = ()


def userns_works() -> bool:
    """Create a user namespace in a throwaway child: the only test the kernel cannot fool."""
    pid = os.fork()
    if pid == 0:
        try:
            sc.unshare(sc.CLONE_NEWUSER)
            os._exit(0)
        except OSError:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _kernel_check() -> Check:
    release = os.uname().release
    try:
        major, minor = (int(x) for x in release.split(".")[:2])
    except ValueError:
        major, minor = 0, 0
    ok = (major, minor) >= (5, 12)
    return Check("kernel", ok, f"Linux {release}" + ("" if ok else " is older than 5.12 (mount_setattr)"),
                 "" if ok else "fix: run on Linux 5.12 or newer", essential=True)


def userns_checks(proc_sys: str = PROC_SYS, works: Optional[bool] = None) -> list[Check]:
    """The user namespace check, and AppArmor's restriction of it where the kernel has one (Ubuntu 23.10 and
    later).  works: whether a user namespace could be created (tested here when None)."""
    works = userns_works() if works is None else works
    checks = [_userns_check(proc_sys, works)]
    apparmor = _apparmor_check(proc_sys, works)
    return checks + ([apparmor] if apparmor else [])


def _userns_check(proc_sys: str, works: bool) -> Check:
    if works:
        return Check("user namespaces", True, "an unprivileged user namespace can be created", essential=True)
    cause, fix = _userns_refusal(proc_sys)
    if APPARMOR_SYSCTL in cause:
        fix = "load the AppArmor profile printed under `AppArmor userns restriction` below"
    return Check("user namespaces", False, f"creating a user namespace was refused: {cause}", f"fix: {fix}",
                 essential=True)


def _apparmor_check(proc_sys: str, works: bool) -> Optional[Check]:
    """Absent where the kernel has no such sysctl.  On, yet user namespaces work: a profile already allows this
    interpreter (or the caller is root, whom the restriction spares).  On and refused: the profile to load."""
    value = _sysctl(proc_sys, APPARMOR_SYSCTL)
    if value is None:
        return None
    name, setting, executable = "AppArmor userns restriction", f"{APPARMOR_SYSCTL}={value}", interpreter()
    if value == "0":
        return Check(name, True, f"off ({setting})")
    if works:
        why = "root is not restricted" if os.geteuid() == 0 else "an AppArmor profile already allows it"
        return Check(name, True, f"on ({setting}), but {executable} may create user namespaces: {why}")
    return Check(
        name, False, f"on ({setting}), and no AppArmor profile lets {executable} create user namespaces",
        f"fix: as root, write {APPARMOR_PROFILE_FILE} with the lines below (it lets {executable}, and only that "
        f"interpreter, create user namespaces) and load it: `apparmor_parser -r {APPARMOR_PROFILE_FILE}`; or, "
        f"broader (every program on the host), sysctl -w {APPARMOR_SYSCTL}=0",
        essential=True, more=tuple(apparmor_profile(executable)))


def _seccomp_check() -> Check:
    actions = _read_sysctl("/proc/sys/kernel/seccomp/actions_avail") or ""
    ok = all(a in actions.split() for a in ("kill_process", "errno", "allow"))
    return Check("seccomp", ok, f"filter actions: {actions or 'unknown'}",
                 "" if ok else "fix: a kernel built with CONFIG_SECCOMP_FILTER", essential=True)


def _cgroup_checks(explicit: Optional[str]) -> list[Check]:
    mount = cgroup.cgroup2_mount()
    if mount is None:
        return [Check("cgroup v2", False, "no cgroup2 file system is mounted",
                      "fix: boot with systemd.unified_cgroup_hierarchy=1 (cgroup v2); until then limits are rlimits")]
    top = (_read_sysctl(os.path.join(mount, "cgroup.controllers")) or "").split()
    missing = [c for c in cgroup.CONTROLLERS if c not in top]
    checks = [Check("cgroup v2", not missing, f"mounted at {mount}; controllers: {' '.join(top) or 'none'}"
                    + (f" (no {' '.join(missing)}: they are on cgroup v1, a hybrid layout)" if missing else ""),
                    "" if not missing else "fix: boot with systemd.unified_cgroup_hierarchy=1 so cgroup v2 gets "
                                           "every controller")]
    delegation = cgroup.find_delegation(cgroup.named_root(explicit))
    manager = _user_manager_cgroup(mount, os.getuid())
    if _scope_by_default(explicit) and manager is not None:
        checks.append(Check("delegated subtree", True, "none of your own: each run gets a transient delegated scope "
                            "of your systemd user manager (--no-systemd-scope or SANDBOX_SYSTEMD_SCOPE=0 to opt out)"))
        checks.append(_features_check(manager, ()))
    elif delegation is None:
        checks.append(Check("delegated subtree", False, "no cgroup v2 subtree is delegated to this user; "
                            "limits fall back to rlimits", "fix: " + NO_CGROUP_REMEDY.split("fix: ", 1)[-1]))
    elif not delegation.usable:
        detail, _, fix = (delegation.problem or "").partition("; fix: ")
        checks.append(Check("delegated subtree", False, f"{delegation.source}: {detail}",
                            f"fix: {fix}" if fix else "fix: " + NO_CGROUP_REMEDY.split("fix: ", 1)[-1]))
    else:
        checks.append(_delegated_check(delegation))
        checks.append(_features_check(delegation.path, delegation.missing))
    checks.append(user_manager_check(mount))
    return checks


def _scope_by_default(explicit: Optional[str]) -> bool:
    """Would a run of ours ask the user manager for a scope (sandbox.systemd.wanted, its default)?"""
    try:
        return systemd.wanted(None, explicit)
    except SandboxError:
        return False  # a SANDBOX_SYSTEMD_SCOPE that is no word: the run itself says so


def _features_check(path: str, missing_controllers: Sequence[str]) -> Check:
    """The kernel's cgroup features where the boxes' cgroups will be (of the controllers there)."""
    wanted, optional = ("memory.peak", "cgroup.kill", "memory.swap.max"), ("pids.peak",)  # pids.peak: Linux 6.1
    missing = [f for f in wanted + optional
               if f.split(".")[0] not in missing_controllers and not _feature_present(path, f)]
    lacking = [f for f in missing if f in wanted]
    return Check("cgroup features", not lacking,
                 "memory.peak, cgroup.kill, memory.swap.max present" + (" (no pids.peak: pids_peak is null)"
                                                                        if missing and not lacking else "")
                 if not lacking else f"missing: {' '.join(missing)}",
                 "" if not lacking else "fix: Linux 5.19 or newer (memory.peak), 5.14 (cgroup.kill)")


DELEGATE_DROP_IN, DELEGATE_LINES = cgroup.DELEGATE_DROP_IN, cgroup.DELEGATE_LINES
_FALLBACK = {
    "memory": "memory falls back to RLIMIT_AS per process",
    "pids": "pids to RLIMIT_NPROC",
    "cpu": "`cpus` (cpu.max) is not enforced (CPU time is still measured from cpu.stat)",
}


def user_manager_check(mount: str, uid: Optional[int] = None, runtime_dir: Optional[str] = None,
                       systemd_dir: str = "/run/systemd/system") -> Check:
    """The caller's systemd user manager and the controllers delegated to it: runs get a scope of it, and
    a scope can only have the controllers its manager was given.  Reads files only."""
    uid = os.getuid() if uid is None else uid
    runtime = runtime_dir or os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{uid}"
    if not os.path.exists(os.path.join(runtime, "systemd", "private")):
        return _no_user_manager(uid, runtime, systemd_dir)
    unit = f"user@{uid}.service"
    group = _user_manager_cgroup(mount, uid)
    if group is None:
        return Check("systemd user manager", False, f"running ({unit}), but its cgroup is not under {mount}, so "
                     "its delegated controllers are unknown",
                     f"fix: ask systemd: `systemctl show {unit} -p Delegate -p DelegateControllers`")
    delegated = (_read_sysctl(os.path.join(group, "cgroup.controllers")) or "").split()
    head = f"running ({unit}); delegated controllers: {' '.join(delegated) or 'none'}"
    missing = [c for c in cgroup.CONTROLLERS if c not in delegated]
    if not missing:
        return Check("systemd user manager", True, f"{head}; runs get a delegated scope from the user manager "
                                                   "automatically")
    top = (_read_sysctl(os.path.join(mount, "cgroup.controllers")) or "").split()
    fixes = []
    if any(c not in top for c in missing):
        fixes.append("boot with systemd.unified_cgroup_hierarchy=1 (cgroup v2 itself lacks "
                     f"{' '.join(c for c in missing if c not in top)}: see the cgroup v2 line)")
    if any(c in top for c in missing):
        fixes.append(f"as root, write {DELEGATE_DROP_IN} with the lines below, run `systemctl daemon-reload`, "
                     f"then log out and in again (or `systemctl restart {unit}`)")
    return Check("systemd user manager", False,
                 f"{head}; without {' '.join(missing)}: " + "; ".join(_FALLBACK[c] for c in missing),
                 "fix: " + "; then ".join(fixes), more=DELEGATE_LINES if any(c in top for c in missing) else ())


def _user_manager_cgroup(mount: str, uid: int) -> Optional[str]:
    """logind puts user@UID.service in user.slice/user-UID.slice; a host that nests it elsewhere is searched."""
    unit = f"user@{uid}.service"
    standard = os.path.join(mount, "user.slice", f"user-{uid}.slice", unit)
    if os.path.isdir(standard):
        return standard
    for depth in range(1, 4):
        found = sorted(glob.glob(os.path.join(glob.escape(mount), *["*"] * depth, unit)))
        if found:
            return found[0]
    return None


def _no_user_manager(uid: int, runtime: str, systemd_dir: str) -> Check:
    """Why no user manager runs, in words a user can act on: no systemd at all, or no session and no linger."""
    fallback = "until then limits are rlimits unless --cgroup-root / SANDBOX_CGROUP_ROOT names a delegated subtree"
    if not os.path.isdir(systemd_dir):
        return Check("systemd user manager", False, f"none: this host does not run systemd (no {systemd_dir}), "
                     "so limits are rlimits", "fix: for cgroup limits, pass --cgroup-root DIR (or SANDBOX_CGROUP_ROOT) "
                     "naming a cgroup v2 subtree delegated to you")
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    return Check("systemd user manager", False,
                 f"not running for {user} (no {runtime}/systemd/private): not logged in through a systemd session "
                 "(pam_systemd; su and sudo do not start one), and no linger",
                 f"fix: log in through a systemd session (console or ssh), or for a service user, as root, "
                 f"`loginctl enable-linger {user}`; {fallback}")


def _delegated_check(delegation: cgroup.Delegation) -> Check:
    """A usable subtree; a warning where it lacks some controllers (systemd's Delegate= without cpu,
    say): boxes still use it, and the limits of the missing ones fall back, each named with what
    enforces it instead (limits.Limit.enforced_by), with the fix."""
    detail = f"{delegation.path} ({delegation.source}); controllers: {' '.join(delegation.controllers)}"
    if not delegation.missing:
        return Check("delegated subtree", True, detail)
    fallbacks = "; ".join(f"{limit.name}: {limit.enforced_by(delegation.delegated, os.geteuid() == 0).value}"
                          for limit in TABLE if limit.cgroup is not None and limit.cgroup.controller in delegation.missing)
    return Check("delegated subtree", False,
                 f"{detail}; no {' '.join(delegation.missing)} controller, so these limits fall back: {fallbacks}",
                 f"fix: {cgroup.MISSING_CONTROLLERS_FIX}")


def _feature_present(path: str, name: str) -> bool:
    """Interface files exist only in non-root cgroups; look in any child, else the delegated dir."""
    for child in [path] + [os.path.join(path, c) for c in sorted(os.listdir(path))]:
        if os.path.exists(os.path.join(child, name)):
            return True
    return False


def cgroup_v1_check(explicit: Optional[str]) -> Optional[Check]:
    """The cgroup v1 hierarchies of a hybrid or legacy host, and whether a subtree of them is delegated
    to this user (boxes use it where no cgroup v2 subtree is): None where no hierarchy of ours is v1."""
    from . import cgroupv1

    mounts = cgroupv1.hierarchies()
    if not mounts:
        return None
    swap = ""
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        user = str(os.getuid())
    mounted = ", ".join(f"{c} at {point}" for c, (point, _) in sorted(mounts.items()))
    delegation = cgroupv1.find_delegation(explicit if explicit and cgroupv1.is_v1_directory(explicit) else None)
    if delegation is None:
        return Check("cgroup v1 subtree", False, f"hierarchies: {mounted}; none delegated to {user}",
                     f"fix: {cgroupv1.delegate_commands(user)}")
    if not delegation.usable:
        detail, _, fix = (delegation.problem or "").partition("; fix: ")
        return Check("cgroup v1 subtree", False, f"{delegation.source}: {detail}", f"fix: {fix}")
    if "memory" in dict(delegation.paths):
        swap = "; memory plus swap limited (memory.memsw)" if delegation.swap_accounted else \
            "; swap not accounted (boot with swapaccount=1 for memory.memsw): memory alone is limited"
    missing = f"; not delegated: {' '.join(delegation.missing)}" if delegation.missing else ""
    return Check("cgroup v1 subtree", True,
                 f"{', '.join(f'{c} {path}' for c, path in delegation.paths)} ({delegation.source}){swap}{missing}; "
                 "boxes use it where no cgroup v2 subtree is delegated")


def report(cgroup_root: Optional[str] = None, proc_sys: str = PROC_SYS) -> list[Check]:
    """Every check `sandbox doctor` prints, in order."""
    checks = [_kernel_check(), *userns_checks(proc_sys)]
    checks.append(_seccomp_check())
    checks.extend(_cgroup_checks(cgroup_root))
    v1 = cgroup_v1_check(cgroup.named_root(cgroup_root))
    if v1 is not None:
        checks.append(v1)
    return checks
