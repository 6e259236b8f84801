"""Signal a host process: by its pid, to everyone (kill -1), to the process group (kill 0)."""
import os
import signal

sentinel = int(os.environ["SENTINEL_PID"])
try:
    os.kill(sentinel, signal.SIGKILL)
    print("HOLE signalled the sentinel", sentinel)
except OSError as e:
    print("SAFE sentinel", e.strerror)
for pid in range(2, 400):  # guessing host pids: none of them exists in the box's pid namespace
    if pid == os.getpid():
        continue
    try:
        os.kill(pid, 0)
        print("HOLE pid", pid, "is visible")
    except OSError:
        pass
print("SAFE no other pid visible")
signal.signal(signal.SIGTERM, signal.SIG_IGN)
try:
    os.kill(-1, signal.SIGTERM)  # every process this one may signal: here, none but itself and init
    print("SAFE kill(-1) reached only the box")
except ProcessLookupError:
    print("SAFE kill(-1) found no process to signal")
