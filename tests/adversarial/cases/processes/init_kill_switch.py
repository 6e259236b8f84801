"""The init ends the box on SIGUSR1 (the supervisor's kill switch, relayed by the proxy).  The program
can pull it too; it must then only kill itself: the run is recorded as the program's own death by
SIGKILL (RE, no limit), and nothing outside the box is touched (the harness checks the sentinel)."""
import os
import signal
import time

print("SAFE sending SIGUSR1 to the init", flush=True)
os.kill(1, signal.SIGUSR1)
time.sleep(2)
print("HOLE the program outlived the kill switch")
