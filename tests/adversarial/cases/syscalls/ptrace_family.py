"""Reaching another process's memory or descriptors: ptrace (PTRACE_TRACEME, attach/seize the init),
process_vm_readv/writev, kcmp, pidfd_getfd.  NULL pointers keep them harmless if they get through."""
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

filtered("ptrace(PTRACE_TRACEME)", 101, 0, 0, 0, 0)
filtered("ptrace(PTRACE_ATTACH, 1)", 101, 16, 1, 0, 0)
filtered("ptrace(PTRACE_SEIZE, 1)", 101, 0x4206, 1, 0, 0)
filtered("ptrace(PTRACE_PEEKDATA, 1, NULL)", 101, 2, 1, 0, 0)
filtered("process_vm_readv(1, NULL, 1, NULL, 1, 0)", 310, 1, 0, 1, 0, 1, 0)
filtered("process_vm_writev(1, NULL, 1, NULL, 1, 0)", 311, 1, 0, 1, 0, 1, 0)
filtered("process_vm_readv(self, NULL, 1, NULL, 1, 0)", 310, os.getpid(), 0, 1, 0, 1, 0)
filtered("kcmp(1, self, KCMP_FILE, 0, 0)", 312, 1, os.getpid(), 0, 0, 0)
filtered("pidfd_getfd(-1, 0, 0)", 438, -1, 0, 0)
ret, err = call(434, 1, 0)  # pidfd_open is allowed: a pidfd of the init is only as strong as kill(1, ...)
if ret >= 0:
    filtered("pidfd_getfd(pidfd of the init, 3, 0)", 438, ret, 3, 0)
    os.close(ret)
filtered("process_madvise(-1, NULL, 0, 0, 0)", 440, -1, 0, 0, 0, 0)
filtered("process_mrelease(-1, 0)", 448, -1, 0)
