"""The init ends the box on SIGUSR1, the supervisor's kill request, sent from outside the box.  It reads
its signals with sigwaitinfo() and honours the request only from outside the box (sender pid 0
in here), so the program pulling the switch must change nothing: it lives on, and so does init."""
import os
import signal
import time

for signum in (signal.SIGUSR1, signal.SIGUSR1, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    os.kill(1, signum)
time.sleep(0.5)
alive = os.path.exists("/proc/1")
print("SAFE the program outlived its own kill requests" if alive else "HOLE the init died")
