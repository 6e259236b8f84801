"""CPU time spread over processes that are never reaped: two workers each burn 0.8 s (under their own
per-process RLIMIT_CPU), hand their result over a pipe and then sleep; the program would print and
exit before anyone reaps them, so their CPU time would be in no rusage.  The supervisor watches the
whole box's CPU time (/proc without a cgroup, cpu.stat with one), so the box is ended at 1 s: TLE.
The probe's SAFE line is never printed."""
import os
import time


def burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


pipes = []
for _ in range(2):
    r, w = os.pipe()
    if os.fork() == 0:
        burn(0.8)
        os.write(w, b"done")
        time.sleep(60)
        os._exit(0)
    pipes.append(r)
results = [os.read(r, 4) for r in pipes]
burn(0.3)
print(f"HOLE workers burnt 1.9 s of CPU under --cpu-time 1: {results}")
