"""No host pseudo-terminal, console or virtual terminal is reachable.

Models container escapes through a shared devpts (runc/LXC before newinstance: opening
/dev/ptmx or /dev/pts/N of the host reached other users' sessions; CVE-2016-9962-style
console fds) and console devices (/dev/console, /dev/tty0..., /dev/vcs* for reading screen
contents).  Also a fresh devpts cannot be mounted (mount is filtered).
"""
import ctypes
import errno
import os

for path in ("/dev/ptmx", "/dev/pts", "/dev/pts/ptmx", "/dev/pts/0", "/dev/pts/1", "/dev/console", "/dev/tty",
             "/dev/tty0", "/dev/tty1", "/dev/ttyS0", "/dev/vcs", "/dev/vcsa", "/dev/vcs1", "/dev/hvc0"):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        os.close(fd)
        print("HOLE opened", path)
    except OSError as e:
        print("SAFE", path, e.strerror)
try:
    master, slave = os.openpty()
    print("HOLE openpty gave", os.ttyname(slave))
except OSError as e:
    print("SAFE openpty:", e.strerror)
libc = ctypes.CDLL(None, use_errno=True)
os.makedirs("/tmp/pts", exist_ok=True)
ctypes.set_errno(0)
ret = libc.syscall(165, None, None, None, 0, None)  # mount(NULL, NULL, ...): EFAULT if it passes the filter
err = ctypes.get_errno()
print("SAFE" if err == errno.ENOSYS else "HOLE", "mount (for a devpts of our own):", errno.errorcode.get(err, err))
ptys = [name for name in os.listdir("/dev") if name.startswith(("pt", "tty", "vcs", "console"))]
print("HOLE terminal nodes in /dev:" if ptys else "SAFE no terminal node in /dev", *ptys)
