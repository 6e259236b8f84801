"""Signals sent to `sandbox run` (SIGINT, SIGTERM, SIGHUP), passed on to the box's program.  Side: parent.

A user who presses Ctrl-C in front of `sandbox run -- pytest` wants what bare pytest gives: its
summary and its own exit status.  The box's program is in a session of its own (no terminal of the
caller's reaches it), so the CLI catches these signals while a box runs and the watch passes the
first one to the program; the box is ended when a second one comes or the program has not ended
GRACE seconds later.  The handlers only note the signal (signal.set_wakeup_fd writes its number to a
pipe the watch polls), so no Python code runs in between; the previous handlers are back when the
run ends.  Only the main thread may install handlers: the API's runs never get here.
Man pages: signal(7), sigaction(2).
"""
from __future__ import annotations

import os
import select
import signal
from contextlib import contextmanager
from typing import Iterator, Optional

PASSED_ON = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE = 10.0  # seconds the program has to end after a signal was passed on, before the box is ended


class Interrupts:
    """The read end of the wakeup pipe, and the signals that came through it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.seen = False  # a signal came: a batch of runs stops after the one it reached
        # Set by a caller that ends the box itself (groups.py: the group's wall limit, or a failed
        # member): whatever comes through the pipe then ends the box at once, for this reason.
        self.ends_box: Optional[str] = None

    def taken(self) -> list[int]:
        """The signals that came since the last call (the pipe is non-blocking)."""
        try:
            signals = list(os.read(self.fd, 64))
        except BlockingIOError:
            return []
        self.seen = self.seen or bool(signals)
        return signals

    def pending(self) -> bool:
        """A signal came that nobody has taken yet (between two runs of a batch)."""
        return bool(select.select([self.fd], [], [], 0)[0])


@contextmanager
def passed_on() -> Iterator[Interrupts]:
    """While the block runs, SIGINT, SIGTERM and SIGHUP are noted, not acted on."""
    read, write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    previous = {signum: signal.signal(signum, _noted) for signum in PASSED_ON}
    old_fd = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    try:
        yield Interrupts(read)
    finally:
        signal.set_wakeup_fd(old_fd)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        os.close(read)
        os.close(write)


def _noted(signum: int, frame: object) -> None:
    """The wakeup pipe has the signal's number; nothing else to do here."""
