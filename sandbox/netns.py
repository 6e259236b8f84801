"""Network namespace: no interface but loopback (and that one only if asked).  Side: child (the box's init).

A new network namespace has only `lo`, down.  Bringing it up gives the program
127.0.0.1 of its own, with no route anywhere else.  Man page: network_namespaces(7).
"""
from __future__ import annotations

from . import _syscalls as sc

LOOPBACK = "loopback"


def configure(mode: str) -> None:
    if mode == LOOPBACK:
        sc.set_interface_up("lo")
