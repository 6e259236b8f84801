"""The limit table: every resource limit a box has, and all that is known of it, in one row.  Pure; side: parent.

A limit's name is its key everywhere: under `limits:` in a profile, as an API
keyword (Sandbox(memory=...), run(memory=...)), as a field of Limits, and in a
result's `limits` and `enforced_by`.  Its row says what its values are written
in (a Unit: the parser from units.py and the JSON Schema editors check profiles
with), the `sandbox run` flag that overrides it (if any), and how it is
enforced: an rlimit on each of the program's processes, a file of the box's own
cgroup, or the supervisor or a tmpfs.  What enforces it depends on the host (a
delegated cgroup v2 subtree or not, and which of memory, pids, cpu it has; a caller of uid 0 or not), so the row names
a Mechanism for each case; plan.py picks one per run, the result shows its text,
and the supervisor's message tests the Mechanism, never the text.

The CLI's flags, the API's keywords, profile validation (and the schema, which
scripts/profile-schema writes from limits_schema()), the plan's rlimits, cgroup
files and `enforced_by` all read this table: adding a limit is one row in TABLE
and its field in Limits below (a unit test keeps the two in step), then
scripts/profile-schema (and the README's tables of limits).
"""
from __future__ import annotations

import enum
import math
import re
from typing import Any, Callable, Iterator, Mapping, Optional, Union

from ._record import dataclass, replace
from .errors import UsageError
from .units import UnitError, parse_count, parse_cpus, parse_duration, parse_size

# make_plan's `cgroup`: the controllers a box's cgroup has ("memory", "pids", "cpu"); none: no delegated
# cgroup, every limit as without one.  With CGROUP_V1 among them the box's cgroups are v1 ones
# (cgroupv1.py): the same limits in v1's files, told as such (V1_MECHANISMS).
NO_CGROUP: frozenset[str] = frozenset()
CGROUP_V1 = "cgroup v1"
UNLIMITED = "unlimited"  # the value (as None is) that removes a limit
HELPER_PROCESSES = 1     # the box's init counts against the program's RLIMIT_NPROC (it is not in the cgroup)
CPU_PERIOD_USEC = 100_000
SHM_SIZE_DEFAULT = 16 << 20  # the box's /dev/shm where a profile does not set shm_size


class Mechanism(enum.Enum):
    """What enforces a limit.  The value is the text a result's `enforced_by` shows: judges match on
    it, so it never changes; code tests the member, never the text."""

    SUPERVISOR_CPU_WATCH = "supervisor watch of the box's CPU time (/proc; RLIMIT_CPU a second later as a backstop)"
    SUPERVISOR_CPU_WATCH_ALONE = "supervisor watch of the box's CPU time (/proc)"
    CGROUP_CPU_STAT = "cgroup cpu.stat (whole box, watched by the supervisor)"
    SUPERVISOR_TIMER = "supervisor timer"
    RLIMIT_AS = "RLIMIT_AS (per process address space)"
    CGROUP_MEMORY_MAX = "cgroup memory.max (swap off)"
    RLIMIT_NPROC = "RLIMIT_NPROC (per box user namespace)"
    CGROUP_PIDS_MAX = "cgroup pids.max"
    NOT_ENFORCED_NPROC_EXEMPTS_ROOT = "not enforced: the kernel exempts uid 0 from RLIMIT_NPROC"
    SUPERVISOR_OUTPUT_CAP = "supervisor output cap"
    RLIMIT_FSIZE = "RLIMIT_FSIZE"
    RLIMIT_NOFILE = "RLIMIT_NOFILE"
    RLIMIT_STACK = "RLIMIT_STACK"
    TMPFS_SIZE = "tmpfs size"
    CGROUP_CPU_MAX = "cgroup cpu.max"
    NOT_ENFORCED_NEEDS_CGROUP = "not enforced: needs a delegated cgroup v2 subtree (cpu.max)"
    # A profile's `cgroup_only` limit in a box without a cgroup: no rlimit stands in (ci: RLIMIT_AS
    # would cap a thousand threads' stacks, which bare allows).
    NOT_ENFORCED_CGROUP_ONLY = "not enforced: the profile enforces it only by a delegated cgroup v2 subtree"
    # A delegated subtree without the limit's controller (systemd's Delegate= names which, issue 16):
    # cpus has no stand-in; a `cgroup_only` limit (memory, pids) gets none either.
    NOT_ENFORCED_CPU_NOT_DELEGATED = "not enforced: the cpu controller is not delegated to the cgroup v2 subtree (cpu.max)"
    NOT_ENFORCED_CONTROLLER_NOT_DELEGATED = ("not enforced: the profile enforces it only by a cgroup controller "
                                             "that is not delegated to the cgroup v2 subtree")
    # The same limits in a box whose cgroups are v1 ones (issue 20: hybrid and legacy hosts).
    CGROUP_V1_CPUACCT = "cgroup v1 cpuacct.usage (whole box, watched by the supervisor)"
    CGROUP_V1_MEMORY = "cgroup v1 memory.limit_in_bytes (memory.memsw.limit_in_bytes too where swap is accounted)"
    CGROUP_V1_PIDS = "cgroup v1 pids.max"
    NOT_ENFORCED_V1_CPUS = "not enforced: no cpu quota on cgroup v1 boxes (cpu.max is cgroup v2's)"
    NOT_ENFORCED_V1_CONTROLLER_NOT_DELEGATED = ("not enforced: the profile enforces it only by a cgroup v1 "
                                                "hierarchy that is not delegated")

    @property
    def failure_note(self) -> Optional[str]:
        """Said with a program's own failure (RE): under this mechanism a breach of the limit shows
        as an error of the program, not as a limit verdict."""
        return _FAILURE_NOTES.get(self)


