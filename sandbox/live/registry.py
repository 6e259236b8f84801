"""Named, live sandboxes: one JSON file per running box in the user's runtime directory.  Side: parent.

`sandbox run --name NAME` registers its box once the program has started and
removes the entry when the run ends.  An entry names the box's init by pid *and*
start time, so a supervisor killed with -9 leaves an entry that every reader
recognises as stale (the init dies with its parent) and removes; a reused pid is
never mistaken for the box.  The entry also holds what `sandbox exec` needs to
confine a command exactly as the program is (its seccomp filter, rlimits,
environment, working directory, cgroup): the directory is the user's own (mode
0700), as a file there is trusted as much as the user's own processes are.  So it
is opened once and checked by its descriptor, and every entry is read, linked and
removed through that descriptor, never by path again (sandbox.privatedir): a
registry under a directory another user can write cannot be swapped for theirs
between the check and the use, and an entry that is not a regular file of the
user's own (a symlink, a FIFO) is never read.
"""
from __future__ import annotations

import base64
import json
import os
import re
import time
from typing import Optional

from .._record import asdict, dataclass, field
from ..errors import HostError, UsageError
from ..hooks import RunningBox
from ..privatedir import NotPrivate, PrivateDir, open_private
from ..rlimits import RlimitSpec

RUNTIME_DIR_ENV = "SANDBOX_RUNTIME_DIR"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SUFFIX = ".json"


@dataclass(frozen=True)
class Confinement:
    """What a command run by `sandbox exec` gets: the program's own limits and filter, never more."""

    cwd: str
    env: tuple[tuple[str, str], ...]
    rlimits: tuple[RlimitSpec, ...]
    bpf: bytes
    output: Optional[int] = None  # the box's output limit in bytes, which each exec'd command gets too


@dataclass(frozen=True)
class LiveBox:
    name: str
    id: str
    pid: int                # the box's init, in the caller's pid namespace
    start: str              # the init's start time: with pid, its identity
    profile: str
    command: tuple[str, ...]
    started: float          # seconds since the epoch
    cgroup: Optional[str]   # the box's own cgroup, or None (rlimits only)
    confinement: Confinement = field(repr=False)

    def alive(self) -> bool:
        """The init is still there (not a zombie whose parent, a killed supervisor, never reaped it)."""
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()  # fields[0] is the state, [19] the start time
        except (OSError, IndexError):
            return False
        return fields[0] not in ("Z", "X") and fields[19] == self.start


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise UsageError(f"--name {name!r}: expected 1-64 letters, digits, '.', '_' or '-', starting with a "
                         f"letter or digit")
    return name


def runtime_dir() -> str:
    """$SANDBOX_RUNTIME_DIR, else $XDG_RUNTIME_DIR/sandbox (or /run/user/UID/sandbox), else
    ~/.local/state/sandbox/live; created mode 0700 and used only if it is ours alone."""
    with _open_runtime_dir() as directory:
        return directory.path


def _open_runtime_dir() -> PrivateDir:
    """The runtime directory, opened and checked (ours, mode 0700); HostError if it is not."""
    path = os.environ.get(RUNTIME_DIR_ENV)
    if not path:
        runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
        if os.path.isdir(runtime) and os.stat(runtime).st_uid == os.getuid():
            path = os.path.join(runtime, "sandbox")
        else:
            state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
            path = os.path.join(state, "sandbox", "live")
    try:
        return open_private(path, 0o077)
    except NotPrivate:
        raise HostError(f"the live sandboxes' directory {path} must be a directory of yours with mode 0700 "
                        f"(set {RUNTIME_DIR_ENV} to use another)") from None
    except OSError as e:
        raise HostError(f"the live sandboxes' directory {path}: {e.strerror}") from None


