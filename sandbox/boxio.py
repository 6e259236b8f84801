"""The program's standard streams as the supervisor holds them: what the caller asked for, the
pipes or pseudo-terminal that carry them, and the output on its way out.  Side: parent.

The caller says where each stream goes (Stdio); BoxStreams opens what carries it: the
box's ends are handed to the init, ours are read by the supervisor (and by `sandbox exec`,
live/exec.py, for a command's output).  The program's stdout and stderr always flow
through pipes (or a pseudo-terminal of the box's own) to us, never straight to the
caller's descriptors, so every byte is counted against the output limit (OutputCap) and
the caller's terminal is never the program's.  The program's stdin is handed over
directly: the caller's own, a given descriptor, or a memfd holding the given bytes.
Output holds what a run's output became: captured into the Result, or passed to its
sink through a non-blocking Outlet (streams.py), so no reader can stop our clock.
Man pages: pipe(7), pty(7), memfd_create(2).
"""
from __future__ import annotations

import os
import threading
from typing import Optional, Union

from ._record import dataclass, field
from .streams import Outlet, outlets_for, pseudo_terminal, write_all

PASS = "pass"          # the caller's own stream
CAPTURE = "capture"    # collected into the Result
STDOUT = "stdout"      # stderr only: into the same pipe as stdout, in the order written
TERMINAL = "terminal"  # the caller's terminal (fd 1 or 2), seen by the program through a pseudo-terminal of its own
Sink = Union[str, int]  # PASS, CAPTURE, STDOUT, TERMINAL, or a file descriptor to write to


class HandedOver:
    """A descriptor for the program's stdin whose last copy outside the box must not outlive the
    init's taking it: a pipe end another box writes to (groups.py).  BoxStreams closes it as soon
    as the init has its copy, so when the box ends no reader is left and the writer gets EPIPE;
    the caller closes it too, to be sure (close() is idempotent and thread-safe), if the run
    failed before its box got the descriptor."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)


Source = Union[None, int, bytes, HandedOver]  # None: the caller's stdin; an fd; bytes to feed; an fd handed over
STREAMS = ("stdout", "stderr")


@dataclass(frozen=True)
class Stdio:
    stdin: Source = None
    stdout: Sink = PASS
    stderr: Sink = PASS

    def sink(self, stream: str) -> Sink:
        return self.stdout if stream == "stdout" else self.stderr


@dataclass
class BoxStreams:
    """The descriptors that carry a box's three streams.  The box's ends (stdin, stdout, stderr)
    go to the init and are closed here once it has them (handed_over); ours (readers: fd ->
    the stream it carries) are read until their end, then closed by whoever read them to the end
    (done), or by close()."""

    stdin: int
    stdout: int
    stderr: int
    readers: dict[int, str]
    _ours: set[int] = field(default_factory=set)  # box ends we opened (the caller's stdin is theirs)
    _handed: Optional[HandedOver] = None  # a stdin given to close once the init has it

    @classmethod
    def open(cls, stdio: Stdio) -> "BoxStreams":
        opened: list[int] = []  # closed again if a later one fails (EMFILE): none may leak

        def made(pair: tuple[int, int]) -> tuple[int, int]:
            opened.extend(pair)
            return pair

        try:
            terminal = [stream for stream in STREAMS if stdio.sink(stream) == TERMINAL]
            tty_read, tty_write = made(pseudo_terminal(1 if "stdout" in terminal else 2)) if terminal else (-1, -1)
            out_read, out_write = (-1, tty_write) if "stdout" in terminal else made(os.pipe2(os.O_CLOEXEC))
            if stdio.stderr == STDOUT:
                err_read, err_write = -1, out_write
            else:
                err_read, err_write = (-1, tty_write) if "stderr" in terminal else made(os.pipe2(os.O_CLOEXEC))
            stdin = stdin_fd(stdio.stdin)
        except BaseException:
            for fd in opened:
                os.close(fd)
            raise
        readers = {fd: stream for fd, stream in ((out_read, "stdout"), (err_read, "stderr"),
                                                 (tty_read, terminal[0] if terminal else "")) if fd >= 0}
        box_ends = {out_write, err_write, tty_write} - {-1}
        if stdin not in (0, stdio.stdin) and not isinstance(stdio.stdin, HandedOver):
            box_ends.add(stdin)
        handed = stdio.stdin if isinstance(stdio.stdin, HandedOver) else None
        return cls(stdin, out_write, err_write, readers, box_ends, handed)

    def handed_over(self) -> None:
        """The init holds the box's ends now: ours would keep its pipes open after it exits."""
        while self._ours:
            os.close(self._ours.pop())
        if self._handed is not None:
            self._handed.close()

    def done(self, fd: int) -> None:
        """Our end of a stream that was read to its end."""
        del self.readers[fd]
        os.close(fd)

    def close(self) -> None:
        self.handed_over()
        for fd in list(self.readers):
            self.done(fd)

    def __enter__(self) -> "BoxStreams":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stdin_fd(source: Source) -> int:
    """The fd the program reads: the caller's stdin, a given fd, or a memfd holding the bytes."""
    if isinstance(source, HandedOver):
        if source.fd < 0:
            raise ValueError("a stdin handed over twice")
        return source.fd
    if isinstance(source, int):
        return source
    if source is None:
        try:
            os.fstat(0)
            return 0
        except OSError:  # the caller has no stdin: the program reads an empty one
            return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    fd = os.memfd_create("sandbox-stdin", os.MFD_CLOEXEC)
    try:
        write_all(fd, source)
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