V1_MECHANISMS = {
    Mechanism.CGROUP_CPU_STAT: Mechanism.CGROUP_V1_CPUACCT,
    Mechanism.CGROUP_MEMORY_MAX: Mechanism.CGROUP_V1_MEMORY,
    Mechanism.CGROUP_PIDS_MAX: Mechanism.CGROUP_V1_PIDS,
    Mechanism.NOT_ENFORCED_CPU_NOT_DELEGATED: Mechanism.NOT_ENFORCED_V1_CPUS,
    Mechanism.NOT_ENFORCED_CONTROLLER_NOT_DELEGATED: Mechanism.NOT_ENFORCED_V1_CONTROLLER_NOT_DELEGATED,
}

_FAILURE_NOTES = {
    Mechanism.RLIMIT_AS: "memory is capped by RLIMIT_AS, where a failed allocation is an error of the program",
}


@dataclass(frozen=True)
class Unit:
    """What a limit's values are written in: the parser (units.py), and the same rule as JSON Schema
    for editors (a number, or text the parser reads: `text` is a pattern for it).  0 is no value of
    any unit's: a limit of 0 would stop everything (no memory, no time, no process), so a 0 written
    for "no limit" is refused with the word that says it, `unlimited`, rather than run oddly."""

    parse: Callable[[object], Any]
    number: str  # the JSON type of a plain number: "integer" or "number"
    minimum: float
    text: str
    description: str
    exclusive: bool = False  # the minimum itself is refused (a duration: anything above 0)

    def schema(self) -> dict[str, object]:
        """The JSON Schema of a value of this unit, `unlimited` and null (no limit) included."""
        bound = "exclusiveMinimum" if self.exclusive else "minimum"
        return {"anyOf": [{"type": self.number, bound: self.minimum}, {"type": "string", "pattern": self.text},
                          {"const": UNLIMITED}, {"type": "null"}],
                "description": self.description}


# A number with a digit other than 0 (lookahead): a text rule that refuses 0, 0.0, 00M as the parsers do.
_NOT_ZERO = r"(?=[0-9.]*[1-9])"
_NO_LIMIT = "unlimited or null for none (0 is refused)"
DURATION = Unit(parse_duration, "number", 0, rf"^\s*{_NOT_ZERO}\d+(\.\d+)?\s*(ms|us|s|m|h)?\s*$",
                f"seconds, or a duration such as 2s, 500ms, 1.5m; {_NO_LIMIT}", exclusive=True)
