"""A directory of the caller's own, opened once and used only through its descriptor.  Side: parent.

The disk cache and the registry of named boxes keep files in a directory of the
caller's that may lie under a directory another user can write (XDG_CACHE_HOME
in a shared /tmp directory, say).  Checked by path and then used by path again,
such a directory can be swapped for a symlink in between (one renameat2 call by
the owner of its parent): the check would vouch for one directory and the files
would come from another.  So the directory is opened once, without following a
symlink at its name, and checked through that descriptor (a directory, the
caller's, not writable by others); every entry is then reached through the
descriptor, never by path: what was checked is what is used.  An entry is used
only if it is a regular file of the caller's that others may not write, and
opening one never blocks (a FIFO planted there is refused, not waited on).
Man pages: openat(2) (O_NOFOLLOW, O_DIRECTORY, O_NONBLOCK), fstat(2), renameat(2), linkat(2).
"""
from __future__ import annotations

import errno
import os
import stat
from typing import Optional

_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC
_OTHERS_WRITE = 0o022


class NotPrivate(Exception):
    """The path is not a directory of the caller's that only the caller may change (the message says why)."""


class PrivateDir:
    """An open, checked directory; entries are names in it (no '/').  Close it, or use it in `with`."""

    def __init__(self, path: str, fd: int) -> None:
        self.path = path  # for messages only: never opened again
        self.fd = fd

    def __enter__(self) -> PrivateDir:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def read(self, name: str) -> Optional[bytes]:
        """The entry's bytes; None if there is none, or if it is not a regular file of ours that others
        may not write (a symlink, a FIFO, a file another user left there)."""
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW, dir_fd=self.fd)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ELOOP, errno.ENXIO):  # ENXIO: a socket
                return None
            raise
        try:
            if not _ours(os.fstat(fd)):
                return None
            chunks = []
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def create(self, name: str, data: bytes) -> None:
        """A new entry holding data (mode 0600); FileExistsError if the name is taken."""
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600, dir_fd=self.fd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except BaseException:
            self.unlink(name)
            raise
        finally:
            os.close(fd)

    def replace(self, name: str, data: bytes) -> None:
        """Set the entry to data atomically: readers see the old bytes or the new, never a part."""
        temporary = f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        self.create(temporary, data)
        try:
            os.replace(temporary, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            self.unlink(temporary)
            raise

    def link(self, existing: str, new: str) -> None:
        """Give an entry a second name; FileExistsError if that is taken (what makes a name first come, first served)."""
        os.link(existing, new, src_dir_fd=self.fd, dst_dir_fd=self.fd, follow_symlinks=False)

    def unlink(self, name: str) -> None:
        try:
            os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            pass

    def names(self) -> list[str]:
        return os.listdir(self.fd)


def open_private(path: str, forbidden_mode: int = _OTHERS_WRITE) -> PrivateDir:
    """Open path, a directory of the caller's with none of forbidden_mode's bits (created mode 0700,
    with its parents, if missing).  Raises NotPrivate if it is anything else (a symlink at the
    name included), OSError if it cannot be made or opened."""
    flags = os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW
    try:
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            os.makedirs(path, 0o700, exist_ok=True)
            fd = os.open(path, flags)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):  # O_DIRECTORY|O_NOFOLLOW on a symlink: ENOTDIR
            raise NotPrivate(f"{path} is a symlink or not a directory") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & forbidden_mode:
        os.close(fd)
        raise NotPrivate(f"{path} is not a directory of yours that only you may change")
    return PrivateDir(path, fd)


def _ours(info: os.stat_result) -> bool:
    return stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & _OTHERS_WRITE
