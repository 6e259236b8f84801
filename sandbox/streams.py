"""Moving a box's bytes to their consumers, never waiting on a consumer that does not read.  Side: parent (write_all: both).

The supervisor forwards the box's output while it keeps the box's deadlines.  A
blocking write to a consumer that does not read (a pipe to a stalled reader, a
stopped `cat`, a terminal after XOFF) would stop its clock, and the box would
outlive its wall time.  So an Outlet never blocks: what its sink does not take now
waits in a buffer and is written when the sink turns writable (a Relay watches it
in the supervisor's selector); while that buffer is over PENDING_LIMIT the Relay
stops reading the box's stream, so the program blocks on its own write, as it
would bare, and the supervisor's loop and deadlines run on.

O_NONBLOCK is never set on the caller's own open file description: descriptors 1
and 2 are shared with the caller's shell and whatever else holds them, which would
then see EAGAIN.  A pipe, FIFO or terminal is reopened through /proc/self/fd (a
private, non-blocking description of the same file); a socket is sent to with
MSG_DONTWAIT; regular files and other devices take plain writes (they wait on no
reader).  Where the reopen is refused, at most PIPE_BUF bytes are written at a time
and only when poll() says the sink is writable, which a pipe then takes whole.
A reader that went away (EPIPE) gets nothing more: the rest is discarded, as a
bare program's output would be.  Man pages: pipe(7) (PIPE_BUF), proc(5) (/proc/PID/fd).
"""
from __future__ import annotations

import errno
import os
import select
import selectors
import socket
import stat
import sys
from typing import Optional

PENDING_LIMIT = 1 << 20  # bytes an outlet holds for a slow sink before its stream stops being read
CHUNK = 1 << 16
PIPE_BUF = select.PIPE_BUF
_GONE = (errno.EPIPE, errno.ECONNRESET, errno.EIO)  # EIO: a terminal that hung up

_PLAIN, _PRIVATE, _SOCKET, _POLLED = "plain", "private", "socket", "polled"


class Outlet:
    """One sink (a descriptor of the caller's), written without blocking; see the module docstring."""

    def __init__(self, fd: int) -> None:
        self.fd = fd                  # the caller's: never made non-blocking, never closed here
        self.pending = bytearray()
        self.gone = False             # the reader went away: discard
        self._own = -1                # our private descriptor of the same file, or -1
        self._socket: Optional[socket.socket] = None
        self.mode = self._choose_mode()

    def _choose_mode(self) -> str:
        try:
            mode = os.fstat(self.fd).st_mode
        except OSError:  # a closed descriptor: the output goes nowhere, as it would from a bare program
            self.gone = True
            return _PLAIN
        if stat.S_ISSOCK(mode):
            try:
                self._socket = socket.socket(fileno=os.dup(self.fd))
                return _SOCKET
            except OSError:
                return _POLLED
        if stat.S_ISFIFO(mode) or (stat.S_ISCHR(mode) and os.isatty(self.fd)):
            self._own = reopen_nonblocking(self.fd)
            return _PRIVATE if self._own >= 0 else _POLLED
        return _PLAIN

    @property
    def watch_fd(self) -> int:
        """The descriptor to wait on for writability."""
        if self._socket is not None:
            return self._socket.fileno()
        return self._own if self._own >= 0 else self.fd

    @property
    def waiting(self) -> bool:
        """Bytes wait for the sink to take them."""
        return bool(self.pending) and not self.gone

    @property
    def full(self) -> bool:
        """Over the bound: stop reading what feeds this outlet."""
        return len(self.pending) >= PENDING_LIMIT and not self.gone

    def send(self, data: bytes) -> None:
        """Queue data and write what the sink takes now."""
        if self.gone or not data:
            return
        if self.mode == _PLAIN:
            self.gone = not write_all(self.fd, data)
            return
        self.pending += data
        self.flush()

    def flush(self) -> None:
        """Write as much of what waits as the sink takes without waiting."""
        while self.waiting:
            with memoryview(self.pending) as view:
                try:
                    written = self._write(view)
                except BlockingIOError:
                    written = 0
                except OSError as e:
                    if e.errno not in _GONE:
                        raise
                    self.gone, written = True, 0
            if self.gone:
                self.pending.clear()
            if not written:
                return
            del self.pending[:written]

    def _write(self, view: memoryview) -> int:
        if self._socket is not None:
            return self._socket.send(view[:CHUNK], socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL)
        if self._own >= 0:
            return os.write(self._own, view[:CHUNK])
        poller = select.poll()
        poller.register(self.fd, select.POLLOUT)
        if not poller.poll(0):
            return 0
        return os.write(self.fd, view[:PIPE_BUF])  # writable: a pipe has room for PIPE_BUF bytes

    def finish(self) -> None:
        """Deliver everything that waits, waiting for the sink as long as it takes (after the box has ended)."""
        while True:
            self.flush()
            if not self.waiting:
                return
            select.select([], [self.watch_fd], [])

    def close(self) -> None:
        if self._own >= 0:
            os.close(self._own)
            self._own = -1
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def reopen_nonblocking(fd: int) -> int:
    """A private, non-blocking description of the pipe, FIFO or terminal `fd` is; -1 if refused."""
    try:
        own = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:  # no /proc, a FIFO without a reader (ENXIO), a terminal we may not open
        return -1
    theirs, ours = os.fstat(fd), os.fstat(own)
    if (theirs.st_dev, theirs.st_ino, theirs.st_rdev) != (ours.st_dev, ours.st_ino, ours.st_rdev):
        os.close(own)  # not the same file after all: never write elsewhere
        return -1
    return own


