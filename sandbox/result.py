"""Verdicts and the result record judges parse.  Pure; side: parent.

decide_verdict() applies one fixed precedence, TLE > MLE > OLE > SV > RE > OK,
so that a run that breached several limits always gets the same verdict.  WA is
never decided here: only a comparison with a test case's expected output
(sandbox.cases) or a checker (sandbox.checker) turns an OK into WA (or PE, or IE).
"""
from __future__ import annotations

import enum
import signal
from typing import Optional

from ._record import asdict, dataclass, field
from .limits import Limits


# RLIMIT_CPU's SIGXCPU arrives when the kernel's tick count reaches the limit; rusage reads up to
# ~10 ms less on an idle machine, and more under load (a test saw a reading below 0.95 s at a 1 s
# limit once, at a load average of 2.4 on 2 cores).  A SIGXCPU long before the limit is the program's own doing: RE.
SIGXCPU_SLACK = 0.1


class Verdict(str, enum.Enum):
    OK = "OK"    # exited 0, no limit breached
    RE = "RE"    # runtime error: non-zero exit or killed by a signal
    TLE = "TLE"  # CPU time or wall time limit
    MLE = "MLE"  # memory limit
    OLE = "OLE"  # output limit (collected output or file size)
    SV = "SV"    # security violation: killed by the seccomp filter
    IE = "IE"    # internal error of the sandbox itself
    WA = "WA"    # wrong answer: OK, but stdout differs from the case's expected output (cases.judge), or a
                 # checker said so (sandbox.checker); never given by a plain run, which has nothing to compare with
    PE = "PE"    # presentation error: given only by a checker (sandbox.checker), never by a run or a comparison

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Usage:
    """What the run did, as measured; every field is filled by the supervisor."""

    exit_code: Optional[int] = None
    signal: Optional[int] = None
    cpu_time: float = 0.0
    user_time: float = 0.0
    system_time: float = 0.0
    wall_time: float = 0.0
    memory_peak: Optional[int] = None
    pids_peak: Optional[int] = None
    oom_killed: bool = False
    killed_for: Optional[str] = None      # why the supervisor killed the box: wall_time, cpu_time, output, setup
    output_exceeded: bool = False


def decide_verdict(usage: Usage, limits: Limits) -> tuple[Verdict, Optional[str]]:
    """The verdict and the limit that ended the run, by fixed precedence."""
    if usage.killed_for == "wall_time":
        return Verdict.TLE, "wall_time"
    if (
        usage.killed_for == "cpu_time"
        or (limits.cpu_time is not None and usage.cpu_time > limits.cpu_time)
        or (usage.signal == signal.SIGXCPU and limits.cpu_time is not None
            and usage.cpu_time >= limits.cpu_time - SIGXCPU_SLACK)
    ):
        return Verdict.TLE, "cpu_time"
    if usage.oom_killed or (limits.memory is not None and usage.memory_peak is not None
                            and usage.memory_peak > limits.memory):
        return Verdict.MLE, "memory"
    if usage.killed_for == "output" or usage.output_exceeded or usage.signal == signal.SIGXFSZ:
        return Verdict.OLE, "output"
    if usage.signal == signal.SIGSYS:
        return Verdict.SV, None
    if usage.signal is not None or usage.exit_code != 0:
        return Verdict.RE, None
    return Verdict.OK, None


def signal_name(signum: Optional[int]) -> Optional[str]:
    """SIGTERM for 15; real-time signals have no name of their own in Python: SIG40."""
    if signum is None:
        return None
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"SIG{signum}"


@dataclass
class Result:
    """One run's outcome; to_dict() is the stable JSON document (keys never change meaning)."""

    verdict: Verdict
    exit_code: Optional[int]
    signal: Optional[int]
    limit: Optional[str]
    cpu_time: float
    user_time: float
    system_time: float
    wall_time: float
    memory_peak: Optional[int]
    pids_peak: Optional[int]
    oom_killed: bool
    enforced_by: dict[str, str]
    message: str = ""
    stdout: Optional[bytes] = None
    stderr: Optional[bytes] = None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    limits: dict[str, object] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # collected from the work dir after the run
    files_truncated: list[str] = field(default_factory=list)  # names cut at the collect limit
    case: Optional[str] = None  # the test case's name when run as one of a batch (cases.run_cases)
    checker_message: Optional[str] = None  # what the case's checker printed (sandbox.checker); None: no checker ran

    @property
    def signal_name(self) -> Optional[str]:
        """The signal's name (SIGKILL), as the JSON document's `signal_name` has it; None if none."""
        return signal_name(self.signal)

    @property
    def cli_exit_code(self) -> int:
        """What `sandbox run` exits with: the program's code, or 128+N for signal N."""
        if self.signal is not None:
            return 128 + self.signal
        if self.exit_code is None:
            return 125
        return self.exit_code

    def to_dict(self) -> dict[str, object]:
        document = asdict(self)
        document["verdict"] = self.verdict.value
        document["signal_name"] = self.signal_name
        for stream in ("stdout", "stderr"):
            data = document[stream]
            document[stream] = None if data is None else data.decode("utf-8", "replace")
        document["files"] = {name: len(content) for name, content in self.files.items()}  # sizes: contents may be binary
        return document
