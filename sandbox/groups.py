"""Programs joined by pipes: several boxes at once, one's stdout another's stdin.  Side: parent.

An interactive problem runs a solution and an interactor, each one's stdout the other's
stdin; go-judge's pipeMapping allows any graph.  run_group() runs each member in a fresh
box of its own (its own profile, limits and namespaces: no box sees another's files or
processes), one thread per member, each calling Sandbox.run with the pipe ends as its
streams; the group ends when every member has ended.

Who holds which end, and until when, is the whole point: a pipe reaches EOF only when no
write end is left open, and EPIPE only when no read end is.  A pipe's write end is a
descriptor *sink* of its source member's run: the program writes into its own output pipe
and that member's supervisor relays the bytes (counted against its output limit, never
blocking: streams.Outlet), so only this process holds the write end, and closes it the
moment the member's run returns; its reader sees EOF then.  A pipe's read end is the
target's stdin, handed to its box directly (boxio.HandedOver): our copy is closed as soon
as the box's init has its own (supervisor._launch), so once the target's box ends no
reader is left, and the source's relay gets EPIPE and discards the rest, as a bare
program's output to a closed pipe would be.  A member that ends early, crashes or is
killed therefore leaves its peers EOF on what it fed and a bottomless sink for what it
read; nobody waits on it.  A member that never ends is ended by the group's wall limit:
when it expires, every box still running is ended at once, each run's verdict a TLE as its
own wall limit gives (_Stops, through the watch's interrupts pipe), so no member sees a
killed peer's EOF first and ends otherwise; each member's own wall limit is the group's at
most, as a backstop.  A member whose run raises (ExecError...) ends the others the same way.
Man pages: pipe(7) (EOF, EPIPE, pipe-user-pages-soft).
"""
from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import ExitStack
from typing import Any, Mapping, Optional, Sequence, Union

from ._record import dataclass, field
from .api import Sandbox
from .boxio import CAPTURE, HandedOver
from .errors import HostError, UsageError
from .interrupts import Interrupts
from .limits import parse_overrides
from .profile import Profile
from .result import Result

__all__ = ["Member", "Pipe", "run_group"]

_STREAM_OF_FD = {1: "stdout", 2: "stderr"}
_STREAMS = ("stdin", "stdout", "stderr")


@dataclass(frozen=True)
class Member:
    """One program of a group: its profile (its own fresh box), argv, and Sandbox.run's keywords
    (script, args, files, collect, env, limits...; stdin, stdout, stderr only where no pipe takes them)."""

    profile: Union[str, Profile]
    argv: Sequence[str] = ()
    run_kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Pipe:
    """Member `source`'s fd 1 (stdout) or 2 (stderr) feeds member `target`'s fd 0 (stdin)."""

    source: int
    source_fd: int
    target: int
    target_fd: int = 0


def run_group(members: Sequence[Member], pipes: Sequence[Pipe], *,
              wall_time: Union[None, float, str] = None) -> list[Result]:
    """Run every member at once, joined by the pipes; one Result per member, in member order.

    A member's fd that no pipe takes is as Sandbox.run makes it (stdout, stderr captured by
    default; stdin from its run_kwargs, else empty).  wall_time: the group's wall limit, each
    member's too (every member still running then is ended: TLE).  Every member's arguments are
    checked, and every profile loaded, before any box starts; an error of the sandbox itself in
    one member's run (e.g. ExecError) ends the others and is raised once they have ended."""
    _check_graph(members, pipes)
    group_wall = parse_overrides({"wall_time": wall_time})["wall_time"] if wall_time is not None else None
    with ExitStack() as stack:
        sandboxes = _sandboxes(members, stack)
        calls = [_checked_call(i, member, sandboxes[i], pipes, group_wall) for i, member in enumerate(members)]
        ends = stack.enter_context(_PipeEnds(len(pipes)))
        return _run_all(sandboxes, calls, _joined(calls, pipes, ends), group_wall)


