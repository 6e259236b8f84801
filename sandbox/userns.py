"""User namespace: the box's own ids, written the rootless way.  Side: child (the box's init).

An unprivileged process may map exactly one id: its own.  It must deny
setgroups(2) before writing gid_map.  The caller's uid maps to a non-zero id
inside, so the program, after execve, holds no capabilities even in its own
namespace.  Man page: user_namespaces(7).
"""
from __future__ import annotations

from dataclasses import dataclass



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
