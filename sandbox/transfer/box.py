"""Files into the box's work directory before the program, and named files out after it.  Side: child (the init).

A judge compiles in one box and runs the binary in the next: sources go in, the
binary comes out.  They travel in a memfd the supervisor made (no host temp
directory that a killed supervisor could leave behind), in the format of
transfer.packing.  Files are written as the box's own user into its work
directory (a tmpfs, so they count against its size), before the program starts.
After the program ends, the init reads the named files back out; the program
has had the work directory to itself, so each is opened one path component at a
time without following symlinks, only regular files are taken, and each is cut at
the limit.  Man pages: memfd_create(2), open(2) (O_NOFOLLOW).
"""
from __future__ import annotations

import os
import stat
from typing import Optional

from .packing import FileEntry, check_name


def write_into(workdir: str, source: int, entries: list[tuple[str, int, int, int]]) -> None:
    """Create each file (and its directories) under workdir from its bytes in `source` (name,
    mode, offset, size), copied by the kernel; an existing name is an error."""
    for name, mode, offset, size in entries:
        if check_name(name):
            raise OSError(22, f"{name!r}: {check_name(name)}")
        path = os.path.join(workdir, name)
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode & 0o777)
        try:
            done = 0
            while done < size:
                sent = os.sendfile(fd, source, offset + done, size - done)
                if sent == 0:
                    raise OSError(5, f"{name!r}: the file ended early")
                done += sent
            os.fchmod(fd, mode & 0o777)  # not narrowed by a umask
        finally:
            os.close(fd)


def read_out(workdir: str, names: tuple[str, ...], limit: int) -> tuple[list[FileEntry], list[str]]:
    """The named files that exist as regular files, each cut at `limit` bytes; and the names cut."""
    found: list[FileEntry] = []
    cut: list[str] = []
    for name in names:
        fd = _open_beneath(workdir, name)
        if fd < 0:
            continue
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                continue
            chunks, size = [], 0
            while size <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - size))):
                chunks.append(chunk)
                size += len(chunk)
            content = b"".join(chunks)
            if len(content) > limit:
                content = content[:limit]
                cut.append(name)
            found.append((name, info.st_mode & 0o777, content))
        finally:
            os.close(fd)
    return found, cut


def _open_beneath(workdir: str, name: str) -> int:
    """Open workdir/name for reading, refusing any symlink on the way; -1 if it cannot be."""
    if check_name(name):
        return -1
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # a FIFO must not block us
    try:
        fd = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return -1
    parts = name.split("/")
    try:
        for part in parts[:-1]:
            inner = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        last = os.open(parts[-1], flags, dir_fd=fd)
    except OSError:
        last = -1
    finally:
        os.close(fd)
    return last
