"""UTS namespace: the box's own hostname and NIS domain name, so the host's do not leak.  Side: child (the box's init).

Man page: uts_namespaces(7).
"""
from __future__ import annotations

from . import _syscalls as sc


def configure(hostname: str) -> None:
    sc.set_hostname(hostname)
    sc.set_domainname("(none)")
