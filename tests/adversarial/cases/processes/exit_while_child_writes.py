"""The program exits while a child (in its own session, ignoring SIGHUP and SIGPIPE) keeps writing to
the inherited stdout and stderr.  The run must end when the program does, not at the wall time:
the box's pid namespace dies with the init, so the writers die and the pipes reach EOF (a supervisor
that waited for EOF on its own would hang here until the wall time and call it TLE)."""
import os
import signal
import time

if os.fork() == 0:
    os.setsid()
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    while True:
        try:
            os.write(1, b"SAFE orphan still writing\n")
            os.write(2, b"orphan on stderr\n")
        except OSError:
            pass
        time.sleep(0.01)
time.sleep(0.2)
print("SAFE the program exits while its child writes", flush=True)
os._exit(0)
