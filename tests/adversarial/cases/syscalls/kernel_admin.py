"""Host administration and privileged CPU state: reboot, kexec, modules, swap, acct, quotas, sysfs,
syslog, clocks, hostname, iopl/ioperm (port I/O), modify_ldt (CVE-2015-5157/CVE-2017-17053 territory),
personality (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC), setuid-family, capset, seccomp itself, NUMA and
page migration, fanotify, AIO, vmsplice.  Bad arguments throughout: EINVAL/EFAULT/EBADF if allowed."""
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

filtered("reboot(bad magic)", 169, 0, 0, 0, 0)
filtered("kexec_load(0, 0, NULL, 0)", 246, 0, 0, 0, 0)
filtered("kexec_file_load(-1, -1, 0, NULL, 0)", 320, -1, -1, 0, 0, 0)
filtered("init_module(NULL, 0, NULL)", 175, 0, 0, 0)
filtered("finit_module(-1, NULL, 0)", 313, -1, 0, 0)
filtered("delete_module(NULL, 0)", 176, 0, 0)
filtered("swapon(NULL, 0)", 167, 0, 0)
filtered("swapoff(NULL)", 168, 0)
filtered("acct(bad pointer)", 163, 1)
filtered("quotactl(0, NULL, 0, NULL)", 179, 0, 0, 0, 0)
filtered("quotactl_fd(-1, 0, 0, NULL)", 443, -1, 0, 0, 0)
filtered("sysfs(3)", 139, 3)
filtered("sysfs(99)", 139, 99)
filtered("syslog(SYSLOG_ACTION_READ_ALL, NULL, 0)", 103, 3, 0, 0)
filtered("settimeofday(NULL, NULL)", 164, 0, 0)
filtered("clock_settime(CLOCK_REALTIME, NULL)", 227, 0, 0)
filtered("adjtimex(NULL)", 159, 0)
filtered("clock_adjtime(CLOCK_REALTIME, NULL)", 305, 0, 0)
filtered("sethostname(NULL, 1)", 170, 0, 1)
filtered("setdomainname(NULL, 1)", 171, 0, 1)
filtered("iopl(3)", 172, 3)
filtered("iopl(99)", 172, 99)
filtered("ioperm(0x80, 1, 1)", 173, 0x80, 1, 1)
filtered("modify_ldt(1, NULL, 16)", 154, 1, 0, 16)
filtered("modify_ldt(0, NULL, 0)", 154, 0, 0, 0)
filtered("personality(query)", 135, 0xFFFFFFFF)
filtered("personality(ADDR_NO_RANDOMIZE)", 135, 0x0040000)
filtered("personality(READ_IMPLIES_EXEC | ADDR_NO_RANDOMIZE | MMAP_PAGE_ZERO)", 135, 0x0400000 | 0x0040000 | 0x0100000)
filtered("personality(PER_LINUX32 | junk)", 135, 0xFFFF0008)
filtered("vhangup()", 153)
filtered("setuid(0)", 105, 0)
filtered("setgid(0)", 106, 0)
filtered("setresuid(0, 0, 0)", 117, 0, 0, 0)
filtered("setgroups(1, NULL)", 116, 1, 0)
filtered("setfsuid(0)", 122, 0)
filtered("capset(NULL, NULL)", 126, 0, 0)
filtered("seccomp(SECCOMP_SET_MODE_FILTER, 0, NULL)", 317, 1, 0, 0)
filtered("seccomp(SECCOMP_GET_NOTIF_SIZES, 0, NULL)", 317, 3, 0, 0)
filtered("mbind(NULL, 0, 0, NULL, 0, 0)", 237, 0, 0, 0, 0, 0, 0)
filtered("set_mempolicy(99, NULL, 0)", 238, 99, 0, 0)
filtered("migrate_pages(1, 0, NULL, NULL)", 256, 1, 0, 0, 0)
filtered("move_pages(1, 1, NULL, NULL, NULL, 0)", 279, 1, 1, 0, 0, 0, 0)
filtered("fanotify_init(0, 0)", 300, 0, 0)
filtered("io_setup(1, NULL)", 206, 1, 0)
filtered("vmsplice(-1, NULL, 0, 0)", 278, -1, 0, 0, 0)
filtered("remap_file_pages(NULL, 0, 0, 0, 0)", 216, 0, 0, 0, 0, 0)
filtered("memfd_secret(junk flags)", 447, 0xFFFF)
filtered("landlock_create_ruleset(NULL, 0, 99)", 444, 0, 0, 99)
filtered("ioprio_set(1, 1, 0)", 251, 1, 1, 0)
filtered("setpriority(PRIO_PROCESS, 1, -20)", 141, 0, 1, -20)
filtered("sched_setscheduler(1, SCHED_FIFO, NULL)", 144, 1, 1, 0)
filtered("mknod(NULL, 0, 0) (mknodat is the allowed one)", 133, 0, 0, 0)
filtered("lookup_dcookie(0, NULL, 0)", 212, 0, 0, 0)
filtered("bpf with junk in the high half of the number", 321 | (1 << 32), 0, 0, 0)
