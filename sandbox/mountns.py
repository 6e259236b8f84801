"""Mount namespace: build a fresh root from an ordered list of operations.  Side: child (the box's init).

The plan is data (as in bubblewrap): a list of MountOp executed in order by one
dumb loop.  The root is an empty tmpfs; nothing of the host is visible that an
operation did not name.  Man pages: mount_namespaces(7), pivot_root(2),
mount_setattr(2), open_tree(2), move_mount(2), openat2(2), tmpfs(5), proc(5).

Sequence (after bubblewrap): make every mount private, put a scratch tmpfs on
/tmp and pivot into it so the host stays reachable at /oldroot (host paths under
/tmp included), build /newroot from the operations, pivot into it, detach the
host, and remount the root read-only.

Nothing of the host is looked up twice.  The supervisor resolved each host path once
(hostpaths.py) and the plan carries its canonical path (no symlink left in it) and its
identity (device, inode); here it is opened again under /oldroot with RESOLVE_NO_SYMLINKS
and must be that same inode, or the run stops ("changed after it was checked"): a rename
or a symlink swapped in between by another user cannot steer a mount.  Mount points are
made in the new root one component at a time without following any symlink (an image's
`mnt -> ../oldroot/home/...` cannot make the init create directories on the host), and
every mount is attached to the descriptor of its mount point (move_mount(2)), never to a
path looked up again: binds as detached trees (open_tree(2)) of the verified source,
file systems (tmpfs, proc, /dev, overlayfs) first mounted on a staging directory of the
scratch root and then moved.

An overlay (a writable layer over a read-only host directory, overlayfs(5); unprivileged
in a user namespace since Linux 5.11) keeps its upper and work dirs in a tmpfs of its own
under /layers in the scratch root: the box sees only the merged view, and the layer is
gone with the box's mount namespace.  Its layers are named to overlayfs through
/proc/self/fd of the verified descriptors.  Overlays are mounted with `userxattr`:
unprivileged, overlayfs cannot set its trusted.overlay.* attributes, and without
user.overlay.* ones it cannot mark a directory opaque, so removing a directory of the
lower layer fails with EIO.  A kept layer (a host directory) is locked (flock) for the
box's life: overlayfs leaves two mounts sharing an upper directory undefined.
"""
from __future__ import annotations

import errno
import fcntl
import os
import stat
from typing import Optional

from ._record import dataclass
from . import _syscalls as sc

SCRATCH = "/tmp"
OLD = "/oldroot"
NEW = "/newroot"
STAGE = "/stage"    # in the scratch root: where a file system is mounted before it is moved into place
LAYERS = "/layers"  # in the scratch root: overlay upper/work dirs, never visible in the box
DEVICE_NODES = ("null", "zero", "full", "random", "urandom")
DEVICE_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                ("stderr", "/proc/self/fd/2"))
_RO_ATTRS = sc.MOUNT_ATTR_RDONLY | sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NODEV
PTYS_MAX = 256  # a box's own devpts: its share of kernel.pty.max (the host keeps kernel.pty.reserve)
INODE_BYTES = 4096  # one inode per page of a tmpfs's size
_TMPFS_FLAGS = sc.MS_NOSUID | sc.MS_NODEV
_DIRECTORY = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class MountOp:
    """One step of building the root.

    kind: bind (source on the host -> target in the box), overlay (source on the host as the
    read-only lower layer, a throwaway tmpfs of `size` or the kept host directory `upper` as
    the upper), symlink (source: the link's text), tmpfs, proc, dev (`size`: its /dev/shm's; `pts`: a devpts of
    its own), file (`content`, a small generated file written into the root's tmpfs: /etc/passwd).  A host
    source comes with its identity (st_dev, st_ino) as the supervisor found it.
    """

    kind: str
    target: str
    source: Optional[str] = None
    readonly: bool = True
    optional: bool = False
    size: Optional[int] = None
    mode: int = 0o755
    upper: Optional[str] = None  # overlay: a host directory keeping the layer (UPPER/upper, UPPER/work)
    identity: Optional[tuple[int, int]] = None  # the source's (st_dev, st_ino) on the host
    upper_identity: Optional[tuple[int, int]] = None
    content: Optional[str] = None  # file: its text
    pts: bool = False  # dev: a devpts instance of the box's own, /dev/ptmx its ptmx


class MountError(OSError):
    """A mount operation failed; str() names the operation."""


