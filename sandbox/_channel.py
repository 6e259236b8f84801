"""The wire between the supervisor and the child.  Side: both.

Handover (launcher -> init, a Unix socket): the run's descriptors, passed with
SCM_RIGHTS to an init that may have been cloned before the run was asked for.
Downward (parent -> child, a memfd read once): the Plan and the compiled BPF,
pickled; both ends are our own code, and the memfd is closed before the program
runs.  Upward (child -> parent): one JSON record per line, each written with a
single write(2) below PIPE_BUF so records from the init and the target never
interleave.  The program never holds the upward pipe: it is close-on-exec.
"""
from __future__ import annotations

import json
import os
import pickle
import socket
from typing import Any, Iterator, Optional

from ._record import dataclass
from .streams import write_all

# Record kinds, in the order a healthy run sends them.
EXECUTING = "executing"      # init: the target exec'd; the init's peak memory, which it carried (the program's floor)
STARTED = "started"          # init: the program was exec'd
EXITED = "exited"            # init: the program ended; wait status and usage
SETUP_FAILED = "setup_failed"  # any helper: building the box failed
EXEC_FAILED = "exec_failed"  # the target: execve failed
_PIPE_BUF = 4096


@dataclass(frozen=True)
class InitFds:
    """The descriptors an init starts a run with; procs is empty without a cgroup."""

    stdin: int
    stdout: int
    stderr: int
    plan: int
    status: int
    # The box cgroup's cgroup.procs in each hierarchy: one on cgroup v2, one per hierarchy on v1; () without.
    procs: tuple[int, ...] = ()
    files: int = -1  # a memfd: files in (transfer.packing.pack_files), then the collected files out; or -1

    def as_list(self) -> list[int]:
        return [self.stdin, self.stdout, self.stderr, self.plan, self.status, *self.procs,
                *([self.files] if self.files >= 0 else [])]


MAX_PROCS = 8  # hierarchies a box joins at most (_lastmile.c's MAX_CGROUP_FDS)


def send_init_fds(sock: socket.socket, verb: bytes, fds: InitFds) -> None:
    """One message: the verb, a name per optional descriptor present ("procs" once per hierarchy,
    "files"), and all of them, in that order."""
    present = [b"procs"] * len(fds.procs) + ([b"files"] if fds.files >= 0 else [])
    socket.send_fds(sock, [b" ".join([verb, *present])], fds.as_list())


def receive_init_fds(sock: socket.socket, verb: bytes) -> Optional[InitFds]:
    """The other end of send_init_fds; None at EOF or for anything else (its fds closed)."""
    message, fds, _, _ = socket.recv_fds(sock, 256, 6 + MAX_PROCS)
    words = message.split()
    names = words[1:]
    procs = names.count(b"procs")
    if (words[:1] == [verb] and len(fds) == 5 + len(names) and procs <= MAX_PROCS
            and names == [b"procs"] * procs + [b"files"] * (len(names) - procs) and len(names) - procs <= 1):
        stdin, stdout, stderr, plan, status = fds[:5]
        return InitFds(stdin, stdout, stderr, plan, status, procs=tuple(fds[5:5 + procs]),
                       files=fds[5 + procs] if len(names) > procs else -1)
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


def plan_memfd(payload: Any) -> int:
    """The plan, pickled into a memfd the init reads.  A memfd, not a pipe: a pipe's buffer is
    charged to a per-user quota (fs.pipe-user-pages-soft) that the box, running as the same user,
    can drain, after which pipes hold one or two pages only."""
    fd = os.memfd_create("sandbox-plan", os.MFD_CLOEXEC)
    try:
        write_all(fd, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
    except BaseException:
        os.close(fd)
        raise
    return fd


def receive_plan(fd: int) -> Any:
    return pickle.loads(os.pread(fd, os.fstat(fd).st_size, 0))


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
