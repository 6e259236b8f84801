"""The wire between the supervisor and the child.  Side: both.

Handover (launcher -> init, a Unix socket): the run's descriptors, passed with
SCM_RIGHTS to an init that may have been cloned before the run was asked for.
Downward (parent -> child, a pipe read once): the Plan and the compiled BPF,
pickled; both ends are our own code, and the pipe is closed before the program
runs.  Upward (child -> parent): one JSON record per line, each written with a
single write(2) below PIPE_BUF so records from the init and the target never
interleave.  The program never holds the upward pipe: it is close-on-exec.
"""
from __future__ import annotations

import fcntl
import json
import os
import pickle
import socket
import struct
from dataclasses import astuple, dataclass
from typing import Any, Iterator, Optional

# Record kinds, in the order a healthy run sends them.
STARTED = "started"          # init: the program was exec'd
EXITED = "exited"            # init: the program ended; wait status and usage
SETUP_FAILED = "setup_failed"  # any helper: building the box failed
EXEC_FAILED = "exec_failed"  # the target: execve failed
_PIPE_BUF = 4096


@dataclass(frozen=True)
class InitFds:
    """The descriptors an init starts a run with; procs is -1 without a cgroup."""

    stdin: int
    stdout: int
    stderr: int
    plan: int
    status: int
    procs: int = -1  # the box cgroup's cgroup.procs, or -1 without a cgroup
    files: int = -1  # a memfd: files in (_channel.pack_files), then the collected files out; or -1

    def as_list(self) -> list[int]:
        return [fd for fd in astuple(self) if fd >= 0]


_OPTIONAL = ("procs", "files")


def send_init_fds(sock: socket.socket, verb: bytes, fds: InitFds) -> None:
    """One message: the verb, the names of the optional descriptors present, and all of them."""
    present = [name.encode() for name in _OPTIONAL if getattr(fds, name) >= 0]
    socket.send_fds(sock, [b" ".join([verb, *present])], fds.as_list())


def receive_init_fds(sock: socket.socket, verb: bytes) -> Optional[InitFds]:
    """The other end of send_init_fds; None at EOF or for anything else (its fds closed)."""
    message, fds, _, _ = socket.recv_fds(sock, 64, 5 + len(_OPTIONAL))
    words = message.split()
    if words[:1] == [verb] and len(fds) == 4 + len(words) and all(w.decode() in _OPTIONAL for w in words[1:]):
        return InitFds(*fds[:5], **{name.decode(): fd for name, fd in zip(words[1:], fds[5:])})
    for fd in fds:
        os.close(fd)
    return None


def hand_over(sock: socket.socket, fds: InitFds) -> None:
    """Give an init its run's descriptors (it receives its own copies) and wait for its
    word that it has them: an init that died meanwhile raises BrokenPipeError."""
    send_init_fds(sock, b"run", fds)
    if sock.recv(16) != b"taken":
        raise BrokenPipeError(32, "the init went away before taking its run")


def take_over(sock: socket.socket) -> Optional[InitFds]:
    """Wait for a run's descriptors; None if the launcher went away first."""
    fds = receive_init_fds(sock, b"run")
    if fds is not None:
        sock.send(b"taken")
    return fds


_FILE_HEADER = struct.Struct(">HIQ")  # name length, mode, content length


def pack_files(entries: list[tuple[str, int, bytes]]) -> bytes:
    """Files as bytes: for each, a header, the UTF-8 name, the content."""
    parts = []
    for name, mode, content in entries:
        encoded = name.encode()
        parts += [_FILE_HEADER.pack(len(encoded), mode, len(content)), encoded, content]
    return b"".join(parts)


def unpack_files(data: bytes) -> list[tuple[str, int, bytes]]:
    """The inverse of pack_files; raises ValueError on anything malformed."""
    entries, offset = [], 0
    while offset < len(data):
        if offset + _FILE_HEADER.size > len(data):
            raise ValueError("truncated file header")
        name_length, mode, size = _FILE_HEADER.unpack_from(data, offset)
        offset += _FILE_HEADER.size
        end = offset + name_length + size
        if end > len(data):
            raise ValueError("truncated file")
        entries.append((data[offset:offset + name_length].decode(), mode, data[offset + name_length:end]))
        offset = end
    return entries


def preload_plan(fd: int, payload: Any) -> None:
    """Write the whole plan into a pipe before its reader exists, so the reader need not
    wait for us.  The pipe is grown to hold it (64 KiB by default; an unprivileged process
    may grow one to /proc/sys/fs/pipe-max-size, 1 MiB by default)."""
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    if len(data) > fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ):
        try:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, len(data))
        except OSError:
            raise ValueError(f"the run's plan is too large ({len(data)} bytes)") from None
    _write_all(fd, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def receive_plan(fd: int) -> Any:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return pickle.loads(b"".join(chunks))


def send_record(fd: int, kind: str, **fields: Any) -> None:
    """One line, one write(2); an oversized message is shortened so the line fits PIPE_BUF."""
    line = _encode(kind, fields)
    if len(line) > _PIPE_BUF:
        message = str(fields.get("message", ""))
        excess = len(line) - _PIPE_BUF + 16
        while len(line) > _PIPE_BUF and message:
            message = message[: max(0, len(message) - excess)]
            line = _encode(kind, {**fields, "message": message + "..."})
            excess = max(1, excess // 2)
    os.write(fd, line)


def _encode(kind: str, fields: dict[str, Any]) -> bytes:
    return json.dumps({"kind": kind, **fields}, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


class RecordReader:
    """Splits the upward byte stream into records; tolerates partial reads."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> Iterator[dict[str, Any]]:
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if line:
                yield json.loads(line)
