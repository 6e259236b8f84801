"""Read what the box's init reveals in the files any process may read: cmdline, status, stat.

Models reconnaissance through a sandbox helper that stays visible inside the box
(bubblewrap's pid 1, nsjail's and firejail's init; isolate submissions reading the
keeper's /proc entry): its command line can carry host paths (where the sandbox, the
caller's checkout or home lives) and host pids, which the program must not learn.  Any
absolute path in those files that does not exist in the box, or the host pid given as
the sentinel, is a host leak.
"""
import os
import re

me = str(os.getpid())
for path in ("/proc/1/cmdline", "/proc/1/comm", "/proc/1/status", "/proc/1/stat", "/proc/1/sched",
             f"/proc/{me}/cmdline"):
    try:
        with open(path, "rb") as f:
            text = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError as e:
        print("SAFE", path, e.strerror)
        continue
    host_paths = sorted({p for p in re.findall(r"(?<![\w.])/[\w.+-]+(?:/[\w.+-]+)*", text) if not os.path.exists(p)})
    print(f"HOLE {path} names host paths: {host_paths}" if host_paths else f"SAFE {path} names no host path")
with open("/proc/1/cmdline", "rb") as f:
    words = f.read().split(b"\0")
numbers = [w.decode() for w in words if w.isdigit() and int(w) > 64]
print(f"HOLE /proc/1/cmdline carries numbers that look like host pids: {numbers}" if numbers
      else "SAFE /proc/1/cmdline carries no host pid")
