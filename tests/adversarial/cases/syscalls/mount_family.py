"""Mounting and changing root: mount, umount2, pivot_root, chroot, the new mount API (fsopen,
fsmount, open_tree, move_mount, fspick, mount_setattr), setns.  In its own user namespace the box
could otherwise remount its read-only root or bind the old root back (runc CVE-2019-5736-style
tricks start here).  NULL pointers / fd -1: EFAULT/EBADF if allowed."""
import ctypes
import os

from probelib import filtered  # bound next to the probe by the harness

filtered("mount(NULL, NULL, NULL, 0, NULL)", 165, 0, 0, 0, 0, 0)
slash = ctypes.create_string_buffer(b"/")
filtered("mount(NULL, \"/\", NULL, MS_REMOUNT, NULL)", 165, 0, ctypes.addressof(slash), 0, 32, 0)
filtered("umount2(NULL, MNT_DETACH)", 166, 0, 2)
filtered("umount2(\"/\", MNT_DETACH)", 166, ctypes.addressof(slash), 2)
filtered("pivot_root(NULL, NULL)", 155, 0, 0)
filtered("chroot(NULL)", 161, 0)
filtered("open_tree(-1, NULL, 0)", 428, -1, 0, 0)
filtered("move_mount(-1, NULL, -1, NULL, 0)", 429, -1, 0, -1, 0, 0)
filtered("fsopen(NULL, 0)", 430, 0, 0)
filtered("fsconfig(-1, 0, NULL, NULL, 0)", 431, -1, 0, 0, 0, 0)
filtered("fsmount(-1, 0, 0)", 432, -1, 0, 0)
filtered("fspick(-1, NULL, 0)", 433, -1, 0, 0)
filtered("mount_setattr(-1, NULL, 0, NULL, 0)", 442, -1, 0, 0, 0, 0)
filtered("setns(-1, 0)", 308, -1, 0)
for ns in ("mnt", "user", "net", "pid"):
    fd = os.open(f"/proc/self/ns/{ns}", os.O_RDONLY)
    filtered(f"setns(own {ns} namespace)", 308, fd, 0)
    os.close(fd)
try:
    os.chroot("/tmp")
    print("HOLE os.chroot succeeded")
except OSError as e:
    print("SAFE os.chroot:", e.strerror)