def _check_graph(members: Sequence[Member], pipes: Sequence[Pipe]) -> None:
    """Indexes in range, fd values, no fd fed or taken twice: a one-line UsageError each."""
    if not members:
        raise UsageError("run_group: a group needs at least one member")
    for i, member in enumerate(members):
        if not isinstance(member, Member):
            raise UsageError(f"run_group: member {i} is not a Member")
    fed: dict[int, int] = {}
    taken: dict[tuple[int, int], int] = {}
    for k, pipe in enumerate(pipes):
        if not isinstance(pipe, Pipe):
            raise UsageError(f"run_group: pipe {k} is not a Pipe")
        for end, index in (("source", pipe.source), ("target", pipe.target)):
            if not isinstance(index, int) or not 0 <= index < len(members):
                raise UsageError(f"pipe {k}: {end} {index!r} is not a member index (0..{len(members) - 1})")
        if pipe.source_fd not in _STREAM_OF_FD:
            raise UsageError(f"pipe {k}: source_fd must be 1 (stdout) or 2 (stderr), not {pipe.source_fd!r}")
        if pipe.target_fd != 0:
            raise UsageError(f"pipe {k}: target_fd must be 0 (stdin), not {pipe.target_fd!r}")
        if pipe.target in fed:
            raise UsageError(f"pipe {k}: member {pipe.target}'s fd 0 is already fed by pipe {fed[pipe.target]}")
        if (pipe.source, pipe.source_fd) in taken:
            raise UsageError(f"pipe {k}: member {pipe.source}'s fd {pipe.source_fd} already feeds pipe "
                             f"{taken[pipe.source, pipe.source_fd]}")
        fed[pipe.target], taken[pipe.source, pipe.source_fd] = k, k


def _sandboxes(members: Sequence[Member], stack: ExitStack) -> list[Sandbox]:
    """One Sandbox (one fork server) per distinct profile; each run is still a fresh box of its own."""
    by_profile: dict[object, Sandbox] = {}
    for member in members:
        key = member.profile if isinstance(member.profile, str) else id(member.profile)
        if key not in by_profile:
            by_profile[key] = stack.enter_context(Sandbox(member.profile))
    return [by_profile[m.profile if isinstance(m.profile, str) else id(m.profile)] for m in members]


def _checked_call(i: int, member: Member, sandbox: Sandbox, pipes: Sequence[Pipe],
                  group_wall: Optional[float]) -> dict[str, Any]:
    """Member i's run keywords, checked now (before any box starts), its wall limit the group's at most."""
    kwargs = dict(member.run_kwargs)
    for k, pipe in enumerate(pipes):
        taken = ["stdin"] * (pipe.target == i) + [_STREAM_OF_FD[pipe.source_fd]] * (pipe.source == i)
        for stream in taken:
            if stream in kwargs:
                raise UsageError(f"member {i}: {stream} is given, but pipe {k} takes it")
    if "name" in kwargs and not isinstance(kwargs["name"], (str, type(None))):
        raise UsageError(f"member {i}: name must be a string")
    checked = {key: value for key, value in kwargs.items() if key not in (*_STREAMS, "name")}
    try:
        sandbox._request(member.argv, **checked)
    except TypeError as e:
        raise UsageError(f"member {i}: {e}") from None
    except UsageError as e:
        raise UsageError(f"member {i}: {e.message}") from None
    if group_wall is not None:
        given = [kwargs.pop(key) for key in ("timeout", "wall_time") if key in kwargs]  # the run's, else the profile's
        own = parse_overrides({"wall_time": given[0]})["wall_time"] if given else sandbox.profile.limits.wall_time
        kwargs["wall_time"] = group_wall if own is None else min(own, group_wall)
    kwargs.setdefault("stdin", b"")
    kwargs["argv"] = tuple(member.argv)
    return kwargs


class _PipeEnds:
    """Every pipe end this process holds, each closed once, whoever closes it first: a member's
    run (a read end, once its box's init has it), a member's thread (a write end, when its run
    returns), or the end of the group (whatever is left, whatever happened)."""

    def __init__(self, count: int) -> None:
        self.read: list[HandedOver] = []
        self.write: list[HandedOver] = []
        try:
            for _ in range(count):
                read, write = os.pipe2(os.O_CLOEXEC)
                self.read.append(HandedOver(read))
                self.write.append(HandedOver(write))
        except BaseException as e:
            self.close()
            if isinstance(e, OSError):  # EMFILE, or ENFILE: a hard pipe quota (fs.pipe-user-pages-hard) reached
                raise HostError(f"cannot make the group's pipes: {e.strerror or e}") from None
            raise

    def close(self) -> None:
        for end in (*self.read, *self.write):
            end.close()

    def __enter__(self) -> "_PipeEnds":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _joined(calls: list[dict[str, Any]], pipes: Sequence[Pipe], ends: _PipeEnds) -> list[list[HandedOver]]:
    """Put the pipe ends into the members' keywords; per member, the write ends its thread closes."""
    closes: list[list[HandedOver]] = [[] for _ in calls]
    for k, pipe in enumerate(pipes):
        calls[pipe.target]["stdin"] = ends.read[k]
        calls[pipe.source][_STREAM_OF_FD[pipe.source_fd]] = ends.write[k].fd
        closes[pipe.source].append(ends.write[k])
    for call in calls:
        call.setdefault("stdout", CAPTURE)
    return closes


