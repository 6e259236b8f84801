"""SIGUSR1 was once the init's kill switch, honoured only "from outside the box".  The init now honours
no signal at all (the supervisor ends a box by killing the program), so the program pulling the old
switch, and the usual termination signals, must change nothing: it lives on, and so does init.
forged_kill_request.py forges the switch's "from outside" siginfo too."""
import os
import signal
import time

for signum in (signal.SIGUSR1, signal.SIGUSR1, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    os.kill(1, signum)
time.sleep(0.5)
alive = os.path.exists("/proc/1")
print("SAFE the program outlived its own kill requests" if alive else "HOLE the init died")
