"""Host paths the supervisor opens: each resolved once, held as a descriptor, and never reached
through a symlink that someone else could have put there.  Side: parent.

Whatever the supervisor finds at a path the caller names (a bind source, the work dir, a
file to copy in, where the result goes) is what the box gets, or what gets written.  Two
parties can change what a name means between looking and using: another local user who may
write a directory on the way, and the box itself, which writes as the caller wherever it may
write (a --bind-rw directory, a kept overlay layer).  So:

- A path is walked one component at a time, each opened relative to the directory already
  open (openat(2) with O_NOFOLLOW), and the object found is held as a descriptor until the
  run ends.  Later steps use the descriptor, or find the object again by its canonical path
  (no symlink left in it) and check that it is the same inode (mountns does so in the box).
- A symlink is followed only where nobody else could have made it: in a directory that
  belongs to root or to the caller and that nobody else may write, or, in a sticky directory
  of root's or the caller's, a symlink of root's or the caller's (which nobody else may
  replace).  That is OpenSSH's StrictModes and the kernel's protected_symlinks rule, applied
  whether or not the host enabled the latter.  Elsewhere the path is refused, with the reason.
- For a file the supervisor writes (--stdout, --result, --collect-dir), no symlink on the way is
  followed unless it lies in a directory only root may write (/dev/stdout): the caller's own
  directories may hold symlinks a box made, to steer the output of a later run.
- /dev/stdin, /dev/stdout, /dev/stderr, /dev/fd/N and /proc/self/fd/N are the caller's own
  descriptors, shared, not opened again (as bash reads them).  Elsewhere in /proc the kernel
  follows a link, since it alone knows which file the link means.

Man pages: openat(2), path_resolution(7), symlink(7) (protected_symlinks), proc(5).
"""
from __future__ import annotations

import errno
import fcntl
import grp
import os
import pwd
import re
import stat
from typing import Optional

from ._record import dataclass
from .errors import UsageError

FOLLOW = "follow"      # symlinks followed where nobody else could have made them (paths read from)
WRITTEN = "written"    # a path written to: no symlink followed on the way but in root's own directories
LINK = "link"          # as FOLLOW, but a symlink at the last component is itself the answer (recreated in the box)
MAX_LINKS = 40         # as the kernel's path_resolution(7)
_DIRECTORY = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Found:
    """An object on the host: its canonical path (absolute, no symlink in it), a descriptor
    holding it, and what fstat said of it."""

    path: str
    fd: int
    info: os.stat_result
    own: bool = False  # reached through /proc: one of the caller's own open files (/dev/stdout, a pipe)

    @property
    def identity(self) -> tuple[int, int]:
        """Device and inode: what the box's init checks the object it finds again against."""
        return self.info.st_dev, self.info.st_ino

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.info.st_mode)

    @property
    def is_link(self) -> bool:
        return stat.S_ISLNK(self.info.st_mode)


class _Refused(Exception):
    """A symlink the policy does not follow; the message says which and why."""


class PathError(UsageError):
    """A host path that cannot be used; `reason` is the message without the "WHAT PATH: " in front,
    `what` names the flag or object (--result, bind source), `errno` is the kernel's answer if any."""

    def __init__(self, what: str, path: str, reason: str, errno: Optional[int] = None) -> None:
        super().__init__(f"{what} {path}: {reason}", what=what, path=path, reason=reason, errno=errno)
        self.what = what
        self.path = path
        self.reason = reason
        self.errno = errno


def resolve(path: str, what: str, flags: int = os.O_PATH, *, last: str = FOLLOW, mode: int = 0o644) -> Found:
    """Walk `path` as the module docstring says and open its last component with `flags`
    (O_NOFOLLOW is always added; with O_CREAT a missing file is made with `mode`).  The caller
    owns the descriptor.  Every refusal or failure is a PathError: "WHAT PATH: why"."""
    try:
        return _walk(path, flags, last, mode)
    except _Refused as e:
        raise PathError(what, path, str(e)) from None
    except OSError as e:
        raise PathError(what, path, _reason(e), e.errno) from None


def _reason(error: OSError) -> str:
    return {errno.ENOENT: "no such file or directory", errno.ENOTDIR: "not a directory (or a parent is not)",
            errno.ELOOP: "too many levels of symbolic links",
            errno.ENXIO: "nothing behind it (a FIFO or socket nobody reads, or a device that is not there)",
            }.get(error.errno or 0, error.strerror or str(error))


# Names that mean one of the caller's own descriptors on every Linux (as bash reads them too):
# the descriptor itself, shared, whatever /dev and /proc look like where we run (inside another box,
# /dev is the box's own).
_OWN = re.compile(r"/dev/(?:fd/(?P<fd>\d+)|(?P<std>stdin|stdout|stderr))|/proc/self/fd/(?P<proc>\d+)")
_STD = {"stdin": 0, "stdout": 1, "stderr": 2}


