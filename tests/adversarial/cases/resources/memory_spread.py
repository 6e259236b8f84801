"""Memory spread over processes: four children each hold 40 MiB under --memory 64M.  Without cgroups
RLIMIT_AS is per process, so this runs (160 MiB in all): an accepted limitation, stated in SECURITY.md
and in `enforced_by` ("RLIMIT_AS (per process address space)").  The pids limit bounds the total.
The cgroup tier's memory_spread_vm expects MLE for the same program."""
import os
import time

import json  # noqa: F401  (as a judge's program would: imports count against the address space)

pipes = []
for _ in range(4):
    r, w = os.pipe()
    if os.fork() == 0:
        try:
            block = bytearray(40 << 20)
            os.write(w, b"y")
        except MemoryError:
            os.write(w, b"n")
        time.sleep(30)
        os._exit(0)
    pipes.append(r)
held = sum(os.read(r, 1) == b"y" for r in pipes)
print(f"SAFE {held} processes hold 40 MiB each: per-process RLIMIT_AS (accepted without cgroups; "
      f"enforced_by says so)")
