"""PID namespace: the box's tiny init.  Side: child (PID 1 of the box).

The program is never PID 1: a PID 1 ignores default-action signals sent from
inside its namespace, so abort(), raise(SIGTERM) and SIGXCPU would be lost.
The init runs the program as its child, reaps every orphan, adds up their CPU
time, and exits when the program exits; the kernel then kills everything left
in the namespace.

The init takes signals only through sigwaitinfo(), never through handlers, so it
can tell who sent one: a kill request (SIGUSR1) counts only from outside the box
(the sender's pid reads as 0 in here), and every other signal the program sends
its init is dropped, as the kernel drops default-action signals to a PID 1.
Man pages: pid_namespaces(7), sigwaitinfo(2).
"""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

KILL_REQUEST = signal.SIGUSR1
_WAITED = {signal.SIGCHLD, KILL_REQUEST}


@dataclass
class ProgramExit:
    wait_status: int
    user_time: float
    system_time: float
    max_rss: int  # bytes, the largest of any reaped process
    wall_time: float


def reset_signals() -> None:
    """Every signal to its default action and unblocked.  Python installs a SIGINT handler and
    ignores SIGPIPE and SIGXFSZ; an ignored signal would stay ignored across execve.  Python
    knows every disposition (read at start, tracked since), so only the changed ones cost a call."""
    for signum in signal.valid_signals():
        if signum in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            if signal.getsignal(signum) != signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # signals reserved by the C library
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def become_init() -> None:
    """Default actions, and the two signals the init waits for blocked, so they queue for
    sigwaitinfo() instead of running a handler."""
    reset_signals()
    signal.pthread_sigmask(signal.SIG_BLOCK, _WAITED)


def reap_until(target: int, started: float) -> ProgramExit:
    """Reap children until `target` exits; account every reaped process's usage."""
    user = system = 0.0
    max_rss = 0
    while True:
        info = signal.sigwaitinfo(_WAITED)
        if info.si_signo == KILL_REQUEST:
            if info.si_pid == 0:  # from the supervisor: outside the box
                os.kill(-1, signal.SIGKILL)  # from PID 1: every process of the namespace but itself
            continue
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                pid = 0
            if pid == 0:
                break
            user += usage.ru_utime
            system += usage.ru_stime
            max_rss = max(max_rss, usage.ru_maxrss * 1024)
            if pid == target:
                return ProgramExit(status, user, system, max_rss, time.monotonic() - started)
