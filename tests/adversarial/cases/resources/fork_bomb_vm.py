"""A counted fork bomb under --pids 16 with cgroup v2: pids.max over every process and thread of the
box refuses the 17th (EAGAIN).  More than the limit must never exist."""
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
