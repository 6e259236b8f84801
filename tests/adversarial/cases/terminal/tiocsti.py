"""Push a command into the caller's terminal with TIOCSTI, also with junk in the high 32 bits."""
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
char = ctypes.c_char(b"x")
for label, request in (("TIOCSTI", 0x5412), ("TIOCSTI with high junk", 0x1_0000_5412), ("TIOCLINUX", 0x541C)):
    for fd in (0, 1, 2):
        ctypes.set_errno(0)
        ret = libc.syscall(16, fd, ctypes.c_ulong(request), ctypes.byref(char))
        err = ctypes.get_errno()
        print(("HOLE" if ret == 0 else "SAFE"), f"{label} on fd {fd}: ret={ret} {os.strerror(err) if err else ''}")
try:
    fd = os.open("/dev/tty", os.O_RDWR)
    print("HOLE /dev/tty opened")
except OSError as e:
    print("SAFE /dev/tty:", e.strerror)
