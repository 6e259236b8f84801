"""Terminal ioctls outside the allowlist are filtered, whatever their high 32 bits hold.

Models: TIOCSTI/TIOCLINUX input injection (CVE-2017-5226 bubblewrap, CVE-2016-7545 SELinux
sandbox, CVE-2019-10063 flatpak: a seccomp rule compared 64 bits, so junk in the high half
slipped TIOCSTI through), TIOCCONS (redirect the console), TIOCSETD (line disciplines:
CVE-2017-2636 n_hdlc, CVE-2019-11815-style ldisc bugs), TIOCSCTTY (steal a terminal as the
controlling tty), console/VT ioctls (KDSKBMODE, VT_ACTIVATE) and TIOCGPTPEER.

Each call uses a descriptor that is not open: a call the filter lets through fails with
EBADF (HOLE); a filtered one gets ENOSYS (SAFE).  Nothing real happens either way.
"""
import ctypes
import errno

libc = ctypes.CDLL(None, use_errno=True)
SYS_ioctl = 16
BAD_FD = 0x7FFF
REQUESTS = {
    "TCSETS": 0x5402, "TCSETSW": 0x5403, "TCSETSF": 0x5404, "TCSBRK": 0x5409, "TCXONC": 0x540A,
    "TCFLSH": 0x540B, "TIOCEXCL": 0x540C, "TIOCNXCL": 0x540D, "TIOCSCTTY": 0x540E, "TIOCSPGRP": 0x5410,
    "TIOCSTI": 0x5412, "TIOCSWINSZ": 0x5414, "TIOCMSET": 0x5418, "TIOCSSOFTCAR": 0x541A,
    "TIOCLINUX": 0x541C, "TIOCCONS": 0x541D, "TIOCSSERIAL": 0x541F, "TIOCPKT": 0x5420,
    "TIOCNOTTY": 0x5422, "TIOCSETD": 0x5423, "TIOCSBRK": 0x5427, "TIOCSPTLCK": 0x40045431,
    "TIOCSIG": 0x40045436, "TIOCVHANGUP": 0x5437, "TIOCGPTPEER": 0x5441, "TIOCSLCKTRMIOS": 0x5457,
    "FIOASYNC": 0x5452, "TIOCSERCONFIG": 0x5453, "KDSETMODE": 0x4B3A, "KDSKBMODE": 0x4B45,
    "KDSIGACCEPT": 0x4B4E, "VT_ACTIVATE": 0x5606, "VT_SETMODE": 0x5602, "TIOCSRS485": 0x542F,
}
HIGH = (0, 0x1_0000_0000, 0xFFFF_FFFF_0000_0000)

for name, request in REQUESTS.items():
    for high in HIGH:
        ctypes.set_errno(0)
        ret = libc.syscall(SYS_ioctl, BAD_FD, ctypes.c_ulong(request | high), None)
        err = ctypes.get_errno()
        label = f"{name} {request | high:#x}"
        if ret == -1 and err == errno.ENOSYS:
            print("SAFE", label, "filtered")
        else:
            print("HOLE", label, f"passed the filter: ret={ret} {errno.errorcode.get(err, err)}")
