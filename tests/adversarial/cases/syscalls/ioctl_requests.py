"""ioctl is allowed only for a handful of terminal queries, compared on the low 32 bits (the kernel
reads `unsigned int cmd`).  Every other request number must get ENOSYS, also with junk in the high
half.  fd -1: a request that passed the filter would fail with EBADF (a HOLE)."""
import errno

from probelib import call, filtered  # bound next to the probe by the harness

REQUESTS = {
    "TIOCSTI": 0x5412, "TIOCLINUX": 0x541C, "TIOCSCTTY": 0x540E, "TIOCSETD (line discipline)": 0x5423,
    "TIOCCONS": 0x541D, "TCSETS": 0x5402, "TIOCSWINSZ": 0x5414, "TIOCSPGRP": 0x5410, "TIOCNOTTY": 0x5422,
    "TIOCSSERIAL": 0x541F, "TIOCGSERIAL": 0x541E, "TIOCSBRK": 0x5427, "TIOCVHANGUP": 0x5437,
    "TIOCGPTPEER": 0x5441, "TIOCSIG": 0x40045436, "KDSETMODE": 0x4B3A, "KDGKBENT": 0x4B46, "VT_ACTIVATE": 0x5606,
    "FIBMAP": 1, "FIFREEZE": 0xC0045877, "FITRIM": 0xC0185879, "FICLONE": 0x40049409,
    "FS_IOC_GETFLAGS": 0x80086601, "FS_IOC_SETFLAGS": 0x40086602, "BLKGETSIZE64": 0x80081272,
    "BLKROSET": 0x125D, "SIOCGIFCONF": 0x8912, "SIOCSIFFLAGS": 0x8914, "SIOCADDRT": 0x890B,
    "TUNSETIFF": 0x400454CA, "NS_GET_PARENT": 0xB702, "NS_GET_USERNS": 0xB701, "PERF_EVENT_IOC_ENABLE": 0x2400,
    "USERFAULTFD UFFDIO_API": 0xC018AA3F, "LOOP_CTL_GET_FREE": 0x4C82, "SECCOMP_IOCTL_NOTIF_RECV": 0xC0502100,
    "FIOASYNC": 0x5452, "FIOQSIZE": 0x5460, "FIGETBSZ": 2,
}
for name, request in REQUESTS.items():
    filtered(f"ioctl(-1, {name} {request:#x})", 16, -1, request, 0)
for high in (1 << 32, 0xFFFFFFFF << 32, 0x5401 << 32, 0x5413 << 32):  # an allowed number in the HIGH half
    filtered(f"ioctl(-1, TIOCSTI | {high:#x})", 16, -1, high | 0x5412, 0)
    filtered(f"ioctl(-1, TIOCSETD | {high:#x})", 16, -1, high | 0x5423, 0)
# Allowed by design: TCGETS and friends only describe a descriptor.  Through the filter they fail
# with EBADF on fd -1, as they should; with junk in the high half they stay the same harmless query.
for name, request in (("TCGETS", 0x5401), ("TIOCGWINSZ", 0x5413), ("FIONREAD", 0x541B),
                      ("TCGETS with high junk", (0xDEAD << 32) | 0x5401)):
    ret, err = call(16, -1, request, 0)
    print("SAFE" if err == errno.EBADF else "HOLE", f"allowed query {name} on fd -1: {errno.errorcode.get(err, err)}")
