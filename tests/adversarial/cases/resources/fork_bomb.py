"""A counted fork bomb under --pids 16: every child sleeps, we fork until the kernel refuses (EAGAIN
from RLIMIT_NPROC, counted in the box's own user namespace; with cgroup v2, from pids.max over every
process and thread of the box).  More than the limit must never exist."""
import os
import time

LIMIT = 16
children = []
try:
    while len(children) < 10 * LIMIT:
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        children.append(pid)
    print("HOLE forked", len(children), "children under --pids", LIMIT)
except OSError as e:
    alive = len([p for p in os.listdir("/proc") if p.isdigit()])
    print("SAFE" if len(children) <= LIMIT else "HOLE", "fork refused after", len(children), "children:", e.strerror,
          f"({alive} processes in the box)")
