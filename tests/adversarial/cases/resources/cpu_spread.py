"""CPU time spread over processes that are never reaped: two workers each burn 0.8 s (under their own
one-second RLIMIT_CPU), hand their result over a pipe and then sleep; the program prints and exits,
the box's namespace dies and the workers with it, before anyone reaps them, so their CPU time is in
no rusage.  Without cgroups this is an ACCEPTED LIMITATION (SECURITY.md: CPU time is counted per
process): the run is OK with --cpu-time 1 although ~1.6 s of CPU were used; the wall time still
bounds it.  The cgroup tier's cpu_spread_vm expects TLE (cpu.stat covers the whole box)."""
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
print(f"SAFE workers finished {results}; wall time bounds the total (per-process RLIMIT_CPU: accepted without cgroups)")