SIZE = Unit(parse_size, "integer", 1, rf"^\s*{_NOT_ZERO}\d+(\.\d+)?\s*([KMGTkmgt][iI]?)?[bB]?\s*$",
            f"bytes, or a size such as 64M, 64MB, 64MiB, 64Mi, 1.5G (K, M, G, T in either case are binary: "
            f"1024); {_NO_LIMIT}")
COUNT = Unit(parse_count, "integer", 1, r"^\s*0*[1-9][0-9]*\s*$", f"a whole number of at least 1; {_NO_LIMIT}")
CPUS = Unit(parse_cpus, "number", 0.01, rf"^\s*{_NOT_ZERO}\d+(\.\d+)?\s*$",
            f"CPUs of quota (cgroup cpu.max), e.g. 0.5; {_NO_LIMIT}")
ZERO_REFUSED = f"0 is no limit: write {UNLIMITED} for none"


def _zero(value: object) -> bool:
    """A 0 as written: 0, 0.0, "0", "0.00" (refused before a unit's parser words it otherwise)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return value == 0
    return isinstance(value, str) and re.fullmatch(r"\s*0+(\.0*)?\s*", value) is not None


def _exactly(value: int) -> tuple[int, int]:
    return value, value


def _backstop_after(seconds: float) -> tuple[int, int]:
    """RLIMIT_CPU, only a backstop: the supervisor ends the box at the limit (watching the whole box's
    CPU time); a process that is still running a second past it (the watch failed) gets SIGXCPU,
    and SIGKILL a second after that.  It counts per process and in whole seconds, so it cannot be
    the limit itself: 0.5 s would be 1 s, and a program may ignore SIGXCPU."""
    soft = math.ceil(seconds) + 1
    return soft, soft + 1


def _with_the_init(pids: int) -> tuple[int, int]:
    total = pids + HELPER_PROCESSES
    return total, total


def _cpu_quota(cpus: float) -> str:
    """cpu.max is "QUOTA PERIOD" in microseconds; the kernel refuses a quota under 1 ms."""
    return f"{max(1000, int(cpus * CPU_PERIOD_USEC))} {CPU_PERIOD_USEC}"


@dataclass(frozen=True)
class Rlimit:
    """The rlimit a limit sets on each of the program's processes: a name of rlimits.RESOURCES, and
    the (soft, hard) pair for a value."""

    resource: str
    bounds: Callable[[Any], tuple[int, int]] = _exactly


@dataclass(frozen=True)
class CgroupFile:
    """The file of the box's cgroup that holds a limit, written before anyone is inside (cgroup.py):
    its content for a value, and the files written alongside it, with theirs."""

    name: str
    content: Callable[[Any], str] = str
    alongside: tuple[tuple[str, str], ...] = ()

    def writes(self, value: Any) -> tuple[tuple[str, str], ...]:
        return ((self.name, self.content(value)),) + self.alongside

    @property
    def controller(self) -> str:
        """The controller the file (and those alongside) belong to: the kernel prefixes every
        controller's interface file with the controller's name (cgroup-v2.rst, "Conventions")."""
        return self.name.split(".", 1)[0]


@dataclass(frozen=True)
class Limit:
    """One row of the table.  `mechanism` enforces it without a delegated cgroup; with one,
    `cgroup_mechanism` does if given (a limit with a cgroup file then drops its rlimit: the cgroup
    holds the whole box), provided the subtree has the file's controller; in a subtree without it,
    `undelegated` if given, else the limit is enforced as without a cgroup; for a caller of uid 0
    without the cgroup's help, `root_mechanism` if given."""

    name: str
    unit: Unit
    flag: Optional[str]  # the `sandbox run` option; None: profiles and the API only
    mechanism: Mechanism
    rlimit: Optional[Rlimit] = None
    cgroup: Optional[CgroupFile] = None
    cgroup_mechanism: Optional[Mechanism] = None
    root_mechanism: Optional[Mechanism] = None
    default: Any = None  # the value of a profile that does not name it (profile.py); None: no limit
    about: str = ""  # what it limits, for --help, where the name alone does not say
    backstop: Optional[Mechanism] = None  # its rlimit is only a backstop: what enforces it without one
    undelegated: Optional[Mechanism] = None  # what enforces it in a cgroup without its file's controller

    @property
    def help(self) -> str:
        """The flag's line in `sandbox run --help`."""
        about = f", {self.about}" if self.about else ""
        return f"override the profile's {self.name} limit{about} ('{UNLIMITED}' removes it)"

    def parse(self, value: object) -> Any:
        """A value as written (in a profile, a flag, an API keyword) -> the value, or None for no
        limit; raises UnitError."""
        if value is None or value == UNLIMITED:
            return None
        if _zero(value):
            raise UnitError(f"{ZERO_REFUSED}, got {value!r}")
        parsed = self.unit.parse(value)
        if parsed == 0:  # 0M, 0s, 0.0001K: written otherwise, still 0
            raise UnitError(f"{ZERO_REFUSED}, got {value!r}")
        return parsed

    def held_by(self, cgroup: frozenset[str]) -> bool:
        """Does a box's cgroup with these controllers hold this limit in a file of its own?"""
        return self.cgroup is not None and self.cgroup.controller in cgroup

    def enforced_by(self, cgroup: frozenset[str], root: bool, cgroup_only: bool = False,
                    backstops: bool = True) -> Mechanism:
        """What enforces this limit in a box whose cgroup has the controllers `cgroup` (empty: no
        delegated cgroup), for a caller of uid 0 (or not); `cgroup_only`: the profile wants no rlimit
        in a cgroup's stead; `backstops`: the profile keeps the rlimits that only back the supervisor
        up (profile.rlimit_backstops).  A limit whose controller the subtree lacks is told as
        without a cgroup (RLIMIT_AS, RLIMIT_NPROC), unless its row says otherwise (`undelegated`)."""
        if cgroup and (self.cgroup is None or self.held_by(cgroup)):
            return self.cgroup_mechanism or self.mechanism
        if cgroup and self.undelegated is not None:
            return self.undelegated
        if cgroup_only:
            return Mechanism.NOT_ENFORCED_CONTROLLER_NOT_DELEGATED if cgroup else Mechanism.NOT_ENFORCED_CGROUP_ONLY
        if not backstops and self.backstop is not None:
            return self.backstop
        return (root and self.root_mechanism) or self.mechanism

    def applied_rlimit(self, cgroup: frozenset[str], cgroup_only: bool = False,
                       backstops: bool = True) -> Optional[Rlimit]:
        """The rlimit this limit sets on each of the program's processes, in a box whose cgroup has
        the controllers `cgroup` (empty: none).  Where the box's cgroup holds the limit its rlimit is
        left off: RLIMIT_AS breaks JITs and counts address space, not memory, and RLIMIT_NPROC counts
        per process; where the subtree lacks the limit's controller, the rlimit stays, as without a
        cgroup.  An rlimit with no cgroup file in its row (RLIMIT_CPU) stays, as a per-process backstop.
        `cgroup_only` (a profile's choice, for a limit with a cgroup file): no rlimit at all.
        Without `backstops` (a profile's choice) a backstop rlimit is left off: RLIMIT_CPU arms the
        kernel's process CPU timer, after which CLOCK_PROCESS_CPUTIME_ID (time.process_time())
        advances only at scheduler ticks, not as bare."""
        if self.cgroup is not None and (self.held_by(cgroup) or cgroup_only):
            return None
        if not backstops and self.backstop is not None:
            return None
        return self.rlimit


