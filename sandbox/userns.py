"""User namespace: the box's own ids, written the rootless way, and its own per-user counts.
Side: child (the box's init).

An unprivileged process may map exactly one id: its own.  It must deny
setgroups(2) before writing gid_map.  The caller's uid maps to a non-zero id
inside, so the program, after execve, holds no capabilities even in its own
namespace.

The box runs as the caller's uid on the host, so whatever the kernel counts per
user is shared with the caller.  Some of those counts are kept per user
namespace and checked at every level up to the caller's (the "ucounts": inotify
instances and watches, fanotify groups and marks, namespaces of each kind):
the init, which holds every capability in the box's namespace until the program
runs, gives the namespace smaller limits of its own (/proc/sys/user/max_*, which
are per user namespace), so a box can take only that much of the caller's
allowance.  Man pages: user_namespaces(7), namespaces(7) (/proc/sys/user).
"""
from __future__ import annotations

from ._record import dataclass



@dataclass(frozen=True)
class IdMapSpec:
    inside_uid: int
    inside_gid: int
    outside_uid: int
    outside_gid: int


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def map_ids(spec: IdMapSpec) -> None:
    """Map one uid and one gid of a user namespace this process was just cloned into."""
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{spec.inside_uid} {spec.outside_uid} 1\n")
    _write("/proc/self/gid_map", f"{spec.inside_gid} {spec.outside_gid} 1\n")


def limit_counts(counts: tuple[tuple[str, int], ...]) -> None:
    """Set this user namespace's own per-user limits (/proc/sys/user/NAME); a name the kernel does
    not have (fanotify's before 5.13) is a resource it does not count per namespace."""
    for name, value in counts:
        try:
            _write(f"/proc/sys/user/{name}", f"{value}\n")
        except FileNotFoundError:
            continue
