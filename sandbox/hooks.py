"""What a caller may attach to a run: a hook told when the box starts and ends.  Side: parent.

The supervisor runs boxes and knows nothing of what else a caller keeps about them.  A
named box (live/registry.NamedBox: `sandbox run --name`) is the hook in use: its name is
checked free before anything starts, the box is listed once its program runs (so `sandbox
exec` finds a program to join), and unlisted when the run ends, whatever ended it.
"""
from __future__ import annotations

from typing import Optional, Protocol

from ._record import dataclass
from .plan import Plan


@dataclass(frozen=True)
class RunningBox:
    """A box whose program runs, as a hook sees it."""

    profile: str
    plan: Plan
    bpf: bytes            # the program's compiled seccomp filter
    init_pid: int         # the box's init, in the caller's pid namespace
    init_start: str       # its start time (/proc/PID/stat), read at launch: with the pid, its identity
    cgroup: Optional[str]  # the box's own cgroup, or None


class RunHook(Protocol):
    def before_start(self) -> None:
        """Raise a SandboxError to refuse the run before anything of it exists."""

    def started(self, box: RunningBox) -> None:
        """The program runs."""

    def ended(self) -> None:
        """The run ends (called whether or not started() was)."""
