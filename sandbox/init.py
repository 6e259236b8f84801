"""PID namespace: the box's tiny init.  Side: child (PID 1 of the box).

The program is never PID 1: a PID 1 ignores default-action signals sent from
inside its namespace, so abort(), raise(SIGTERM) and SIGXCPU would be lost.
The init runs the program as its child, reaps every orphan, adds up their CPU
time, and exits when the program exits; the kernel then kills everything left
in the namespace.

The init honours no signal.  It blocks and waits (sigwaitinfo) only for SIGCHLD,
which at most makes it call wait4(WNOHANG): a forged one finds nothing to reap.
Every other signal stays at its default action and unblocked, and the kernel
drops those for a pid namespace's init, from inside the box and from outside
alike, except SIGKILL (and SIGSTOP) sent from an ancestor namespace.  A signal's
siginfo cannot tell the supervisor from the program: rt_sigqueueinfo(2) lets the
program write si_code and si_pid itself, and a legacy signal whose queue entry
cannot be allocated arrives as SI_USER from pid 0.  So the supervisor ends a box
without asking the init: cgroup.kill, or SIGKILL to the program (boxprocs.end_box);
the init then reaps it, reports and exits, and the kernel ends the rest.
Man pages: pid_namespaces(7), sigwaitinfo(2), rt_sigqueueinfo(2).
"""
from __future__ import annotations

import os
import signal
import time

from ._record import dataclass

_WAITED = {signal.SIGCHLD}


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
    """Default actions everywhere (the kernel drops those for an init), and SIGCHLD blocked so
    it queues for sigwaitinfo() instead of running a handler."""
    reset_signals()
    signal.pthread_sigmask(signal.SIG_BLOCK, _WAITED)


def reap_until(target: int, started: float) -> ProgramExit:
    """Reap children until `target` exits; account every reaped process's usage.  Whoever sent
    the SIGCHLD (a child's exit, or the program forging one) changes nothing but when we look."""
    user = system = 0.0
    max_rss = 0
    while True:
        signal.sigwaitinfo(_WAITED)
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