def build_root(ops: tuple[MountOp, ...]) -> None:
    """Replace this mount namespace's root with one built from `ops`."""
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    sc.mount("tmpfs", SCRATCH, "tmpfs", _TMPFS_FLAGS, _tmpfs_options(64 << 10, 0o755))
    os.chdir(SCRATCH)
    for name in ("oldroot", "newroot", "stage", "layers"):
        os.mkdir(name)
    sc.pivot_root(".", "oldroot")
    os.chdir("/")
    sc.mount("tmpfs", NEW, "tmpfs", _TMPFS_FLAGS, _tmpfs_options(1 << 20, 0o755))
    host = os.open(OLD, _DIRECTORY)
    root = os.open(NEW, _DIRECTORY)
    try:
        for op in ops:
            try:
                _apply(op, host, root)
            except OSError as e:
                raise MountError(e.errno, f"{op.kind} {op.source or ''} -> {op.target}: {e.strerror}") from None
    finally:
        os.close(host)
        os.close(root)
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


def host_object(host: int, path: str, identity: Optional[tuple[int, int]]) -> int:
    """The host object the supervisor found at `path` (canonical), opened again without following
    any symlink and checked to be the same inode; an O_PATH descriptor.  A plan that names a host
    object without its identity is refused: nothing of the host is taken on its name alone."""
    if identity is None:
        raise OSError(errno.EINVAL, f"{path}: the plan gives no identity for it")
    try:
        fd = sc.openat2(host, path.lstrip("/") or ".", os.O_PATH,
                        sc.RESOLVE_NO_SYMLINKS | sc.RESOLVE_BENEATH)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOENT, errno.ENOTDIR, errno.EXDEV):
            raise OSError(e.errno, f"{path} changed after it was checked (renamed, removed or replaced "
                                   f"by a symlink while the box was built)") from None
        raise
    info = os.fstat(fd)
    if (info.st_dev, info.st_ino) != identity:
        os.close(fd)
        raise OSError(errno.ESTALE, f"{path} changed after it was checked (another file or directory took "
                                    f"its name while the box was built)")
    return fd


def mount_point(root: int, target: str, is_dir: bool) -> int:
    """The mount point `target` in the new root (made if missing), reached one component at a time
    without following a symlink: a symlink on the way (the image's, or one we recreated) is refused.
    An O_PATH descriptor."""
    names = [name for name in target.split("/") if name]
    fd = os.dup(root)
    try:
        for index, name in enumerate(names):
            here = "/" + "/".join(names[:index + 1])
            if index < len(names) - 1 or is_dir:
                try:
                    os.mkdir(name, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
                try:
                    inner = os.open(name, _DIRECTORY, dir_fd=fd)
                except OSError as e:
                    if e.errno in (errno.ENOTDIR, errno.ELOOP):
                        raise OSError(errno.ENOTDIR, f"{here} is a symlink or a file in the box's root, "
                                                     f"not a directory; a mount point is never made through one") from None
                    raise
            else:
                inner = _file_mount_point(fd, name, here)
            os.close(fd)
            fd = inner
        return fd
    except BaseException:
        os.close(fd)
        raise


def _file_mount_point(directory: int, name: str, here: str) -> int:
    try:
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=directory)
    except FileNotFoundError:
        os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                         dir_fd=directory))
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=directory)
    if stat.S_ISLNK(os.fstat(fd).st_mode) or stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.ENOTDIR, f"{here} is a symlink or a directory in the box's root, not a file")
    return fd


def _apply(op: MountOp, host: int, root: int) -> None:
    if op.kind == "bind":
        _bind(op, host, root)
    elif op.kind == "symlink":
        assert op.source is not None
        parent, name = os.path.split(op.target)
        directory = mount_point(root, parent, is_dir=True)
        try:
            os.symlink(op.source, name, dir_fd=directory)
        finally:
            os.close(directory)
    elif op.kind == "overlay":
        _overlay(op, host)
        _move_staged(root, op.target)
    elif op.kind == "tmpfs":
        sc.mount("tmpfs", STAGE, "tmpfs", _TMPFS_FLAGS, _tmpfs_options(op.size, op.mode))
        _move_staged(root, op.target)
    elif op.kind == "proc":
        sc.mount("proc", STAGE, "proc", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
        _move_staged(root, op.target)
    elif op.kind == "dev":
        _build_dev(STAGE, op.size, op.pts)
        _move_staged(root, op.target)
    elif op.kind == "file":
        _write_file(root, op.target, op.content or "", op.mode)
    else:
        raise OSError(0, f"unknown mount operation {op.kind}")


def _write_file(root: int, target: str, content: str, mode: int) -> None:
    """A new file in the root's own tmpfs (made read-only with the root), never through a symlink
    and never over anything already there: a directory bound or made there first is refused
    (EEXIST), and a parent that is a read-only bind fails (EROFS): the run stops, nothing is hidden."""
    parent, name = os.path.split(target)
    directory = mount_point(root, parent, is_dir=True)
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=directory)
    finally:
        os.close(directory)
    with os.fdopen(fd, "wb") as f:
        f.write(content.encode())


def _move_staged(root: int, target: str) -> None:
    """Move the file system mounted on the staging directory onto its mount point."""
    point = mount_point(root, target, is_dir=True)
    try:
        sc.move_mount(sc.AT_FDCWD, STAGE, point)
    finally:
        os.close(point)


