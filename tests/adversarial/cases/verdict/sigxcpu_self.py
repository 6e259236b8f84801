"""Raise SIGXCPU on ourselves after a few milliseconds of CPU.  The kernel sends SIGXCPU only when the
soft RLIMIT_CPU is reached, so a death by SIGXCPU with a measured CPU time far below the limit is the
program's own doing: the honest verdict is RE (killed by SIGXCPU), not TLE with limit cpu_time.
A judge that takes TLE at its word would be told a limit was exceeded that never was."""
import os
import signal

print("SAFE raising SIGXCPU at ~0.02 s of CPU under a 5 s limit", flush=True)
os.kill(os.getpid(), signal.SIGXCPU)
