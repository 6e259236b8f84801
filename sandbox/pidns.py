"""PID namespace: the box's tiny init.  Side: child (PID 1 of the box).

The program is never PID 1: a PID 1 ignores default-action signals sent from
inside its namespace, so abort(), raise(SIGTERM) and SIGXCPU would be lost.
The init runs the program as its child, reaps every orphan, adds up their CPU
time, and exits when the program exits; the kernel then kills everything left
in the namespace.  Man page: pid_namespaces(7).
"""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass


@dataclass
class ProgramExit:
    wait_status: int
    user_time: float
    system_time: float
    max_rss: int  # bytes, the largest of any reaped process
    wall_time: float


def _kill_everything(signum: int, frame: object) -> None:
    """SIGUSR1 from the supervisor (through the proxy): end the whole box now."""
    os.kill(-1, signal.SIGKILL)  # from PID 1: every process of the namespace but itself


def arm_kill_switch() -> None:
    signal.signal(signal.SIGUSR1, _kill_everything)


def reap_until(target: int, started: float) -> ProgramExit:
    """Reap children until `target` exits; account every reaped process's usage."""
    user = system = 0.0
    max_rss = 0
    while True:
        pid, status, usage = os.wait4(-1, 0)
        user += usage.ru_utime
        system += usage.ru_stime
        max_rss = max(max_rss, usage.ru_maxrss * 1024)
        if pid == target:
            return ProgramExit(status, user, system, max_rss, time.monotonic() - started)
