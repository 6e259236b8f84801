"""The program stops itself (SIGSTOP) after starting a stopped child: a stopped box uses no CPU and
never exits, so the wall time must end it, and SIGKILL must reach stopped processes."""
import os
import signal

if os.fork() == 0:
    os.kill(os.getpid(), signal.SIGSTOP)
    os._exit(0)
print("SAFE stopping myself", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
print("HOLE continued")
