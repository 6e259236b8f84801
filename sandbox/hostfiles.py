"""Host files for the CLI's --file and --collect: read into the box, written out of it.  Side: parent.

The API takes and returns file contents; the command line deals in host paths.
Collected files were named by the caller but written by the program, and on the
host they land in a directory the caller chose, which may already hold symlinks:
each is written beneath that directory one path component at a time, never
following a symlink, so no name reaches outside it.  Man pages: openat(2)
(O_NOFOLLOW), mkdirat(2).
"""
from __future__ import annotations

import errno
import os
import stat

from .errors import UsageError
from .workfiles import FileEntry, check_name


def file_entry(spec: str) -> FileEntry:
    """--file SRC[:NAME] -> (NAME, SRC's mode, SRC's content); NAME defaults to SRC's basename."""
    source, _, name = spec.partition(":")
    if not source:
        raise UsageError(f"--file {spec!r}: expected SRC[:NAME]")
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO must not block us
    except OSError as e:
        raise UsageError(f"--file {source}: {e.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"--file {source}: not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return name or os.path.basename(source), info.st_mode & 0o777, f.read()
    finally:
        os.close(fd)


def check_directory(directory: str) -> None:
    """Refuse early (before any box runs) a directory collected files could not be written to."""
    if not os.path.isdir(directory):
        raise UsageError(f"--collect-dir {directory}: " + ("not a directory" if os.path.exists(directory)
                                                          else "no such directory"))
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"--collect-dir {directory}: not writable")


def write_beneath(directory: str, name: str, content: bytes) -> None:
    """Write directory/name (mode 0644 less the umask), creating its parent directories; a
    symlink anywhere under directory on the way, or a name with '..', is refused."""
    problem = check_name(name)
    if problem:
        raise UsageError(f"--collect {name!r}: {problem}")
    nofollow = os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            *parents, last = name.split("/")
            for part in parents:
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
                inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | nofollow, dir_fd=fd)
                os.close(fd)
                fd = inner
            # O_NONBLOCK: a FIFO in the way is an error (ENXIO), not a wait for a reader
            out = os.open(last, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | nofollow, 0o644, dir_fd=fd)
        finally:
            os.close(fd)
        with os.fdopen(out, "wb") as f:
            if not stat.S_ISREG(os.fstat(out).st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            f.truncate(0)
            f.write(content)
    except OSError as e:
        reasons = {errno.ELOOP: "it is a symlink (not followed)",
                   errno.ENOTDIR: "a parent is a symlink (not followed) or not a directory"}
        why = reasons.get(e.errno or 0, e.strerror or str(e))
        raise UsageError(f"--collect-dir {directory}: writing {name}: {why}") from None