def _walk(path: str, flags: int, last: str, mode: int) -> Found:
    if not path:
        raise FileNotFoundError(errno.ENOENT, "empty path")
    spelled = _OWN.fullmatch(path)
    if spelled:
        number = _STD[spelled["std"]] if spelled["std"] else int(spelled["fd"] or spelled["proc"])
        shared = fcntl.fcntl(number, fcntl.F_DUPFD_CLOEXEC, 0)  # EBADF: not open
        return Found(path, shared, os.fstat(shared), own=True)
    # A relative path starts at the working directory itself, never at its name (which someone
    # who may write a directory above it could point elsewhere meanwhile).
    directory = os.open("/" if path.startswith("/") else ".", _DIRECTORY)
    where = "/" if path.startswith("/") else os.getcwd()
    names = [name for name in path.split("/") if name not in ("", ".")]
    links = 0
    try:
        while names:
            name = names.pop(0)
            final = not names
            if name == "..":
                parent = os.open("..", _DIRECTORY, dir_fd=directory)
                os.close(directory)
                directory, where = parent, os.path.dirname(where)
                continue
            fd = _open_component(directory, name, final, flags, mode)
            if fd is not None and final and last != LINK and stat.S_ISLNK(os.fstat(fd).st_mode):
                os.close(fd)  # O_PATH opened the symlink itself
                fd = None
            if fd is not None:
                if final:
                    return _found(os.path.join(where, name), fd, path)
                os.close(directory)
                directory, where = fd, os.path.join(where, name)
                continue
            links += 1
            if links > MAX_LINKS:
                raise OSError(errno.ELOOP, "too many levels of symbolic links")
            here = os.fstat(directory)
            if _on_proc(here):  # the caller's own files: the kernel follows the link it made
                own = _own_descriptor(here, name) if final else None
                fd = own if own is not None else os.open(
                    name, (flags if final else os.O_PATH | os.O_DIRECTORY) | os.O_CLOEXEC, mode, dir_fd=directory)
                target = os.readlink(name, dir_fd=directory)
                inner = target if target.startswith("/") else os.path.join(where, name)
                if final:
                    return _found(inner, fd, path, own=True)
                os.close(directory)
                directory, where = fd, inner
                continue
            link = os.stat(name, dir_fd=directory, follow_symlinks=False)
            _check_may_follow(here, link, last == WRITTEN, os.path.join(where, name), where)
            target = os.readlink(name, dir_fd=directory)
            if target.startswith("/"):
                os.close(directory)
                directory, where = os.open("/", _DIRECTORY), "/"
            names = [n for n in target.split("/") if n not in ("", ".")] + names
        # The path ended at a directory already open ("/", ".", "dir/.."): open it as asked.
        return _found(where, os.open(".", flags | os.O_CLOEXEC, dir_fd=directory), path)
    finally:
        os.close(directory)


def _found(where: str, fd: int, path: str, own: bool = False) -> Found:
    info = os.fstat(fd)
    if path.endswith("/") and not stat.S_ISDIR(info.st_mode):  # "file/" names a directory, as for the kernel
        os.close(fd)
        raise NotADirectoryError(errno.ENOTDIR, "not a directory")
    return Found(where, fd, info, own)


def _own_descriptor(directory: os.stat_result, name: str) -> Optional[int]:
    """A copy of our own descriptor N when the path is /proc/self/fd/N (/dev/stdout, /dev/fd/3,
    <(...)): the very open file, its offset and mode shared, rather than the file opened anew
    (which would start writing at offset 0 of the caller's own stdout file, or truncate it)."""
    if not name.isdigit():
        return None
    ours = os.stat("/proc/self/fd")
    if (directory.st_dev, directory.st_ino) != (ours.st_dev, ours.st_ino):
        return None
    return fcntl.fcntl(int(name), fcntl.F_DUPFD_CLOEXEC, 0)


def _open_component(directory: int, name: str, final: bool, flags: int, mode: int) -> Optional[int]:
    """The object `name` in `directory`, opened without following it; None when it is a symlink
    that could only be opened by following (the caller then decides)."""
    try:
        if not final:
            return os.open(name, _DIRECTORY, dir_fd=directory)
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=directory)
    except OSError as e:
        # A symlink: ENOTDIR (O_DIRECTORY) or ELOOP (O_NOFOLLOW without O_PATH); anything else is
        # the answer.  With O_PATH, a final symlink opens as itself and the caller sees S_ISLNK.
        if e.errno in (errno.ENOTDIR, errno.ELOOP) and _is_symlink(directory, name):
            return None
        raise


def _is_symlink(directory: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode)
    except OSError:
        return False


_proc_device: Optional[int] = None


