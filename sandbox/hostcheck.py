"""What this host allows, in words a user can act on.  Side: parent.

Used to turn a refusal from the kernel into a one-line cause and fix, and (by
`sandbox doctor`, later) to report the host's capabilities.  Man page:
user_namespaces(7); Debian's kernel.unprivileged_userns_clone and Ubuntu's
kernel.apparmor_restrict_unprivileged_userns sysctls.
"""
from __future__ import annotations

from typing import Optional


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