def outlets_for(targets: dict[str, int]) -> dict[str, Outlet]:
    """An outlet per stream; streams whose descriptors are the same pipe, socket or terminal share
    one, so their bytes keep the order they were read in (e.g. `2>&1 | less`)."""
    by_identity: dict[object, Outlet] = {}
    outlets = {}
    for stream, fd in targets.items():
        try:
            info = os.fstat(fd)
            shared = stat.S_ISFIFO(info.st_mode) or stat.S_ISSOCK(info.st_mode) or stat.S_ISCHR(info.st_mode)
            identity: object = (info.st_dev, info.st_ino) if shared else ("fd", fd)
        except OSError:
            identity = ("fd", fd)
        if identity not in by_identity:
            by_identity[identity] = Outlet(fd)
        outlets[stream] = by_identity[identity]
    return outlets


class Relay:
    """Back-pressure in the caller's selector: a box stream is read only while its outlet has room,
    and an outlet is watched for writability only while bytes wait in it.

    Streams are registered with data None, outlets with themselves as data: the caller's loop
    hands an event whose data is an Outlet to writable()."""

    def __init__(self, selector: selectors.BaseSelector) -> None:
        self.selector = selector
        self.paused: dict[int, Outlet] = {}  # box stream -> the outlet it waits for

    def read(self, fd: int) -> None:
        """Start reading a box stream."""
        self.selector.register(fd, selectors.EVENT_READ)

    def forget(self, fd: int) -> None:
        """A stream that ended (or was never read): no longer read, nor waiting."""
        if self.paused.pop(fd, None) is None and fd in self.selector.get_map():
            self.selector.unregister(fd)

    def sent(self, fd: int, outlet: Outlet) -> None:
        """Bytes from stream fd went into outlet: pause the stream if the outlet is full."""
        if outlet.full and fd not in self.paused:
            self.selector.unregister(fd)
            self.paused[fd] = outlet
        self._watch(outlet)

    def writable(self, outlet: Outlet) -> None:
        outlet.flush()
        self._watch(outlet)

    def _watch(self, outlet: Outlet) -> None:
        watched = outlet.watch_fd in self.selector.get_map()
        if outlet.waiting and not watched:
            self.selector.register(outlet.watch_fd, selectors.EVENT_WRITE, outlet)
        elif not outlet.waiting and watched:
            self.selector.unregister(outlet.watch_fd)
        if not outlet.full:
            for fd in [fd for fd, waits_for in self.paused.items() if waits_for is outlet]:
                del self.paused[fd]
                self.selector.register(fd, selectors.EVENT_READ)


def pseudo_terminal(model: int) -> tuple[int, int]:
    """A pseudo-terminal of the box's own, sized like the caller's terminal `model`: the program
    sees a terminal (colours, line buffering) but never the caller's, so it cannot inject input
    into it or change its settings, and its output is still counted against the output limit.
    Output processing is off on the program's side: its bytes reach our terminal unchanged."""
    import termios

    master, slave = os.openpty()
    try:
        termios.tcsetwinsize(slave, termios.tcgetwinsize(model))
    except termios.error:
        pass  # the caller's terminal has no size: keep the default
    attributes = termios.tcgetattr(slave)
    attributes[1] &= ~termios.OPOST
    termios.tcsetattr(slave, termios.TCSANOW, attributes)
    return master, slave


def read_stream(fd: int, size: int = CHUNK) -> bytes:
    """A chunk of a box's stream; b"" at its end (a pseudo-terminal says EIO once the program's side is closed)."""
    try:
        return os.read(fd, size)
    except OSError as e:
        if e.errno == errno.EIO:
            return b""
        raise


def readable_now(fd: int) -> int:
    """How many bytes a pipe or pseudo-terminal holds right now (FIONREAD)."""
    import fcntl
    import termios

    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, bytes(4)), sys.byteorder, signed=True)


def write_all(fd: int, data: bytes) -> bool:
    """Write everything, waiting as long as it takes; False if the reader went away (e.g. `| head`)."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BrokenPipeError:
            return False
    return True
