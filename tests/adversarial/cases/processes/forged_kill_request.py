"""Forge the supervisor's kill request from inside: the init must honour no signal the program can send.

The init once took SIGUSR1 with si_pid == 0 ("from outside the box") as the order to end the box.
rt_sigqueueinfo(2) lets the program pick si_code and si_pid itself (SI_QUEUE, pid 0); and a legacy
signal whose queue entry cannot be allocated (the pending-signal quota drained, or no memory) is
delivered with si_code SI_USER and si_pid 0, so checking si_code as well would not help.  Each attack
is followed by a pause: had the init ended the box, the program would die (SIGKILL) before its SAFE
line, and the run's verdict would not be OK.  Security review item 9 (reproducer 11)."""
import ctypes
import errno
import os
import signal
import time

from probelib import call

SYS_RT_SIGQUEUEINFO = 129  # x86_64
SI_QUEUE = -1
SI_USER = 0


class SigInfo(ctypes.Structure):
    _fields_ = [("signo", ctypes.c_int), ("errno", ctypes.c_int), ("code", ctypes.c_int), ("pad", ctypes.c_int),
                ("pid", ctypes.c_int), ("uid", ctypes.c_uint), ("rest", ctypes.c_byte * 104)]


def queue(pid, signum, code):
    info = SigInfo(signum, 0, code, 0, 0, 0)  # "sent by" pid 0, uid 0: what a sender outside the box looks like
    return call(SYS_RT_SIGQUEUEINFO, pid, signum, ctypes.addressof(info))


def survived(what):
    time.sleep(0.3)  # ample for the init to act on a request (it wakes at once on a signal it waits for)
    print("SAFE the box lives on after", what, flush=True)


ret, err = queue(1, signal.SIGUSR1, SI_QUEUE)
print("rt_sigqueueinfo(1, SIGUSR1, SI_QUEUE, pid 0) ->", ret, errno.errorcode.get(err, err), flush=True)
survived("a forged SI_QUEUE SIGUSR1 from pid 0")

ret, err = queue(1, signal.SIGUSR1, SI_USER)  # the kernel refuses si_code >= 0 from another process
print("rt_sigqueueinfo(1, SIGUSR1, SI_USER, pid 0) ->", ret, errno.errorcode.get(err, err), flush=True)
survived("a forged SI_USER SIGUSR1 from pid 0")

os.kill(1, signal.SIGUSR1)
survived("kill(1, SIGUSR1)")

for _ in range(2000):
    os.kill(1, signal.SIGUSR1)
    queue(1, signal.SIGUSR1, SI_QUEUE)
survived("a flood of 4000 SIGUSR1")

# Drain the pending-signal quota (RLIMIT_SIGPENDING, counted per user): real-time signals queued to
# ourselves, blocked.  A legacy signal queued now loses its siginfo: it arrives as SI_USER from pid 0.
realtime = range(signal.SIGRTMIN, signal.SIGRTMAX + 1)
signal.pthread_sigmask(signal.SIG_BLOCK, realtime)
queued = 0
while queued < 1 << 20:
    ret, err = queue(os.getpid(), signal.SIGRTMIN, SI_QUEUE)
    if ret != 0:
        break
    queued += 1
ret, err = queue(1, signal.SIGUSR1, SI_QUEUE)
print(f"quota drained ({queued} queued); rt_sigqueueinfo(1, SIGUSR1) ->", ret, errno.errorcode.get(err, err),
      flush=True)
survived("a SIGUSR1 queued with the pending-signal quota drained (delivered as SI_USER from pid 0)")
for signum in realtime:  # give the quota back before the run ends
    signal.signal(signum, signal.SIG_IGN)
signal.pthread_sigmask(signal.SIG_UNBLOCK, realtime)
print("SAFE the program ran to its normal end", flush=True)
