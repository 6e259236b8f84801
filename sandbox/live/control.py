"""What `sandbox ps`, `freeze`, `thaw` and `kill` do to a running box.  Side: parent.

With the box's own cgroup, usage is the cgroup's and freezing is cgroup.freeze.
Without one, usage is summed over the processes of the box's pid namespace (the
init's reaped children included), and a box cannot be frozen: SIGSTOP could be
caught by nobody but also undone by any process of the box (SIGCONT), so we
refuse rather than pretend.  Ending a box never asks its init (it honours no
signal: init.py): boxprocs.end_box kills the program, the way the supervisor does too.
"""
from __future__ import annotations

import os
import select
import signal
import time
from typing import Optional

from .._record import dataclass
from .. import cgroup
from ..boxprocs import box_cpu_time, box_members, end_box, open_program
from ..errors import HostError, UsageError
from .registry import LiveBox

KILL_WAIT = 5.0
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class BoxUsage:
    cpu_time: float         # seconds, every process of the box so far
    memory: Optional[int]   # bytes: the cgroup's memory.current, else the sum of resident sets
    pids: int
    frozen: bool
    measured_by: str        # "cgroup" or "proc"


def usage(box: LiveBox) -> BoxUsage:
    """The box's cgroup's numbers; where it lacks the memory or pids controller (a partially delegated
    subtree: no memory.current, pids.current), those two from /proc as without a cgroup."""
    if box.cgroup:
        now = cgroup.run_cgroup_at(box.cgroup).current()
        members = box_members(box.pid) if now.memory is None or now.pids is None else []
        memory = now.memory if now.memory is not None else sum(_resident(pid) for pid in members)
        pids = now.pids if now.pids is not None else len(members)
        return BoxUsage(now.cpu_usec / 1e6, memory, pids, now.frozen, "cgroup")
    members = box_members(box.pid)
    memory = sum(_resident(pid) for pid in members)
    return BoxUsage(box_cpu_time(box.pid, members), memory, len(members), False, "proc")


def freeze(box: LiveBox, frozen: bool) -> None:
    if not box.cgroup:
        raise HostError(f"sandbox {box.name} has no cgroup of its own, and freezing needs cgroup.freeze "
                        f"(a delegated cgroup v2 subtree: see `sandbox doctor`)")
    try:
        cgroup.run_cgroup_at(box.cgroup).freeze(frozen)
    except FileNotFoundError:
        raise UsageError(f"sandbox {box.name} has ended") from None


def kill(box: LiveBox) -> None:
    """End the box as the supervisor would (the supervisor then reports the program killed) and wait for it."""
    try:
        pidfd = os.pidfd_open(box.pid)
    except ProcessLookupError:
        return
    try:
        if not box.alive():  # checked after pidfd_open: the pidfd is the box's init, not a reused pid
            return
        if box.cgroup:
            cgroup.run_cgroup_at(box.cgroup).freeze(False)  # a frozen box cannot die until thawed
        end_box(box.pid, pidfd, cgroup.run_cgroup_at(box.cgroup) if box.cgroup else None, started=True)
        if not select.select([pidfd], [], [], KILL_WAIT)[0]:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            select.select([pidfd], [], [], KILL_WAIT)
    except PermissionError:  # an entry naming someone else's box (only our own registry is read, but still)
        raise UsageError(f"sandbox {box.name}: not yours to end (the kernel refused: operation not permitted)") \
            from None
    finally:
        os.close(pidfd)


def open_box_program(box: LiveBox) -> Optional[int]:
    """A pidfd on a registered box's program; None once the box or its program has ended."""
    try:
        init_pidfd = os.pidfd_open(box.pid)
    except ProcessLookupError:
        return None
    try:
        return open_program(box.pid, init_pidfd) if box.alive() else None
    finally:
        os.close(init_pidfd)


def _resident(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def uptime(box: LiveBox) -> float:
    return max(0.0, time.time() - box.started)
