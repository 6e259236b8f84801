"""kill(0, SIGKILL): the caller's process group.  The program is a session leader of its own (the
sandbox called setsid), so its group holds the box's processes only, never the supervisor's."""
import os
import signal

print("SAFE pgid", os.getpgid(0), "sid", os.getsid(0), "pid", os.getpid(), flush=True)
if os.getpgid(0) != os.getpid():
    print("HOLE the program shares a process group it does not lead")
for _ in range(3):
    if os.fork() == 0:
        signal.pause()
os.kill(0, signal.SIGKILL)