def _run_all(sandboxes: list[Sandbox], calls: list[dict[str, Any]], closes: list[list[HandedOver]],
             group_wall: Optional[float]) -> list[Result]:
    """A thread per member; all joined before the group's pipe ends and fork servers go.  A member
    whose run raises ends the others (so does an exception here, e.g. KeyboardInterrupt while we
    wait): the group's result is that exception, and nothing of it is left running."""
    results: list[Any] = [None] * len(calls)
    failures: list[BaseException] = []  # in the order they came: the first is the group's
    with _Stops(len(calls)) as stops:
        def member(i: int) -> None:
            try:
                results[i] = _run_member(sandboxes[i], calls[i], stops.interrupts[i])
            except BaseException as e:  # raised in the caller's thread, once every member has ended
                failures.append(e)
                stops.stop_all()
            finally:
                _close_ends(calls[i], closes[i])

        threads = [threading.Thread(target=member, args=(i,), name=f"sandbox-group-member-{i}")
                   for i in range(len(calls))]
        started = 0
        try:
            for thread in threads:
                thread.start()
                started += 1
            _join(threads, group_wall, stops)
        except BaseException:
            stops.stop_all()
            for i in range(started, len(threads)):  # a thread that could not start: its peers are not kept waiting
                _close_ends(calls[i], closes[i])
            for thread in threads[:started]:
                thread.join()
            raise
    if failures:
        raise failures[0]
    return results


def _join(threads: list[threading.Thread], group_wall: Optional[float], stops: "_Stops") -> None:
    """Wait for every member; at the group's wall limit (counted from the launch of its members, so
    it comes before any member's own, which counts from its program's start) end those still running."""
    deadline = None if group_wall is None else time.monotonic() + group_wall
    for thread in threads:
        thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            stops.stop_all("wall_time")
            thread.join()


def _run_member(sandbox: Sandbox, call: dict[str, Any], interrupts: Interrupts) -> Result:
    """Sandbox.run with the member's keywords, and a way to end its box from outside (_Stops)."""
    rest = {key: value for key, value in call.items() if key not in (*_STREAMS, "name", "argv")}
    request = sandbox._request(call["argv"], **rest)
    return sandbox._run_request(request, call["stdin"], call["stdout"], call.get("stderr", CAPTURE),
                                call.get("name"), interrupts)


class _Stops:
    """A wakeup pipe per member, which its run's watch polls as it polls the CLI's signals
    (interrupts.py), marked to end the box at once for a reason of ours: written once, when the
    group's wall limit expires (the reason "wall_time": each box still running is a TLE, at the
    same moment, so no member sees its peer's EOF first and ends otherwise), or when a member's
    run failed (a member still running would run on until its wall limit)."""

    def __init__(self, count: int) -> None:
        self.interrupts: list[Interrupts] = []
        self._writes: list[int] = []
        self._stopped = False
        self._lock = threading.Lock()
        try:
            for _ in range(count):
                read, write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
                self.interrupts.append(Interrupts(read))
                self._writes.append(write)
        except BaseException:
            self.close()
            raise

    def stop_all(self, reason: str = "interrupted") -> None:
        """End every member's box that still runs, each run's verdict as that `reason` gives
        ("wall_time": TLE); the first call's reason stands."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        for interrupts, write in zip(self.interrupts, self._writes):
            interrupts.ends_box = reason  # before the byte that makes its watch look
            os.write(write, bytes([signal.SIGKILL]))

    def close(self) -> None:
        for fd in (*self._writes, *(interrupts.fd for interrupts in self.interrupts)):
            os.close(fd)
        self._writes, self.interrupts = [], []

    def __enter__(self) -> "_Stops":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_ends(call: dict[str, Any], writes: list[HandedOver]) -> None:
    """A member's run is over (or never began): its readers see EOF, its writers EPIPE (its stdin's
    read end is normally closed already, once its box's init had it)."""
    for end in writes:
        end.close()
    stdin = call.get("stdin")
    if isinstance(stdin, HandedOver):
        stdin.close()
