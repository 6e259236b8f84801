"""Privileges: no_new_privs, no capabilities, death with the parent.  Side: child.

After these, execve as a non-zero uid leaves the program no capabilities, no
setuid binary or file capability can give one back, the caller's session keyring
is not shared, and a box whose parent dies dies too.  Man pages: prctl(2),
capabilities(7), keyrings(7).
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


def drop_all() -> None:
    """A session keyring of its own, no_new_privs, then an empty bounding set (needs
    CAP_SETPCAP, which we still hold)."""
    sc.join_new_session_keyring()
    sc.set_no_new_privs()
    if _last_capability < 0:
        warm_up()
    sc.drop_bounding_capabilities(_last_capability)
