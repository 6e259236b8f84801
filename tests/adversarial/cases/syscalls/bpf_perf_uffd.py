"""bpf, perf_event_open and userfaultfd: verifier bugs, perf races and the userfaultfd-widened race
windows behind many local privilege escalations.  NULL attributes: EFAULT/EINVAL if allowed."""
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

for cmd, name in ((0, "BPF_MAP_CREATE"), (5, "BPF_PROG_LOAD"), (18, "BPF_BTF_LOAD")):
    filtered(f"bpf({name}, NULL, 0)", 321, cmd, 0, 0)
filtered("perf_event_open(NULL, 0, -1, -1, 0)", 298, 0, 0, -1, -1, 0)
filtered("perf_event_open(NULL, -1, 0, -1, 0) (all processes on cpu 0)", 298, 0, -1, 0, -1, 0)
filtered("userfaultfd(O_CLOEXEC | junk)", 323, 0x80000 | 0x1000000)
filtered("userfaultfd(0)", 323, 0)
try:
    os.open("/dev/userfaultfd", os.O_RDWR)
    print("HOLE /dev/userfaultfd opened")
except OSError as e:
    print("SAFE /dev/userfaultfd:", e.strerror)
