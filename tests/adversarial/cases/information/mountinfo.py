"""Learn the host's layout from the mount table.

Models reconnaissance before an escape: /proc/self/mountinfo of a sloppy sandbox names the
host's devices and directories (the caller's home, the judge's test-data directory, the
pivot leftovers /oldroot and /newroot), which is what the bind-mount escapes of runc and
bubblewrap were aimed at.  The box's table must list only its own mount points, none of them
a host directory of the caller, and none of the host's mounts.

Noted, not a hole: the root field of a bind shows the source path inside its file system
(here, where the probe script lives on the host); every bind-mount sandbox shows it.
"""
import os

EXPECTED = {"/", "/usr", "/bin", "/lib", "/lib64", "/etc/alternatives", "/etc/ld.so.cache", "/etc/localtime", "/proc",
            "/dev", "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/shm", "/tmp", "/work",
            "/work/" + os.path.basename(__file__)}
canary_dir = os.environ["CANARY_DIR"]
with open("/proc/self/mountinfo") as f:
    table = [line.split() for line in f]
points = {fields[4] for fields in table}
unexpected = sorted(points - EXPECTED)
print(f"HOLE unexpected mount points: {unexpected}" if unexpected else f"SAFE {len(points)} mount points, all the box's")
for fields in table:
    root, point = fields[3], fields[4]
    source = fields[fields.index("-") + 2]
    for needle in (canary_dir, "/home", "/root", "/oldroot", "/newroot", "/run/user", "/var/lib/sandbox"):
        if needle in root or needle in point or needle in source:
            print("HOLE", needle, "appears in", " ".join(fields))
    if point.startswith("/work/") and root != "/":
        print("NOTE the bind", point, "shows its host source", root)
print("SAFE no host directory of the caller in /proc/self/mountinfo")
with open("/proc/self/mounts") as f:
    mounts = {line.split()[1] for line in f}
print("SAFE" if mounts == points else "HOLE", "/proc/self/mounts agrees")
try:
    with open("/proc/1/mountinfo") as f:
        init_points = {line.split()[4] for line in f}
    print("SAFE" if init_points == points else "HOLE", "the init sees the same table")
except OSError as e:
    print("SAFE /proc/1/mountinfo:", e.strerror)
