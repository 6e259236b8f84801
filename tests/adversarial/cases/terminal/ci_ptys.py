"""In ci, whose /dev/pts is a devpts of the box's own, no host pseudo-terminal, console or
virtual terminal is reachable, and the ptys the box opens are numbered in its own instance.

Models container escapes through a shared devpts (runc/LXC before newinstance: /dev/ptmx or
/dev/pts/N of the host reached other users' sessions) and console devices.  The box may open
ptys (os.openpty(), as bare test suites do); a fresh instance starts empty, so the box's first
pty is number 0 and /dev/pts lists nothing but ptmx and the box's own.  TIOCSTI stays filtered
on them too, and no other devpts can be mounted.
"""
import ctypes
import errno
import os

before = sorted(os.listdir("/dev/pts"))
print("SAFE" if before == ["ptmx"] else "HOLE", "/dev/pts before any pty of ours:", before)
main, tty = os.openpty()
name = os.ttyname(tty)
print("SAFE" if name == "/dev/pts/0" else "HOLE", "our first pty:", name)
print("SAFE" if sorted(os.listdir("/dev/pts")) == ["0", "ptmx"] else "HOLE", "/dev/pts:", os.listdir("/dev/pts"))
for path in ("/dev/pts/1", "/dev/console", "/dev/tty0", "/dev/tty1", "/dev/ttyS0", "/dev/vcs", "/dev/vcsa", "/dev/hvc0"):
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK))
        print("HOLE opened", path)
    except OSError as e:
        print("SAFE", path, e.strerror)
libc = ctypes.CDLL(None, use_errno=True)
for fd in (tty, main):
    ctypes.set_errno(0)
    ret = libc.syscall(16, fd, ctypes.c_ulong(0x5412), ctypes.c_char_p(b"x"))  # TIOCSTI
    err = ctypes.get_errno()
    print("SAFE" if err == errno.ENOSYS else "HOLE", "TIOCSTI on our own pty:", ret, errno.errorcode.get(err, err))
ctypes.set_errno(0)
libc.syscall(165, None, None, None, 0, None)  # mount(NULL, NULL, ...): EFAULT if it passes the filter
err = ctypes.get_errno()
print("SAFE" if err == errno.ENOSYS else "HOLE", "mount (for another devpts):", errno.errorcode.get(err, err))
