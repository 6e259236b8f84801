"""Kernel keyrings are not namespaced: a key added in the box would land in the caller's user
keyring (CVE-2016-0728 and friends; docker and flatpak filter them).  NULL pointers: EFAULT if allowed."""
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

filtered("add_key(NULL, NULL, NULL, 0, KEY_SPEC_USER_KEYRING)", 248, 0, 0, 0, 0, (-4) & 0xFFFFFFFF)
filtered("request_key(NULL, NULL, NULL, 0)", 249, 0, 0, 0, 0)
filtered("keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0)", 250, 0, -4, 0)
filtered("keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL)", 250, 1, 0)
filtered("keyctl(KEYCTL_READ, -1, NULL, 0)", 250, 11, -1, 0, 0)
