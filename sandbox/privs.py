"""Privileges: death with the parent, not dumpable.  Side: child.

A box whose parent dies dies too, and the box's processes cannot reach into the
init's /proc entries.  The target's own drop (a session keyring of its own,
no_new_privs, an empty bounding set: after these, execve as a non-zero uid leaves
the program no capabilities and no setuid binary or file capability can give one
back) is made in C, in its last mile (_lastmile.c); this module only reads the
highest capability number for it.  Man pages: prctl(2), capabilities(7), keyrings(7).
"""
from __future__ import annotations

import os
import select
import signal

from . import _syscalls as sc

_last_capability = -1


def warm_up() -> None:
    """Before the clones (side: fork server): read the host's highest capability number once."""
    global _last_capability
    with open("/proc/sys/kernel/cap_last_cap") as f:
        _last_capability = int(f.read())


def die_with_parent(lifeline: int) -> None:
    """SIGKILL this process when its parent dies, even if the parent died already.

    lifeline: a pipe only the parent can write to; EOF on it means the parent was gone
    before the signal was armed.  (getppid() cannot tell: a parent outside our pid
    namespace reads as 0.)
    """
    sc.set_parent_death_signal(signal.SIGKILL)
    if select.select([lifeline], [], [], 0)[0]:
        os._exit(1)


def make_undumpable() -> None:
    """/proc/<pid>/* of a non-dumpable process belongs to root, out of the program's reach."""
    sc.set_dumpable(False)


def last_capability() -> int:
    """The host's highest capability number: the target empties the bounding set 0..this (read from
    the kernel, not a list of names, so a capability added by a newer kernel is dropped too)."""
    if _last_capability < 0:
        warm_up()
    return _last_capability
