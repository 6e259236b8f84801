"""A box's processes as the host sees them: who they are, the CPU time they used, its program found,
and the box ended, from outside.  Side: parent.

The supervisor (a deadline, the output limit) and `sandbox kill` end a box the same way,
without asking its init, which honours no signal (init.py): cgroup.kill where the box has
a cgroup of its own, else SIGKILL to the program, PID 2 of the box, found among the init's
children and held by a pidfd checked after it was opened (a freed pid is never mistaken for it).
Man pages: pidfd_open(2), pidfd_send_signal(2), proc(5) (NSpid).
"""
from __future__ import annotations

import os
import select
import signal
from typing import Optional

from . import cgroup


def end_box(init: int, init_pidfd: int, run_cgroup: Optional[cgroup.AnyRunCgroup], started: bool) -> None:
    """The kill request of the supervisor and of `sandbox kill`: end the program, and with it the box.

    cgroup.kill where the box has a cgroup of its own; else SIGKILL to the program (PID 2 of
    the box), which its init reaps, reports and exits on, the kernel then killing whatever is
    left in the namespace.  No program yet (the box is being set up): SIGKILL to the init.
    A program that has already ended needs nothing: its init is ending the box.
    init, init_pidfd: the box's init, whose pidfd the caller holds (so its pid is not reused).
    """
    if run_cgroup is not None and started:
        run_cgroup.kill()
        return
    program = open_program(init, init_pidfd)
    if program is not None:
        try:
            signal.pidfd_send_signal(program, signal.SIGKILL)
        except ProcessLookupError:
            pass
        finally:
            os.close(program)
    elif not started:
        try:
            signal.pidfd_send_signal(init_pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass


def signal_program(init: int, init_pidfd: int, signum: int) -> bool:
    """Send the box's program a signal (one the caller got, passed on: interrupts.py); False if it is gone."""
    program = open_program(init, init_pidfd)
    if program is None:
        return False
    try:
        signal.pidfd_send_signal(program, signum)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(program)


def open_program(init: int, init_pidfd: int) -> Optional[int]:
    """A pidfd on the box's program (PID 2 inside: the init's first child); None once it is gone.

    Checked again after pidfd_open, and the init still alive then: the pidfd is the program's,
    not a process that took a freed pid (nor the child of one that took the init's)."""
    pid = _program_pid(init)
    if pid is None:
        return None
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    if _program_pid(init) != pid or select.select([init_pidfd], [], [], 0)[0]:
        os.close(pidfd)
        return None
    return pidfd


def _program_pid(init: int) -> Optional[int]:
    """The init's child whose innermost pid is 2, in our pid namespace."""
    for pid in _children(init):
        try:
            with open(f"/proc/{pid}/status") as f:
                nspid = next(l for l in f if l.startswith("NSpid:")).split()
        except (OSError, StopIteration):
            continue
        if nspid[-1] == "2":
            return pid
    return None


def _children(parent: int) -> list[int]:
    return [pid for pid, ppid in process_parents().items() if ppid == parent]


def process_parents() -> dict[int, int]:
    """pid -> parent pid of every process: /proc/PID/status is readable for each (unlike the
    init's /proc/PID/ns: it is not dumpable)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as f:
                    parents[int(entry)] = int(next(l for l in f if l.startswith("PPid:")).split()[1])
            except (OSError, StopIteration, ValueError):
                continue
    return parents


_TICKS = os.sysconf("SC_CLK_TCK")


def box_members(init: int) -> list[int]:
    """The init and its descendants, live or not yet reaped."""
    parents = process_parents()
    members = []
    for pid in parents:
        ancestor = pid
        while ancestor > 1 and ancestor != init:
            ancestor = parents.get(ancestor, 0)
        if ancestor == init:
            members.append(pid)
    return members


def box_cpu_time(init: int, members: Optional[list[int]] = None) -> float:
    """Seconds of CPU the box's processes have used, without a cgroup to ask: every live process's
    own time (all its threads) and that of the children it reaped, and for the init only the
    children's (its own time is ours, the program's is theirs).  A process reaped while this reads
    may be missed or counted twice, once; /proc counts in clock ticks (10 ms)."""
    members = box_members(init) if members is None else members
    return sum(_cpu_ticks(pid, own=pid != init) for pid in members) / _TICKS


def _cpu_ticks(pid: int, own: bool) -> int:
    """cutime + cstime (fields 16, 17 of /proc/PID/stat), and with `own` utime + stime (14, 15)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = ["pid", "comm"] + f.read().rsplit(")", 1)[1].split()  # fields[2] is field 3
    except OSError:
        return 0
    children = int(fields[15]) + int(fields[16])
    return children + (int(fields[13]) + int(fields[14]) if own else 0)
