"""The one format files travel in, both ways: a memfd of (header, name, content) entries.  Side: both.

The supervisor packs the caller's files into a memfd (transfer.host found and opened
them); the init unpacks them into the box's work dir and packs the collected files
back into the same memfd after the program (transfer.box); the supervisor unpacks
those.  Nothing touches the host's disk on the way, so a killed supervisor leaves
nothing behind.  A file held open on the host is copied by the kernel (sendfile),
never through our memory.  Man pages: memfd_create(2), sendfile(2).
"""
from __future__ import annotations

import os
import struct
from typing import Optional, Union

from .._record import dataclass
from ..streams import write_all


@dataclass(frozen=True)
class FileSource:
    """A host file to copy in, held open by the supervisor (the CLI's --file): streamed into the
    box, never read into memory as a whole."""

    fd: int
    size: int


class CollectedFile(bytes):
    """A file brought out of the box: its bytes, and `mode`, its permission bits there (no setuid,
    setgid or sticky bit: transfer.box.read_out keeps 0o777 only).  It is bytes, so a Result's
    `files` reads as before; the mode rides along so the CLI can write a compiled binary back as
    executable (a judge compiles in one box and runs the binary from the host or the next box)."""

    mode: int

    def __new__(cls, content: bytes, mode: int) -> "CollectedFile":
        made = super().__new__(cls, content)
        made.mode = mode & 0o777
        return made

    def __reduce__(self) -> tuple[object, ...]:
        return CollectedFile, (bytes(self), self.mode)  # pickled whole: a Result crosses processes


Content = Union[bytes, FileSource]
FileEntry = tuple[str, int, Content]  # (relative path, mode, content)


def content_size(content: Content) -> int:
    return len(content) if isinstance(content, bytes) else content.size


def check_name(name: str) -> Optional[str]:
    """What is wrong with a file name for the work directory, or None (side: parent)."""
    if not name or name.startswith("/") or "\0" in name:
        return "expected a relative path"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "expected a path without empty, '.' or '..' parts"
    return None


_FILE_HEADER = struct.Struct(">HIQ")  # name length, mode, content length


def pack_files(fd: int, entries: list[tuple[str, int, Union[bytes, FileSource]]]) -> None:
    """Files into `fd` (a memfd) as, for each, a header, the UTF-8 name, the content; a file held
    open on the host is copied by the kernel, never through our memory."""
    for name, mode, content in entries:
        encoded = name.encode()
        size = len(content) if isinstance(content, bytes) else content.size
        write_all(fd, _FILE_HEADER.pack(len(encoded), mode, size) + encoded)
        if isinstance(content, bytes):
            write_all(fd, content)
            continue
        done = 0
        while done < size:
            sent = os.sendfile(fd, content.fd, done, size - done)
            if sent == 0:
                raise ValueError(f"{name}: the file is shorter than it was when opened (it changed, or it is "
                                 f"not an ordinary file)")
            done += sent


def packed_files(fd: int) -> list[tuple[str, int, int, int]]:
    """What pack_files wrote, as (name, mode, offset of the content, size), reading only the
    headers; raises ValueError on anything malformed."""
    entries, offset, end = [], 0, os.fstat(fd).st_size
    while offset < end:
        header = os.pread(fd, _FILE_HEADER.size, offset)
        if len(header) < _FILE_HEADER.size:
            raise ValueError("truncated file header")
        name_length, mode, size = _FILE_HEADER.unpack(header)
        offset += _FILE_HEADER.size
        if offset + name_length + size > end:
            raise ValueError("truncated file")
        name = os.pread(fd, name_length, offset).decode()
        entries.append((name, mode, offset + name_length, size))
        offset += name_length + size
    return entries


def unpack_files(fd: int) -> list[tuple[str, int, bytes]]:
    """The files of pack_files with their contents (the collected files, each cut at its limit),
    each content a CollectedFile that carries its mode."""
    return [(name, mode, CollectedFile(os.pread(fd, size, offset), mode))
            for name, mode, offset, size in packed_files(fd)]



