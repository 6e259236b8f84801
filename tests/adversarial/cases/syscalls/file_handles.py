"""name_to_handle_at / open_by_handle_at: the "shocker" escape (Docker 2014) opened host files by
brute-forced file handles from inside a container.  Bad pointers / fd -1: EFAULT/EBADF if allowed."""
import ctypes
import os

from probelib import filtered  # bound next to the probe by the harness
AT_FDCWD = -100
filtered("name_to_handle_at(AT_FDCWD, NULL, NULL, NULL, 0)", 303, AT_FDCWD, 0, 0, 0, 0)
filtered("name_to_handle_at(AT_FDCWD, \"/\", NULL, NULL, 0)", 303, AT_FDCWD, ctypes.addressof(ctypes.create_string_buffer(b"/")), 0, 0, 0)
filtered("open_by_handle_at(-1, NULL, O_RDONLY)", 304, -1, 0, 0)
root = os.open("/", os.O_RDONLY)
handle = ctypes.create_string_buffer(8 + 128)
ctypes.memmove(handle, (128).to_bytes(4, "little") + (1).to_bytes(4, "little"), 8)  # handle_bytes, type
filtered("open_by_handle_at(root fd, forged inode-1 handle, O_RDONLY)", 304, root, ctypes.addressof(handle), 0)
