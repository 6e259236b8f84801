"""Die of SIGKILL by our own hand: that is RE with signal 9 and exit_code null, never TLE or MLE (no
limit was near: the box's time and memory are tiny)."""
import os
import signal

print("SAFE killing myself with SIGKILL", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
