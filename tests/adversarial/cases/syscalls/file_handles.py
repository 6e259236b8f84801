"""name_to_handle_at / open_by_handle_at: the "shocker" escape (Docker 2014) opened host files by
brute-forced file handles from inside a container.  Bad pointers / fd -1: EFAULT/EBADF if allowed."""
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
AT_FDCWD = -100
filtered("name_to_handle_at(AT_FDCWD, NULL, NULL, NULL, 0)", 303, AT_FDCWD, 0, 0, 0, 0)
filtered("name_to_handle_at(AT_FDCWD, \"/\", NULL, NULL, 0)", 303, AT_FDCWD, ctypes.addressof(ctypes.create_string_buffer(b"/")), 0, 0, 0)
filtered("open_by_handle_at(-1, NULL, O_RDONLY)", 304, -1, 0, 0)
root = os.open("/", os.O_RDONLY)
handle = ctypes.create_string_buffer(8 + 128)
ctypes.memmove(handle, (128).to_bytes(4, "little") + (1).to_bytes(4, "little"), 8)  # handle_bytes, type
filtered("open_by_handle_at(root fd, forged inode-1 handle, O_RDONLY)", 304, root, ctypes.addressof(handle), 0)
