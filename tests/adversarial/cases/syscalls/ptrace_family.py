"""Reaching another process's memory or descriptors: ptrace (PTRACE_TRACEME, attach/seize the init),
process_vm_readv/writev, kcmp, pidfd_getfd.  NULL pointers keep them harmless if they get through."""
import os

from probelib import call, filtered  # bound next to the probe by the harness

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
