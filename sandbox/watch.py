"""The supervisor's watch over one running box: its records, its output, its deadlines.  Side: parent.

One loop, like isolate's keeper: wait for whatever comes first (a record from the init,
output from the program, a sink ready for more, the next deadline, the next look at the
box's CPU time), handle it, and go on until the init closes its status pipe, which it
alone holds: the box has ended.  A deadline is kept whatever else is happening (a flood
of output, a reader that stalled), since no write of ours ever blocks (streams.py).
The program's output is read only after the init reported it running, so a named box is
listed before anything it printed reaches the caller.

A box is ended without asking its init (boxprocs.end_box); if the box has not ended
KILL_GRACE later, its init is SIGKILLed, and the kernel ends the rest of its pid namespace.
Man pages: poll(2), pidfd_open(2).
"""
from __future__ import annotations

import enum
import os
import selectors
import time
from typing import Callable, Optional

from ._record import dataclass
from . import _channel, cgroup
from ._forkserver import InitProcess
from .boxio import BoxStreams, Output
from .boxprocs import box_cpu_time, end_box, signal_program
from .interrupts import GRACE, Interrupts
from .limits import Limits
from .streams import Outlet, Relay, read_stream

SETUP_TIMEOUT = 120.0  # building a box takes milliseconds; this only catches a wedged child
KILL_GRACE = 2.0       # after killing the program, SIGKILL the init if the box has not ended
CPU_POLL_MIN = 0.01    # seconds between checks of the box's CPU time (cgroup cpu.stat, or /proc)
CPU_POLL_MAX = 0.25


class Deadline(enum.Enum):
    """What the next deadline is for."""

    SETUP = "setup"      # the init must report the program running within SETUP_TIMEOUT
    WALL = "wall_time"   # the program's wall-time limit
    INTERRUPTED = "interrupted"  # a signal to us was passed on to the program: it has GRACE to end
    KILL = "kill"        # the box must have ended KILL_GRACE after we ended its program
    GONE = "gone"        # the init is SIGKILLed: the kernel ends the box, nothing left to wait for
    NONE = "none"        # the program runs without a wall-time limit


@dataclass
class Watched:
    """What the watch saw: the init's records, and why the supervisor ended the box, if it did."""

    records: list[dict]
    killed_for: Optional[str]  # "wall_time", "cpu_time", "output", "setup" or "interrupted"
    wall_time: float           # since the program started, as the supervisor measured it
    cpu_seen: float = 0.0      # the box's CPU time at the last look (every process, the unreaped too)

    def record(self, kind: str) -> Optional[dict]:
        return next((r for r in self.records if r["kind"] == kind), None)


