"""The box has no controlling terminal and cannot acquire the caller's.

Models CVE-2017-5226 (bubblewrap) and CVE-2016-7545 (SELinux sandbox): the sandboxed
program shared the caller's session, so TIOCSTI on its terminal pushed commands into the
caller's shell.  The box runs in a new session (setsid); the harness gives it the caller's
pseudo-terminal as stdin.  A program would try: /dev/tty, TIOCSCTTY on stdin to make the
caller's pty its controlling terminal, tcsetpgrp/tcsetattr on it, then TIOCSTI.
"""
import ctypes
import errno
import os

libc = ctypes.CDLL(None, use_errno=True)


def ioctl(fd, request, arg=None):
    ctypes.set_errno(0)
    ret = libc.syscall(16, fd, ctypes.c_ulong(request), arg)
    return ret, ctypes.get_errno()


print("SAFE" if os.getsid(0) == os.getpid() else "HOLE", "the program leads its own session:",
      os.getsid(0), os.getpid())
try:
    os.close(os.open("/dev/tty", os.O_RDWR))
    print("HOLE /dev/tty opened: the box has a controlling terminal")
except OSError as e:
    print("SAFE /dev/tty:", e.strerror)
with open("/proc/self/stat") as f:
    tty_nr = int(f.read().rsplit(")", 1)[1].split()[4])
print("SAFE" if tty_nr == 0 else "HOLE", "tty_nr in /proc/self/stat:", tty_nr)

print("SAFE" if os.isatty(0) else "HOLE", "stdin is the harness's terminal (isatty; TCGETS is allowed)")
char = ctypes.c_char(b"x")
for label, request, arg in (("TIOCSCTTY", 0x540E, None), ("TIOCSPGRP", 0x5410, ctypes.byref(ctypes.c_int(os.getpgrp()))),
                            ("TCSETS", 0x5402, None), ("TIOCSTI", 0x5412, ctypes.byref(char))):
    ret, err = ioctl(0, request, arg)
    if ret == -1 and err == errno.ENOSYS:
        print("SAFE", label, "on the caller's terminal: filtered")
    else:
        print("HOLE", label, f"on the caller's terminal: ret={ret} {errno.errorcode.get(err, err)}")
try:
    os.close(os.open("/dev/tty", os.O_RDWR))
    print("HOLE /dev/tty opened after TIOCSCTTY")
except OSError as e:
    print("SAFE /dev/tty after TIOCSCTTY:", e.strerror)