def register(box: LiveBox) -> None:
    """Publish a box under its name; a live box of that name is an error, a stale entry is replaced."""
    with _open_runtime_dir() as directory:
        target = box.name + SUFFIX
        temporary = f".{box.name}.{box.id}"
        directory.create(temporary, json.dumps(_to_json(box)).encode())
        try:
            for _ in range(2):
                try:
                    directory.link(temporary, target)  # fails if the name is taken: no two boxes win the same name
                    return
                except FileExistsError:
                    other = _load(directory, target)
                    if other is not None and other.alive():
                        raise UsageError(f"--name {box.name}: a sandbox of that name is running (pid {other.pid}); "
                                         f"pick another name or `sandbox kill {box.name}`") from None
                    _remove(directory, target, other.id if other else None)
        finally:
            directory.unlink(temporary)
    raise UsageError(f"--name {box.name}: the name is being taken by another run right now")


def unregister(box: LiveBox) -> None:
    """Remove the box's entry, unless the name already belongs to a newer box."""
    with _open_runtime_dir() as directory:
        _remove(directory, box.name + SUFFIX, box.id)


def live() -> list[LiveBox]:
    """The running boxes, oldest first; entries of boxes that are gone are removed."""
    boxes = []
    with _open_runtime_dir() as directory:
        for entry in sorted(directory.names()):
            if not entry.endswith(SUFFIX) or entry.startswith("."):
                continue
            box = _load(directory, entry)
            if box is not None and box.alive():
                boxes.append(box)
            else:
                _remove(directory, entry, box.id if box else None)
    return sorted(boxes, key=lambda b: b.started)


def find(name: str) -> LiveBox:
    for box in live():
        if box.name == name:
            return box
    raise UsageError(f"no running sandbox named {name!r} (`sandbox ps` lists them)")


def _remove(directory: PrivateDir, entry: str, expected_id: Optional[str]) -> None:
    current = _load(directory, entry)
    if current is not None and expected_id is not None and current.id != expected_id:
        return
    directory.unlink(entry)


def _to_json(box: LiveBox) -> dict[str, object]:
    document = asdict(box)
    document["confinement"]["bpf"] = base64.b64encode(box.confinement.bpf).decode()
    return document


def _load(directory: PrivateDir, entry: str) -> Optional[LiveBox]:
    """An entry, or None if it is unreadable (half-written by a killed run, or not a file of ours)."""
    try:
        raw = directory.read(entry)
        if raw is None:
            return None
        data = json.loads(raw)
        confinement = data.pop("confinement")
        return LiveBox(
            **{**data, "command": tuple(data["command"])},
            confinement=Confinement(
                cwd=confinement["cwd"],
                env=tuple((k, v) for k, v in confinement["env"]),
                rlimits=tuple(RlimitSpec(**spec) for spec in confinement["rlimits"]),
                bpf=base64.b64decode(confinement["bpf"]),
                output=confinement.get("output"),
            ),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


class NamedBox:
    """The run hook of `sandbox run --name NAME` (hooks.RunHook): the name checked free before the box
    starts, the box listed once its program runs, its entry removed when the run ends."""

    def __init__(self, name: str) -> None:
        self.name = check_name(name)
        self.entry: Optional[LiveBox] = None

    def before_start(self) -> None:
        if any(box.name == self.name for box in live()):
            raise UsageError(f"--name {self.name}: a sandbox of that name is running; pick another name or "
                             f"`sandbox kill {self.name}`")

    def started(self, box: RunningBox) -> None:
        plan = box.plan
        self.entry = LiveBox(
            name=self.name, id=new_id(), pid=box.init_pid, start=box.init_start,
            profile=box.profile, command=plan.argv, started=time.time(), cgroup=box.cgroup,
            confinement=Confinement(plan.cwd, plan.env, plan.rlimits, box.bpf, plan.limits.output),
        )
        register(self.entry)

    def ended(self) -> None:
        if self.entry is not None:
            unregister(self.entry)
            self.entry = None


def new_id() -> str:
    return f"{os.getpid():x}{time.time_ns() & 0xFFFFFFFF:08x}"