TABLE: tuple[Limit, ...] = (
    Limit("cpu_time", DURATION, "--cpu-time", Mechanism.SUPERVISOR_CPU_WATCH, rlimit=Rlimit("cpu", _backstop_after),
          backstop=Mechanism.SUPERVISOR_CPU_WATCH_ALONE,
          cgroup_mechanism=Mechanism.CGROUP_CPU_STAT),
    Limit("wall_time", DURATION, "--wall-time", Mechanism.SUPERVISOR_TIMER),
    Limit("memory", SIZE, "--memory", Mechanism.RLIMIT_AS, rlimit=Rlimit("as"),
          cgroup=CgroupFile("memory.max", alongside=(
              ("memory.swap.max", "0"),
              ("memory.oom.group", "1"),  # an OOM ends the whole box, not one random process
          )),
          cgroup_mechanism=Mechanism.CGROUP_MEMORY_MAX),
    Limit("pids", COUNT, "--pids", Mechanism.RLIMIT_NPROC, rlimit=Rlimit("nproc", _with_the_init),
          cgroup=CgroupFile("pids.max"), cgroup_mechanism=Mechanism.CGROUP_PIDS_MAX,
          root_mechanism=Mechanism.NOT_ENFORCED_NPROC_EXEMPTS_ROOT),
    Limit("output", SIZE, "--output", Mechanism.SUPERVISOR_OUTPUT_CAP),
    Limit("file_size", SIZE, "--file-size", Mechanism.RLIMIT_FSIZE, rlimit=Rlimit("fsize")),
    Limit("open_files", COUNT, "--open-files", Mechanism.RLIMIT_NOFILE, rlimit=Rlimit("nofile")),
    Limit("stack", SIZE, "--stack", Mechanism.RLIMIT_STACK, rlimit=Rlimit("stack"), about="each process's stack"),
    Limit("tmp_size", SIZE, "--tmp-size", Mechanism.TMPFS_SIZE, about="the size of /tmp and of /work, each"),
    # /dev/shm was a fixed 16 MiB before it was a limit: a profile that does not say keeps that
    Limit("shm_size", SIZE, "--shm-size", Mechanism.TMPFS_SIZE, default=SHM_SIZE_DEFAULT,
          about="the size of /dev/shm; 16M where the profile does not say"),
    Limit("cpus", CPUS, "--cpus", Mechanism.NOT_ENFORCED_NEEDS_CGROUP, cgroup=CgroupFile("cpu.max", _cpu_quota),
          cgroup_mechanism=Mechanism.CGROUP_CPU_MAX, undelegated=Mechanism.NOT_ENFORCED_CPU_NOT_DELEGATED),
)
BY_NAME: dict[str, Limit] = {limit.name: limit for limit in TABLE}