def _on_proc(directory: os.stat_result) -> bool:
    global _proc_device
    if _proc_device is None:
        _proc_device = os.stat("/proc").st_dev
    return directory.st_dev == _proc_device


def _check_may_follow(directory: os.stat_result, link: os.stat_result, written: bool, name: str,
                      where: str) -> None:
    """Raise _Refused unless nobody but root or the caller could have made this symlink."""
    trusted = (0, os.geteuid())
    others_may_write = bool(directory.st_mode & 0o002) or (
        bool(directory.st_mode & 0o020) and not _private_group(directory.st_gid))
    if written:
        if directory.st_uid == 0 and not directory.st_mode & 0o022:
            return
        raise _Refused(f"{name} is a symlink, and a file sandbox writes is never reached through one "
                       f"(a box or another user may have made it); give the path it points to")
    if directory.st_uid in trusted and not others_may_write:
        return
    if directory.st_uid in trusted and directory.st_mode & stat.S_ISVTX and link.st_uid in trusted:
        return  # a sticky directory: nobody else may replace a symlink of ours or root's there
    raise _Refused(f"the symlink {name} is not followed: {where} may be written by other users, "
                   f"who could point it anywhere; give the path it points to")


def _private_group(gid: int) -> bool:
    """The caller's own user-private group (a umask of 002 makes its directories group-writable)."""
    try:
        group, user = grp.getgrgid(gid), pwd.getpwuid(os.geteuid())
    except KeyError:
        return False
    return gid == user.pw_gid and group.gr_name == user.pw_name and set(group.gr_mem) <= {user.pw_name}


def listing(directory: Found, what: str) -> list[Found]:
    """The entries of a directory, each opened as itself (O_PATH, a symlink too) relative to the
    directory: the caller holds them (HostPaths.listing) until the run ends."""
    entries: list[Found] = []
    try:
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=directory.fd)
        try:
            names = sorted(os.listdir(fd))
        finally:
            os.close(fd)
        for name in names:
            entry = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=directory.fd)
            entries.append(Found(os.path.join(directory.path, name), entry, os.fstat(entry)))
        return entries
    except OSError as e:
        for found in entries:
            os.close(found.fd)
        raise PathError(what, directory.path, f"changed while it was read ({_reason(e)})", e.errno) from None


def directory_beneath(directory: Found, relative: str) -> bool:
    """Is directory/relative a directory, reached without following any symlink (or '..')?"""
    fd = os.dup(directory.fd)
    try:
        for name in relative.split("/"):
            if name in ("", "."):
                continue
            if name == "..":
                return False
            inner = os.open(name, _DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


class HostPaths:
    """The host paths of one run, each resolved once; their descriptors are held until close(),
    so no inode the plan names can be freed and its number reused while the box is built."""

    def __init__(self) -> None:
        self._held: list[int] = []

    def find(self, path: str, what: str, *, last: str = FOLLOW) -> Found:
        found = resolve(path, what, last=last)
        self._held.append(found.fd)
        return found

    def directory(self, path: str, what: str, *, last: str = FOLLOW) -> Found:
        found = self.find(path, what, last=last)
        if not found.is_dir:
            raise UsageError(f"{what} {path}: not a directory")
        return found

    def parent(self, path: str, what: str, *, last: str = FOLLOW) -> tuple[Found, str]:
        """The directory a path names an entry of (found as any other path), and the entry's name."""
        parent_path, name = os.path.split(path.rstrip("/"))
        if name in ("", ".", ".."):
            raise UsageError(f"{what} {path}: expected a name in a directory")
        return self.directory(parent_path or ".", f"{what} {path}: its parent", last=last), name

    def listing(self, directory: Found, what: str) -> list[Found]:
        entries = listing(directory, what)
        self._held += [entry.fd for entry in entries]
        return entries

    def made_directory(self, parent: Found, name: str, what: str, mode: int = 0o700) -> Found:
        """parent/name, made if missing (private to the caller unless `mode` says otherwise),
        never reached through a symlink."""
        shown = os.path.join(parent.path, name)
        try:
            os.mkdir(name, mode, dir_fd=parent.fd)
        except FileExistsError:
            pass
        except OSError as e:
            raise UsageError(f"{what} {shown}: {_reason(e)}") from None
        try:
            fd = os.open(name, _DIRECTORY, dir_fd=parent.fd)
        except OSError as e:
            why = "not a directory (a symlink is not followed)" if e.errno in (errno.ENOTDIR, errno.ELOOP) \
                else _reason(e)
            raise UsageError(f"{what} {shown}: {why}") from None
        self._held.append(fd)
        return Found(shown, fd, os.fstat(fd))

    def close(self) -> None:
        for fd in self._held:
            os.close(fd)
        self._held.clear()

    def __enter__(self) -> "HostPaths":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