def _bind(op: MountOp, host: int, root: int) -> None:
    """A recursive bind of the verified source, its attributes set while it is still detached."""
    source = host_object(host, op.source or "", op.identity)
    try:
        point = mount_point(root, op.target, is_dir=stat.S_ISDIR(os.fstat(source).st_mode))
        try:
            tree = sc.open_tree_clone(source)
            try:
                attrs = (sc.MOUNT_ATTR_RDONLY if op.readonly else 0) | sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NODEV
                sc.mount_setattr("", attrs, recursive=True, fd=tree)
                sc.move_mount(tree, "", point)
            finally:
                os.close(tree)
        finally:
            os.close(point)
    finally:
        os.close(source)


def _overlay(op: MountOp, host: int) -> None:
    """An overlay on the staging directory: the verified lower directory under a writable layer."""
    lower = host_object(host, op.source or "", op.identity)
    held = [lower]
    try:
        if not stat.S_ISDIR(os.fstat(lower).st_mode):
            raise NotADirectoryError(errno.ENOTDIR, "not a directory on the host")
        if op.upper:  # kept: the caller's directory on the host (as the caller: our uid maps to it)
            layer = host_object(host, op.upper, op.upper_identity)
            held.append(layer)
            _lock_for_life(layer, op.upper)
        else:         # thrown away with the box
            path = LAYERS + "/" + str(len(os.listdir(LAYERS)))
            os.mkdir(path, 0o755)
            sc.mount("tmpfs", path, "tmpfs", _TMPFS_FLAGS, _tmpfs_options(op.size, 0o755))
            layer = os.open(path, _DIRECTORY)
            held.append(layer)
        upper, work = (_real_directory(layer, part, op.upper) for part in ("upper", "work"))
        held += [upper, work]
        options = f"userxattr,lowerdir={_fd_path(lower)},upperdir={_fd_path(upper)},workdir={_fd_path(work)}"
        sc.mount("overlay", STAGE, "overlay", _TMPFS_FLAGS, options)
    finally:
        for fd in held:
            os.close(fd)


def _fd_path(fd: int) -> str:
    """A name overlayfs can look up that means exactly this descriptor's directory (the host's /proc
    is still at /oldroot/proc, and its "self" is this process)."""
    return f"{OLD}/proc/self/fd/{fd}"


_locks: list[int] = []  # held by the init until the box ends (the kernel drops them then)


def _lock_for_life(directory: int, name: str) -> None:
    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=directory)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise OSError(16, f"{name} is in use by another box") from None
    _locks.append(fd)


def _real_directory(layer: int, name: str, shown: Optional[str]) -> int:
    """layer/name, made if missing; a symlink there (planted by an earlier run) is refused, not followed."""
    try:
        os.mkdir(name, 0o700, dir_fd=layer)  # the program's kept files are the caller's alone
    except FileExistsError:
        pass
    try:
        return os.open(name, _DIRECTORY, dir_fd=layer)
    except OSError as e:
        if e.errno in (errno.ENOTDIR, errno.ELOOP):
            raise NotADirectoryError(errno.ENOTDIR, f"{shown or 'the layer'}/{name} is not a directory") from None
        raise


def _build_dev(target: str, shm_size: Optional[int], pts: bool = False) -> None:
    """A minimal /dev (on the staging directory): the five harmless character devices bound from the
    host's /dev (root's), a private /dev/shm (a tmpfs of shm_size, the limit; None: tmpfs's own
    default, half the memory), with `pts` a devpts instance of the box's own (newinstance: none of
    the host's terminals is in it; mounted in the box's user namespace, its ptys belong to the box)
    and /dev/ptmx a link to its ptmx; then /dev itself read-only, so the program cannot add names."""
    sc.mount("tmpfs", target, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, _tmpfs_options(64 << 10, 0o755))
    for node in DEVICE_NODES:
        path = f"{target}/{node}"
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))
        # mknod is refused in a user namespace; a bind of the host node works.
        sc.mount(f"{OLD}/dev/{node}", path, None, sc.MS_BIND)
        sc.mount_setattr(path, sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NOEXEC, recursive=False)
    for name, link in DEVICE_LINKS:
        os.symlink(link, f"{target}/{name}")
    os.mkdir(f"{target}/shm", 0o755)
    sc.mount("tmpfs", f"{target}/shm", "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC,
             _tmpfs_options(shm_size, 0o1777))
    if pts:
        os.mkdir(f"{target}/pts", 0o755)
        sc.mount("devpts", f"{target}/pts", "devpts", sc.MS_NOSUID | sc.MS_NOEXEC,
                 f"newinstance,ptmxmode=0666,mode=0620,max={PTYS_MAX}")
        os.symlink("pts/ptmx", f"{target}/ptmx")
    sc.mount_setattr(target, _RO_ATTRS | sc.MOUNT_ATTR_NOEXEC, recursive=False)