@dataclass(frozen=True)
class Limits:
    """A box's resource limits, a field for each row of TABLE, in its order; None means no limit of
    that kind."""

    cpu_time: Optional[float] = None
    wall_time: Optional[float] = None
    memory: Optional[int] = None
    pids: Optional[int] = None
    output: Optional[int] = None
    file_size: Optional[int] = None
    open_files: Optional[int] = None
    stack: Optional[int] = None
    tmp_size: Optional[int] = None
    shm_size: Optional[int] = None
    cpus: Optional[float] = None


def each_set(limits: Limits) -> Iterator[tuple[Limit, Any]]:
    """Every limit that is set, with its value, in table order."""
    for limit in TABLE:
        value = getattr(limits, limit.name)
        if value is not None:
            yield limit, value


def parse_overrides(overrides: Mapping[str, object]) -> dict[str, Any]:
    """{"memory": "64M", "cpu_time": 1} (API keywords, `sandbox run` flags) -> parsed values, None
    for a limit removed; raises UsageError naming the limit."""
    parsed = {}
    for name, value in overrides.items():
        if name not in BY_NAME:
            raise UsageError(f"unknown limit {name!r}")
        try:
            parsed[name] = BY_NAME[name].parse(value)
        except UnitError as e:
            raise UsageError(f"limit {name}: {e}") from None
    return parsed


def parse_size_option(what: str, value: Union[None, int, str]) -> Optional[int]:
    """A size that is not a profile's limit (collect_limit, --collect-limit): 64M, 4096, or None;
    a bad one is a UsageError naming `what`."""
    if value is None:
        return None
    try:
        return parse_size(value)
    except UnitError as e:
        raise UsageError(f"{what}: {e}") from None


def overridden(limits: Limits, overrides: Mapping[str, Any]) -> Limits:
    """Limits with parsed overrides on top (parse_overrides): the one way both override layers, a
    Sandbox's and a run's, change a profile's limits.  An override of None removes that limit."""
    return replace(limits, **overrides)


def limits_schema() -> dict[str, object]:
    """The JSON Schema of a profile's `limits:` mapping (profiles/profile.schema.json holds it as
    written by scripts/profile-schema; a unit test keeps the two equal)."""
    return {"type": "object", "additionalProperties": False,
            "properties": {limit.name: limit.unit.schema() for limit in TABLE}}

