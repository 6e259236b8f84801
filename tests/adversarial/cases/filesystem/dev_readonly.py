"""/dev is the box's minimal, fixed set: the program cannot add to it or replace its entries.

Models judge and container tricks that plant or swap /dev entries: replacing the
/dev/stdout or /dev/fd symlinks, or creating /dev/tty, /dev/kmsg or /dev/sda as ordinary
files or symlinks that later programs or the program's own libraries trust (bubblewrap
leaves its /dev tmpfs writable; the box promises a minimal /dev, remounted like its root).
Only /dev/shm is meant to be writable.
"""
import os

for name in ("sbx-planted", "tty", "kmsg", "sda"):
    path = f"/dev/{name}"
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        print("HOLE created", path)
        os.unlink(path)
    except OSError as e:
        print("SAFE cannot create", path, e.strerror)
try:
    os.symlink("/proc/self/fd/0", "/dev/sbx-link")
    print("HOLE created the symlink /dev/sbx-link")
    os.unlink("/dev/sbx-link")
except OSError as e:
    print("SAFE cannot create a symlink in /dev:", e.strerror)
for name in ("stdout", "fd"):
    try:
        os.rename(f"/dev/{name}", f"/dev/{name}.moved")
        print("HOLE renamed /dev/" + name)
        os.rename(f"/dev/{name}.moved", f"/dev/{name}")
    except OSError as e:
        print("SAFE cannot rename /dev/" + name, e.strerror)
try:
    os.mkdir("/dev/pts")
    print("HOLE created /dev/pts")
    os.rmdir("/dev/pts")
except OSError as e:
    print("SAFE cannot create /dev/pts:", e.strerror)
with open("/dev/shm/scratch", "w") as f:
    f.write("ok")
print("SAFE /dev/shm is writable, as documented")