class OutputCap:
    """The output limit, shared by a box's streams: what fits is passed, the rest cut."""

    def __init__(self, limit: Optional[int]) -> None:
        self.left = limit
        self.exceeded = False

    def take(self, data: bytes) -> bytes:
        if self.left is None:
            return data
        if len(data) > self.left:
            data = data[: self.left]
            self.exceeded = True
        self.left -= len(data)
        return data


class Output:
    """A run's stdout and stderr on their way out: cut at the output limit, then captured into
    the Result or sent to the stream's sink through an outlet that never blocks."""

    def __init__(self, stdio: Stdio, limit: Optional[int]) -> None:
        self.stdio = stdio
        self.cap = OutputCap(limit)
        self.buffers = {stream: bytearray() for stream in STREAMS}
        self.truncated = {stream: False for stream in STREAMS}
        self.outlets = outlets_for({stream: fd for stream in STREAMS if (fd := self._sink_fd(stream)) is not None})

    def _sink_fd(self, stream: str) -> Optional[int]:
        sink = self.stdio.sink(stream)
        if sink in (CAPTURE, STDOUT):
            return None
        if sink in (PASS, TERMINAL):
            return 1 if stream == "stdout" else 2
        return int(sink)

    def forward(self, stream: str, data: bytes) -> Optional[Outlet]:
        """Pass the bytes on, cut at the limit; the outlet they went into, if any (to be watched)."""
        fits = self.cap.take(data)
        if len(fits) < len(data):
            self.truncated[stream] = True
        if self.stdio.sink(stream) == CAPTURE:
            self.buffers[stream] += fits
            return None
        outlet = self.outlets[stream]
        outlet.send(fits)
        return outlet

    def finish(self) -> None:
        """Deliver what waits for slow readers, waiting as long as they take (the box has ended)."""
        for outlet in set(self.outlets.values()):
            outlet.finish()

    def captured(self, stream: str) -> Optional[bytes]:
        return bytes(self.buffers[stream]) if self.stdio.sink(stream) == CAPTURE else None  # STDOUT: None

    def close(self) -> None:
        for outlet in set(self.outlets.values()):
            outlet.close()

    def __enter__(self) -> "Output":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
