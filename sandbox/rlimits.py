"""Resource limits for the program's own process.  Side: child (the init, for the target's last mile).

Where no cgroup is delegated these are the fallback enforcement: RLIMIT_CPU
(SIGXCPU, then SIGKILL one second later), RLIMIT_AS for memory, RLIMIT_NPROC for
processes (counted per user namespace since Linux 5.14, so per box),
RLIMIT_FSIZE, RLIMIT_NOFILE, RLIMIT_STACK.  Core dumps are always off.  Three
more are per-user counts the kernel checks at every user namespace up to the
caller's (queued signals, POSIX message queue bytes, locked shared memory): the
program gets a small share, so a box cannot take the caller's whole allowance.
Man page: getrlimit(2).
"""
from __future__ import annotations

import resource

from ._record import dataclass

RESOURCES = {
    "cpu": resource.RLIMIT_CPU,
    "as": resource.RLIMIT_AS,
    "nproc": resource.RLIMIT_NPROC,
    "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE,
    "stack": resource.RLIMIT_STACK,
    "core": resource.RLIMIT_CORE,
    "sigpending": resource.RLIMIT_SIGPENDING,
    "msgqueue": resource.RLIMIT_MSGQUEUE,
    "memlock": resource.RLIMIT_MEMLOCK,
}


@dataclass(frozen=True)
class RlimitSpec:
    name: str
    soft: int
    hard: int


def numbered(specs: tuple[RlimitSpec, ...]) -> list[tuple[int, int, int]]:
    """(resource number, soft, hard) for each limit, as the target's last mile (_lastmile.c) sets them:
    never above the hard limit it already has (raising it would be refused)."""
    return [(RESOURCES[spec.name], _in_range(spec.soft), _in_range(spec.hard)) for spec in specs]


def _in_range(value: int) -> int:
    """A limit at or past RLIM_INFINITY (2**64 - 1: a size of 16 EiB or more) is no limit; below the
    C side it would be taken modulo 2**64 (2**64 bytes: a limit of 0)."""
    return resource.RLIM_INFINITY if value >= _RLIM_INFINITY_UNSIGNED else value


_RLIM_INFINITY_UNSIGNED = (1 << 64) - 1
