"""io_uring: a whole second system-call interface the filter cannot see into (many kernel CVEs,
and the reason Google disabled it in production).  NULL params / fd -1: EFAULT or EBADF if allowed."""
import ctypes
import errno
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def call(nr, *args):
    """The raw system call; every argument as a 64-bit word.  Returns (ret, errno)."""
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(nr), *(ctypes.c_ulong(a & (2**64 - 1)) for a in args))
    return ret, ctypes.get_errno()


def filtered(label, nr, *args):
    """SAFE when the filter answered ENOSYS; anything else means the call reached the kernel."""
    ret, err = call(nr, *args)
    if ret == -1 and err == errno.ENOSYS:
        print("SAFE", label, "ENOSYS (filtered)")
    else:
        print("HOLE", label, "reached the kernel: ret", ret, errno.errorcode.get(err, err))

filtered("io_uring_setup(1, NULL)", 425, 1, 0)
filtered("io_uring_enter(-1, ...)", 426, -1, 1, 0, 0, 0, 0)
filtered("io_uring_register(-1, ...)", 427, -1, 0, 0, 0)
filtered("io_uring_setup with junk in the high bits", 425, (1 << 32) | 1, 0)
