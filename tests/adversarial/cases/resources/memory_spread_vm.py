"""Memory spread over processes with cgroup v2: four children each touch 40 MiB under --memory 64M.
memory.max covers the whole box, so the OOM killer ends it (memory.oom.group: all of it): MLE.
The host tier's memory_spread shows the same program passing a per-process RLIMIT_AS."""
import os
import time

pipes = []
for _ in range(4):
    r, w = os.pipe()
    if os.fork() == 0:
        block = bytearray(40 << 20)
        os.write(w, b"y")
        time.sleep(60)
        os._exit(0)
    pipes.append(r)
held = sum(os.read(r, 1) == b"y" for r in pipes)
print(f"HOLE {held} processes hold 40 MiB each under a 64 MiB box")
time.sleep(60)
