"""Mount namespace: build a fresh root from an ordered list of operations.  Side: child (the box's init).

The plan is data (as in bubblewrap): a list of MountOp executed in order by one
dumb loop.  The root is an empty tmpfs; nothing of the host is visible that an
operation did not name.  Man pages: mount_namespaces(7), pivot_root(2),
mount_setattr(2), tmpfs(5), proc(5).

Sequence (after bubblewrap): make every mount private, put a scratch tmpfs on
/tmp and pivot into it so the host stays reachable at /oldroot (host paths under
/tmp included), build /newroot from the operations, pivot into it, detach the
host, and remount the root read-only.

An overlay (a writable layer over a read-only host directory, overlayfs(5); unprivileged
in a user namespace since Linux 5.11) keeps its upper and work dirs in a tmpfs of its own
under /layers in the scratch root: the box sees only the merged view, and the layer is
gone with the box's mount namespace.  Overlays are mounted with `userxattr`: unprivileged,
overlayfs cannot set its trusted.overlay.* attributes, and without user.overlay.* ones it
cannot mark a directory opaque, so removing a directory of the lower layer fails with EIO.
A kept layer (a host directory) is locked (flock) for the box's life: overlayfs leaves two
mounts sharing an upper directory undefined.
"""
from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from typing import Optional

from . import _syscalls as sc

SCRATCH = "/tmp"
OLD = "/oldroot"
NEW = "/newroot"
LAYERS = "/layers"  # in the scratch root: overlay upper/work dirs, never visible in the box
DEVICE_NODES = ("null", "zero", "full", "random", "urandom")
DEVICE_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                ("stderr", "/proc/self/fd/2"))
_RO_ATTRS = sc.MOUNT_ATTR_RDONLY | sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NODEV
INODE_BYTES = 4096  # one inode per page of a tmpfs's size
SHM_SIZE = 16 << 20
_TMPFS_FLAGS = sc.MS_NOSUID | sc.MS_NODEV


@dataclass(frozen=True)
class MountOp:
    """One step of building the root.

    kind: bind (source on the host -> target in the box), overlay (source on the host as the
    read-only lower layer, a throwaway tmpfs of `size` as the upper), tmpfs, proc, dev, dir.
    A bind whose source is a symlink is recreated as the same symlink, so merged-/usr
    hosts (/bin -> usr/bin) look the same inside.
    """

    kind: str
    target: str
    source: Optional[str] = None
    readonly: bool = True
    optional: bool = False
    size: Optional[int] = None
    mode: int = 0o755
    upper: Optional[str] = None  # overlay: a host directory keeping the layer (UPPER/upper, UPPER/work)


class MountError(OSError):
    """A mount operation failed; str() names the operation."""


def build_root(ops: tuple[MountOp, ...]) -> None:
    """Replace this mount namespace's root with one built from `ops`."""
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    sc.mount("tmpfs", SCRATCH, "tmpfs", _TMPFS_FLAGS, _tmpfs_options(64 << 10, 0o755))
    os.chdir(SCRATCH)
    os.mkdir("oldroot")
    os.mkdir("newroot")
    sc.pivot_root(".", "oldroot")
    os.chdir("/")
    sc.mount("tmpfs", NEW, "tmpfs", _TMPFS_FLAGS, _tmpfs_options(1 << 20, 0o755))
    for op in ops:
        try:
            _apply(op)
        except OSError as e:
            raise MountError(e.errno, f"{op.kind} {op.source or ''} -> {op.target}: {e.strerror}") from None
    os.chdir(NEW)
    sc.pivot_root(".", ".")  # the scratch root (holding /oldroot) is now stacked under "/"
    sc.umount_detach(".")
    os.chdir("/")
    sc.mount_setattr("/", _RO_ATTRS, recursive=False)


def _tmpfs_options(size: Optional[int], mode: int) -> str:
    """size= caps the blocks; nr_inodes= caps empty files, which cost kernel memory but no blocks."""
    if size is None:
        return f"mode={mode:o}"
    return f"size={size},nr_inodes={max(1024, size // INODE_BYTES)},mode={mode:o}"


def _inside(target: str) -> str:
    return NEW + target


def _make_mountpoint(path: str, is_dir: bool) -> None:
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    if is_dir:
        os.makedirs(path, mode=0o755, exist_ok=True)
    elif not os.path.exists(path):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))


