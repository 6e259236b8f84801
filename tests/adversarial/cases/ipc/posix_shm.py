"""POSIX shared memory lives in /dev/shm: the box's own small tmpfs, empty at start, so nothing crosses
from the host or from an earlier run.  We leave a marker behind every run; finding one at start would
mean two runs shared it.  Also: it is nosuid, nodev, noexec, and not the host's /dev/shm."""
import mmap
import os

MARKER = "/dev/shm/sbx-adversarial-marker"
entries = os.listdir("/dev/shm")
print("SAFE /dev/shm is empty at start" if entries == [] else f"HOLE /dev/shm at start holds {entries}")
with open(MARKER, "w") as f:
    f.write(f"left by pid {os.getpid()}\n")
fd = os.open("/dev/shm/sbx-segment", os.O_RDWR | os.O_CREAT, 0o600)  # what shm_open does
os.ftruncate(fd, 4096)
with mmap.mmap(fd, 4096) as m:
    m[:5] = b"hello"
os.close(fd)
print("SAFE shm_open-style segment works inside the box")
flags = os.statvfs("/dev/shm").f_flag
for bit, name in ((os.ST_NOSUID, "nosuid"), (os.ST_NODEV, "nodev"), (os.ST_NOEXEC, "noexec")):
    print("SAFE" if flags & bit else "HOLE", "/dev/shm", name, bool(flags & bit))
with open("/proc/self/mountinfo") as f:
    shm = [line for line in f if " /dev/shm " in line]
print("SAFE /dev/shm is a tmpfs of its own" if shm and "tmpfs" in shm[-1] else f"HOLE /dev/shm mount: {shm}")
for path in ("/dev/mqueue", "/run/shm"):
    print("SAFE absent" if not os.path.exists(path) else "HOLE present", path)
