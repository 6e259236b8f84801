"""What this host allows, in words a user can act on.  Side: parent.

Turns a refusal from the kernel into a one-line cause and fix, and builds the
report `sandbox doctor` prints.  The cgroup tests decide what to run from the
same report, so users and tests see the same words.  Man pages:
user_namespaces(7), cgroups(7), seccomp(2); Debian's
kernel.unprivileged_userns_clone and Ubuntu's
kernel.apparmor_restrict_unprivileged_userns sysctls.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Optional

from . import _syscalls as sc
from . import cgroup
from .limits import TABLE


def _read_sysctl(path: str) -> Optional[str]:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def userns_refusal_reason() -> str:
    """Why unprivileged user namespaces are refused here, and the fix."""
    if _read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == "0":
        return ("unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0); "
                "fix: sysctl -w kernel.unprivileged_userns_clone=1")
    if _read_sysctl("/proc/sys/user/max_user_namespaces") == "0":
        return ("user namespaces are disabled (user.max_user_namespaces=0); "
                "fix: sysctl -w user.max_user_namespaces=15000")
    if _read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
        return ("AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1); "
                "fix: install an AppArmor profile granting 'userns' to this Python interpreter, "
                "or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0")
    return ("the kernel refused to create a user namespace (seccomp or a container runtime may forbid it); "
            "fix: run on a host that allows unprivileged user namespaces")


NO_CGROUP_REMEDY = (
    "no delegated cgroup v2 subtree is available; fix: run under `systemd-run --user --scope -p Delegate=yes` "
    "(or `sandbox run --systemd-scope`), or pass --cgroup-root / SANDBOX_CGROUP_ROOT naming a cgroup v2 "
    "directory delegated to this user"
)


@dataclass(frozen=True)
class Check:
    """One fact about the host.  essential: the sandbox cannot run without it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    essential: bool = False


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


def systemd_user_manager() -> bool:
    """A systemd user manager listens on $XDG_RUNTIME_DIR/systemd/private."""
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    return os.path.exists(os.path.join(runtime, "systemd", "private"))


def _kernel_check() -> Check:
    release = os.uname().release
    try:
        major, minor = (int(x) for x in release.split(".")[:2])
    except ValueError:
        major, minor = 0, 0
    ok = (major, minor) >= (5, 12)
    return Check("kernel", ok, f"Linux {release}" + ("" if ok else " is older than 5.12 (mount_setattr)"),
                 "" if ok else "fix: run on Linux 5.12 or newer", essential=True)


def _userns_check() -> Check:
    if userns_works():
        return Check("user namespaces", True, "an unprivileged user namespace can be created", essential=True)
    return Check("user namespaces", False, "creating a user namespace was refused",
                 "fix: " + userns_refusal_reason().split("fix: ", 1)[-1], essential=True)


def _apparmor_check() -> Optional[Check]:
    value = _read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
    if value is None:
        return None
    if value == "0":
        return Check("AppArmor userns restriction", True, "kernel.apparmor_restrict_unprivileged_userns=0")
    return Check(
        "AppArmor userns restriction", userns_works(), "kernel.apparmor_restrict_unprivileged_userns=1",
        f"fix: allow user namespaces for this interpreter with an AppArmor profile, e.g. "
        f"/etc/apparmor.d/sandbox-python: `abi <abi/4.0>, include <tunables/global> "
        f"profile sandbox-python {os.path.realpath(sys.executable)} flags=(unconfined) {{ userns, }}` "
        f"then `apparmor_parser -r /etc/apparmor.d/sandbox-python`",
    )


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
    missing = [c for c in cgroup.REQUIRED_CONTROLLERS if c not in top]
    checks = [Check("cgroup v2", not missing, f"mounted at {mount}; controllers: {' '.join(top) or 'none'}"
                    + (f" (no {' '.join(missing)}: they are on cgroup v1, a hybrid layout)" if missing else ""),
                    "" if not missing else "fix: boot with systemd.unified_cgroup_hierarchy=1 so cgroup v2 gets "
                                           "every controller")]
    delegation = cgroup.find_delegation(explicit or os.environ.get("SANDBOX_CGROUP_ROOT") or None)
    if delegation is None:
        checks.append(Check("delegated subtree", False, "no cgroup v2 subtree is delegated to this user; "
                            "limits fall back to rlimits", "fix: " + NO_CGROUP_REMEDY.split("fix: ", 1)[-1]))
    elif not delegation.usable:
        detail, _, fix = (delegation.problem or "").partition("; fix: ")
        checks.append(Check("delegated subtree", False, f"{delegation.source}: {detail}",
                            f"fix: {fix}" if fix else "fix: " + NO_CGROUP_REMEDY.split("fix: ", 1)[-1]))
    else:
        checks.append(_delegated_check(delegation))
        missing = [f for f in ("memory.peak", "cgroup.kill", "memory.swap.max", "pids.peak")  # of the controllers there
                   if f.split(".")[0] not in delegation.missing and not _feature_present(delegation.path, f)]
        checks.append(Check("cgroup features", not missing[:3],
                            "memory.peak, cgroup.kill, memory.swap.max present" if not missing else
                            f"missing: {' '.join(missing)}",
                            "" if not missing[:3] else "fix: Linux 5.19 or newer (memory.peak), 5.14 (cgroup.kill)"))
    systemd = systemd_user_manager()
    checks.append(Check("systemd user manager", systemd,
                        "running: `sandbox run --systemd-scope` gets a delegated scope" if systemd else "not running",
                        "" if systemd else "fix: log in through a systemd session or `loginctl enable-linger $USER` "
                                           "(only needed for --systemd-scope)"))
    return checks


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


def report(cgroup_root: Optional[str] = None) -> list[Check]:
    """Every check `sandbox doctor` prints, in order."""
    checks = [_kernel_check(), _userns_check()]
    apparmor = _apparmor_check()
    if apparmor:
        checks.append(apparmor)
    checks.append(_seccomp_check())
    checks.extend(_cgroup_checks(cgroup_root))
    return checks
