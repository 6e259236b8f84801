"""Sleep forever with every catchable signal blocked and ignored: only the wall time ends it (TLE)."""
import signal
import time

for s in signal.valid_signals():
    try:
        signal.signal(s, signal.SIG_IGN)
    except (OSError, ValueError):
        pass
signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
print("SAFE sleeping with every signal blocked", flush=True)
time.sleep(3600)
print("HOLE woke up")
