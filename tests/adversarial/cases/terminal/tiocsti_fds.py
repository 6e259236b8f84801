"""TIOCSTI through every other way of reaching the caller's terminal.

Models the follow-ups to CVE-2017-5226: when fd 0 is guarded, reopen the same
terminal by another name (/proc/self/fd/0, /dev/stdin, /dev/fd/0), duplicate it, or borrow
a descriptor of another process in the box (/proc/1/fd/*, the init's).  Each new
descriptor must meet the same filter.
"""
import ctypes
import errno
import fcntl
import os

libc = ctypes.CDLL(None, use_errno=True)
char = ctypes.c_char(b"x")


def tiocsti(fd, label):
    for high in (0, 0x1_0000_0000):
        ctypes.set_errno(0)
        ret = libc.syscall(16, fd, ctypes.c_ulong(0x5412 | high), ctypes.byref(char))
        err = ctypes.get_errno()
        if ret == -1 and err == errno.ENOSYS:
            print("SAFE TIOCSTI", label, hex(0x5412 | high), "filtered")
        else:
            print("HOLE TIOCSTI", label, hex(0x5412 | high), f"ret={ret} {errno.errorcode.get(err, err)}")


fds = {"dup(0)": os.dup(0), "fcntl F_DUPFD": fcntl.fcntl(0, fcntl.F_DUPFD, 100)}
for path in ("/proc/self/fd/0", "/dev/stdin", "/dev/fd/0", "/proc/2/fd/0", "/proc/thread-self/fd/0"):
    for flags in (os.O_RDWR, os.O_WRONLY, os.O_RDONLY):
        try:
            fds[f"{path} flags={flags}"] = os.open(path, flags | os.O_NOCTTY)
            break
        except OSError as e:
            print("SAFE cannot reopen", path, e.strerror)
for label, fd in fds.items():
    tiocsti(fd, label)
for n in range(0, 16):
    try:
        fd = os.open(f"/proc/1/fd/{n}", os.O_RDWR | os.O_NOCTTY)
        print("HOLE opened the init's fd", n)
        tiocsti(fd, f"/proc/1/fd/{n}")
    except OSError:
        pass
print("SAFE none of the init's descriptors can be opened")
