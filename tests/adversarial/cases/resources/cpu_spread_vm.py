"""CPU time spread over unreaped workers with cgroup v2: two workers each burn 0.8 s, hand over their
result and sleep; the program waits for more.  cpu.stat covers every process of the box, watched by
the supervisor, so 1.6 s of CPU in all passes --cpu-time 1: TLE (cpu_time).  The host tier's
cpu_spread is its twin without cgroups (the supervisor watches /proc there)."""
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
print("HOLE workers burnt 1.9 s of CPU under --cpu-time 1:", results)
