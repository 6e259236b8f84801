"""Attack the box's init (PID 1) with signals.  From inside its pid namespace the kernel drops every
signal the init has no handler for, SIGKILL and SIGSTOP included, so none of these may end it, stop
it, or make the sandbox lose the run's record.  Sent one by one, each followed by a liveness check;
SIGINT comes last because the init is a Python process, which installs a SIGINT handler at start."""
import os
import signal
import time


def init_state():
    with open("/proc/1/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


order = [s for s in signal.valid_signals() if s != signal.SIGINT and 0 < s < 65] + [signal.SIGINT]
for signum in order:
    name = signal.Signals(signum).name if signum in signal.Signals._value2member_map_ else f"SIG{signum}"
    try:
        os.kill(1, signum)
    except OSError as e:
        print("SAFE kill(1,", name, ") refused:", e.strerror)
        continue
    time.sleep(0.01)
    state = init_state()
    if state in ("T", "t", "Z", "X"):
        print("HOLE init is in state", state, "after", name)
    else:
        print("SAFE init still running after", name)
pidfd = os.pidfd_open(1)
signal.pidfd_send_signal(pidfd, signal.SIGKILL)
time.sleep(0.01)
print("SAFE init survives pidfd_send_signal(SIGKILL)" if init_state() not in ("Z", "X") else "HOLE init died")