def _apply(op: MountOp) -> None:
    target = _inside(op.target)
    if op.kind == "bind":
        _bind(OLD + op.source if op.source else "", target, op)
    elif op.kind == "overlay":
        _overlay(OLD + (op.source or ""), target, op)
    elif op.kind == "tmpfs":
        _make_mountpoint(target, is_dir=True)
        sc.mount("tmpfs", target, "tmpfs", _TMPFS_FLAGS, _tmpfs_options(op.size, op.mode))
    elif op.kind == "proc":
        _make_mountpoint(target, is_dir=True)
        sc.mount("proc", target, "proc", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
    elif op.kind == "dev":
        _build_dev(target)
    elif op.kind == "dir":
        _make_mountpoint(target, is_dir=True)
    else:
        raise OSError(0, f"unknown mount operation {op.kind}")


def _bind(source: str, target: str, op: MountOp) -> None:
    if os.path.islink(source):
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        os.symlink(os.readlink(source), target)
        return
    if not os.path.exists(source):
        if op.optional:
            return
        raise FileNotFoundError(2, "no such file or directory on the host")
    _make_mountpoint(target, is_dir=os.path.isdir(source))
    sc.mount(source, target, None, sc.MS_BIND | sc.MS_REC)
    attrs = (sc.MOUNT_ATTR_RDONLY if op.readonly else 0) | sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NODEV
    sc.mount_setattr(target, attrs, recursive=True)


def _overlay(lower: str, target: str, op: MountOp) -> None:
    if not os.path.isdir(lower):
        raise NotADirectoryError(20, "not a directory on the host")
    if op.upper:  # kept: the caller's directory on the host (as the caller: our uid maps to it)
        layer = OLD + op.upper
        _real_directory(layer)
        _lock_for_life(layer)
    else:         # thrown away with the box
        layer = LAYERS + op.target
        os.makedirs(layer, mode=0o755)
        sc.mount("tmpfs", layer, "tmpfs", _TMPFS_FLAGS, _tmpfs_options(op.size, 0o755))
    for part in ("upper", "work"):
        _real_directory(f"{layer}/{part}")
    _make_mountpoint(target, is_dir=True)
    options = (f"userxattr,lowerdir={_overlay_escape(lower)},upperdir={_overlay_escape(layer)}/upper,"
               f"workdir={_overlay_escape(layer)}/work")
    sc.mount("overlay", target, "overlay", _TMPFS_FLAGS, options)


_locks: list[int] = []  # held by the init until the box ends (the kernel drops them then)


def _lock_for_life(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise OSError(16, f"{directory.removeprefix(OLD)} is in use by another box") from None
    _locks.append(fd)


def _real_directory(path: str) -> None:
    """Make the directory if missing; a symlink there (planted by an earlier run) is refused, not followed."""
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        if os.path.islink(path) or not os.path.isdir(path):
            raise NotADirectoryError(20, f"{path.removeprefix(OLD)} is not a directory") from None


def _overlay_escape(path: str) -> str:
    """overlayfs splits its options at ',' and lowerdir at ':'; a backslash escapes either."""
    return path.replace("\\", "\\\\").replace(",", "\\,").replace(":", "\\:")


def _build_dev(target: str) -> None:
    """A minimal /dev: the five harmless character devices bound from the host, a private /dev/shm;
    then /dev itself read-only, so the program cannot add names to it."""
    _make_mountpoint(target, is_dir=True)
    sc.mount("tmpfs", target, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, _tmpfs_options(64 << 10, 0o755))
    for node in DEVICE_NODES:
        path = f"{target}/{node}"
        _make_mountpoint(path, is_dir=False)
        # mknod is refused in a user namespace; a bind of the host node works.
        sc.mount(f"{OLD}/dev/{node}", path, None, sc.MS_BIND)
        sc.mount_setattr(path, sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NOEXEC, recursive=False)
    for name, link in DEVICE_LINKS:
        os.symlink(link, f"{target}/{name}")
    os.mkdir(f"{target}/shm", 0o755)
    sc.mount("tmpfs", f"{target}/shm", "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC,
             _tmpfs_options(SHM_SIZE, 0o1777))
    sc.mount_setattr(target, _RO_ATTRS | sc.MOUNT_ATTR_NOEXEC, recursive=False)