class Watch:
    """The loop of the module docstring for one box; run() returns once the box has ended.
    Every descriptor stays the caller's: the status pipe's read end, and the streams' (closed
    through BoxStreams.done once read to their end)."""

    def __init__(self, init: InitProcess, status: int, streams: BoxStreams, output: Output, limits: Limits,
                 run_cgroup: Optional[cgroup.AnyRunCgroup], on_started: Optional[Callable[[], None]],
                 interrupts: Optional[Interrupts] = None) -> None:
        self.init, self.status, self.streams, self.output = init, status, streams, output
        self.limits, self.cgroup, self.on_started = limits, run_cgroup, on_started
        self.interrupts, self.passed_on = interrupts, False
        self.records: list[dict] = []
        self.box_open = True
        self.killed_for: Optional[str] = None
        self.started = False
        self.started_at = time.monotonic()
        self.deadline = Deadline.SETUP
        self.due: Optional[float] = self.started_at + SETUP_TIMEOUT
        self.cpu_check: Optional[float] = None
        self.cpu_seen = 0.0
        self._reader = _channel.RecordReader()

    def run(self) -> Watched:
        # poll(2), not epoll: epoll watches are a per-user count (fs.epoll.max_user_watches) that a
        # box, running as the same user, can drain; poll counts nothing.
        with selectors.PollSelector() as selector:
            self.relay = Relay(selector)
            self.relay.read(self.status)
            if self.interrupts is not None:
                selector.register(self.interrupts.fd, selectors.EVENT_READ, self.interrupts)
            while self.box_open:
                self._wait(selector)
            wall = time.monotonic() - self.started_at
            self._deliver_rest()
        return Watched(self.records, self.killed_for, wall, self.cpu_seen)

    def _wait(self, selector: selectors.BaseSelector) -> None:
        wake = min((t for t in (self.due, self.cpu_check) if t is not None), default=None)
        events = selector.select(None if wake is None else max(0.0, wake - time.monotonic()))
        now = time.monotonic()
        if self.cpu_check is not None and now >= self.cpu_check:
            self._check_cpu()
        if self.due is not None and now >= self.due:  # whatever else is happening
            self._deadline_passed()
        for key, _ in events:
            if isinstance(key.data, Outlet):
                self.relay.writable(key.data)
            elif isinstance(key.data, Interrupts):
                signals, reason = key.data.taken(), key.data.ends_box
                if signals and reason:  # the caller ends the box (a group's wall limit): as that limit would
                    self._end_box(reason)
                else:
                    self._interrupted(signals)
            else:
                self._readable(key.fd)

    def _readable(self, fd: int) -> None:
        data = read_stream(fd)
        if fd == self.status:
            if data:
                for record in self._reader.feed(data):
                    self._on_record(record)
                return
            self.relay.forget(fd)
            self.box_open = False  # the init alone held the status pipe: it has exited, the box has ended
        elif not data:
            self.relay.forget(fd)
            self.streams.done(fd)
        else:
            self._forward(fd, data)

    def _on_record(self, record: dict) -> None:
        self.records.append(record)
        if record["kind"] != _channel.STARTED:
            return
        self.started, self.started_at = True, time.monotonic()
        if self.on_started:
            self.on_started()
        for fd in self.streams.readers:
            self.relay.read(fd)
        wall = self.limits.wall_time
        self._set_deadline(Deadline.NONE if wall is None else Deadline.WALL, wall or 0.0, since=self.started_at)
        if self.limits.cpu_time is not None:
            self.cpu_check = self.started_at + CPU_POLL_MIN

    def _interrupted(self, signals: list[int]) -> None:
        """The first signal goes to the program, which gets GRACE seconds to end (a deadline already
        nearer stands); a second one, or one before the program runs, ends the box at once."""
        for signum in signals:
            if self.passed_on or not self.started:
                self._end_box("interrupted")
                continue
            self.passed_on = True
            signal_program(self.init.pid, self.init.pidfd, signum)
            if self.deadline in (Deadline.NONE, Deadline.WALL) and (self.due is None or
                                                                   self.due > time.monotonic() + GRACE):
                self._set_deadline(Deadline.INTERRUPTED, GRACE)

    def _forward(self, fd: int, data: bytes) -> None:
        outlet = self.output.forward(self.streams.readers[fd], data)
        if outlet is not None:
            self.relay.sent(fd, outlet)
        if self.output.cap.exceeded:
            self._end_box("output")

    def _check_cpu(self) -> None:
        """CPU time of the whole box (every process and thread, the reaped ones too) against the
        limit: the cgroup's cpu.stat, or without one what /proc says (boxprocs.box_cpu_time).
        RLIMIT_CPU stays a backstop a second later (limits.py): it counts per process, in whole
        seconds, and a program may ignore its SIGXCPU."""
        assert self.limits.cpu_time is not None
        self.cpu_check = None
        if self.killed_for:
            return
        used = self.cgroup.cpu_usec() / 1e6 if self.cgroup else box_cpu_time(self.init.pid)
        self.cpu_seen = max(self.cpu_seen, used)
        left = self.limits.cpu_time - used
        if left < 0:
            self._end_box("cpu_time")
            return
        # The box burns at most one second per CPU per second: no breach is possible sooner.
        self.cpu_check = time.monotonic() + min(CPU_POLL_MAX, max(CPU_POLL_MIN, left / (os.cpu_count() or 1)))

    def _deadline_passed(self) -> None:
        if self.deadline is Deadline.KILL:  # the box did not end in time: SIGKILL the init, the namespace follows
            self.init.kill()
            self._set_deadline(Deadline.GONE)
        else:
            self._end_box(self.deadline.value)

    def _end_box(self, reason: str) -> None:
        """End every process of the program (cgroup.kill, or SIGKILL to the program; before it
        runs, SIGKILL to the init), once, for the first reason; then give the box KILL_GRACE."""
        if self.killed_for is None:
            self.killed_for = reason
            end_box(self.init.pid, self.init.pidfd, self.cgroup, self.started)
        if self.deadline not in (Deadline.KILL, Deadline.GONE):
            self._set_deadline(Deadline.KILL, KILL_GRACE)

    def _set_deadline(self, deadline: Deadline, after: float = 0.0, since: Optional[float] = None) -> None:
        """The next deadline: `after` seconds from `since` (default: now)."""
        self.deadline = deadline
        start = time.monotonic() if since is None else since
        self.due = None if deadline in (Deadline.NONE, Deadline.GONE) else start + after

    def _deliver_rest(self) -> None:
        """The box has ended: what its streams still hold, and what waits for a slow reader, is
        delivered now, waiting for the readers as long as they take, like any filter; no deadline
        is left to keep.  The kernel has ended the box's processes, so the streams reach EOF."""
        for fd in sorted(self.streams.readers):
            self.relay.forget(fd)
            while data := read_stream(fd):
                outlet = self.output.forward(self.streams.readers[fd], data)
                if outlet is not None:
                    outlet.finish()
            if self.output.cap.exceeded and self.killed_for is None:
                self.killed_for = "output"
            self.streams.done(fd)
        self.output.finish()
