"""Test cases: one program against many inputs, each in a fresh box.  Pure but for reading files; side: parent.

A judge runs a submission against every test of a problem and wants one result per
test, in order, with a wrong answer told apart from a crash.  This module is what
the API (Sandbox.run_cases) and the CLI (`sandbox run --cases DIR`) share: cases
found in a directory, the comparison with the expected output, and the loop that
stops at the first failure when asked.  The run itself is the caller's `run_one`
(a Sandbox.run, or the CLI's supervisor.run with its own launcher), so neither path
has a copy of the other.

A box may be able to write where the cases live (a --bind-rw directory that holds
them): case 1's program could rewrite case 2's expected output.  So every case file
is noted before the first case runs (CaseFile: its inode, size, modification and
change times) and is used only if it is still that same, unchanged file.
"""
from __future__ import annotations

import io
import os
import re
import stat
from collections import Counter
from typing import Callable, Iterator, Optional, Sequence, Union

from ._record import dataclass, replace
from .errors import UsageError
from .hostpaths import resolve
from .profile import sha256
from .result import Result, Verdict

COMPARE_MODES = ("lines", "exact")
IN_SUFFIX = ".in"
OUT_SUFFIX = ".out"



class CaseFile(os.PathLike):  # type: ignore[type-arg]
    """A case's file as it was before the first case ran; opening it checks that it still is.

    Found through hostpaths (no symlink another user could have made), a regular file, noted by
    inode, size, and modification and change times (the change time cannot be set by anyone:
    any write, rename or chmod moves it).  An expected output, which decides a verdict, is also
    noted by the SHA-256 of its bytes: a write through a shared mapping whose page was already
    dirty moves neither time.  A file that changed since stops the batch.
    """

    def __init__(self, path: str, what: str, content: bool = False) -> None:
        self.path = path
        self.what = what
        found = resolve(path, what, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO: no waiting
        if not stat.S_ISREG(found.info.st_mode):
            os.close(found.fd)
            raise UsageError(f"{what} {path}: not a regular file")
        with os.fdopen(found.fd, "rb") as f:
            self.noted = _noted(found.info)
            self.digest = _digest(f) if content else None

    def open(self) -> int:
        """The file for reading, if it is still the one noted."""
        found = resolve(self.path, self.what, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO now: no waiting
        if _noted(found.info) != self.noted:
            os.close(found.fd)
            raise UsageError(f"{self.what} {self.path} changed after the cases started (written or replaced while "
                             f"they ran: can a box write it?); the batch is stopped")
        os.set_blocking(found.fd, True)
        return found.fd

    def read(self) -> bytes:
        with os.fdopen(self.open(), "rb") as f:
            data = f.read()
        if self.digest is not None and sha256(data).hexdigest() != self.digest:
            raise UsageError(f"{self.what} {self.path} changed after the cases started (its bytes differ: can a "
                             f"box write it?); the batch is stopped")
        return data

    def __fspath__(self) -> str:
        return self.path

    def __repr__(self) -> str:
        return f"CaseFile({self.path!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CaseFile) and (self.path, self.noted) == (other.path, other.noted)

    def __hash__(self) -> int:
        return hash((self.path, self.noted))


def _noted(info: os.stat_result) -> tuple[int, ...]:
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns


def _digest(f: "io.BufferedReader") -> str:
    hashed = sha256()
    while chunk := f.read(1 << 20):
        hashed.update(chunk)
    return hashed.hexdigest()


Data = Union[bytes, str, "os.PathLike[str]"]  # bytes, or a file's path (str, as in Sandbox.run's stdin)


@dataclass(frozen=True)
class Case:
    """One test: its name, the program's stdin, and the stdout it must print (None: not compared).

    stdin and expected are bytes or a file's path; a path is noted (CaseFile) before the
    first case runs and read only when its case runs, so a large test set is never all in
    memory at once, and a file changed meanwhile is refused.
    """

    name: str
    stdin: Data = b""
    expected: Optional[Data] = None


RunOne = Callable[[Case], Result]
Check = Callable[[Result, Case], Result]  # an OK run of a case -> its judged Result (sandbox.checker's boxes)


def run_cases(cases: Sequence[Case], run_one: RunOne, *, compare: str = "lines",
              fail_fast: bool = False, check: Optional[Check] = None) -> Iterator[Result]:
    """Each case's judged Result, in case order, as each run ends.

    The arguments are checked now, before any case runs; the runs happen as the
    iterator is consumed.  With fail_fast, the iterator ends after the first Result
    whose verdict is not OK: that Result is the last one, and the cases after it are
    not run.  An error of the sandbox itself (raised by run_one or check) ends the
    batch too.  check, when given, judges each OK run instead of the comparison (a
    checker program: sandbox.checker); it is the caller's, as run_one is, since it
    runs a box.
    """
    if compare not in COMPARE_MODES:
        raise UsageError(f"compare {compare!r}: expected one of {', '.join(COMPARE_MODES)}")
    repeated = sorted(name for name, n in Counter(case.name for case in cases).items() if n > 1)
    if repeated:
        raise UsageError(f"case names must differ; repeated: {', '.join(repeated)}")
    noted = [replace(case, stdin=_note(case.stdin, f"case {case.name}: stdin"),
                     expected=None if case.expected is None
                     else _note(case.expected, f"case {case.name}: expected", content=True))
             for case in cases]
    return _results(noted, run_one, compare, fail_fast, check)


def _note(data: Data, what: str, content: bool = False) -> Data:
    """A path becomes a CaseFile, noted now, before the first case runs."""
    return data if isinstance(data, (bytes, CaseFile)) else CaseFile(os.fspath(data), what, content)


def _results(cases: list[Case], run_one: RunOne, compare: str, fail_fast: bool,
             check: Optional[Check]) -> Iterator[Result]:
    for case in cases:
        ran = replace(run_one(case), case=case.name)
        result = check(ran, case) if check is not None and ran.verdict is Verdict.OK else judge(ran, case, compare)
        yield result
        if fail_fast and result.verdict is not Verdict.OK:
            return


def judge(result: Result, case: Case, compare: str) -> Result:
    """An OK run whose stdout is not the case's expected output becomes WA; any other result is kept."""
    if result.verdict is not Verdict.OK or case.expected is None:
        return result
    difference = differs(result.stdout or b"", case_bytes(case.expected, f"case {case.name}: expected"), compare)
    return result if difference is None else replace(result, verdict=Verdict.WA, message=difference)


def differs(actual: bytes, expected: bytes, compare: str) -> Optional[str]:
    """Where actual differs from expected, or None if they match.

    "exact": the bytes are equal.  "lines", the usual judge rule: trailing whitespace
    on each line (a CR of CRLF included) and trailing blank lines are ignored; leading
    whitespace and blank lines between lines still count.
    """
    if compare == "exact":
        got, want = actual.split(b"\n"), expected.split(b"\n")
    else:
        got, want = _judge_lines(actual), _judge_lines(expected)
    if got == want:
        return None
    line = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    if line == len(got):
        return f"line {line + 1}: the output ends; {len(want)} line(s) expected"
    if line == len(want):
        return f"line {line + 1}: output beyond the expected {len(want)} line(s)"
    return f"line {line + 1} differs from the expected"


def _judge_lines(data: bytes) -> list[bytes]:
    lines = [line.rstrip() for line in data.split(b"\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def case_bytes(data: Data, what: str) -> bytes:
    """A case's bytes; by the time a case runs, every path is a CaseFile (run_cases noted it)."""
    if isinstance(data, bytes):
        return data
    return (data if isinstance(data, CaseFile) else CaseFile(os.fspath(data), what, content=True)).read()


def overall_verdict(results: Sequence[Result]) -> Verdict:
    """The first verdict that is not OK, in case order (a judge's usual rule); OK if there is none."""
    return next((r.verdict for r in results if r.verdict is not Verdict.OK), Verdict.OK)


def cases_from_dir(directory: Union[str, "os.PathLike[str]"]) -> list[Case]:
    """DIR/NAME.in (stdin) with an optional DIR/NAME.out (expected stdout), in natural order of NAME.

    Natural order puts 2 before 10.  Other files (a README, a generator) and names
    starting with a dot are ignored; a NAME.out without its NAME.in is an error, since
    that case would silently never run.
    """
    where = f"cases directory {os.fspath(directory)}"
    try:
        entries = set(os.listdir(directory))
    except OSError as e:
        raise UsageError(f"{where}: {e.strerror}") from None
    entries = {entry for entry in entries if not entry.startswith(".")}
    names = {entry[: -len(IN_SUFFIX)] for entry in entries if entry.endswith(IN_SUFFIX)}
    orphans = sorted(entry for entry in entries
                     if entry.endswith(OUT_SUFFIX) and entry[: -len(OUT_SUFFIX)] not in names)
    if orphans:
        raise UsageError(f"{where}: {orphans[0]} has no {orphans[0][: -len(OUT_SUFFIX)]}{IN_SUFFIX}")
    if not names:
        raise UsageError(f"{where}: no NAME{IN_SUFFIX} files")
    cases = []
    for name in sorted(names, key=natural_key):
        files = [CaseFile(os.path.join(directory, name + suffix), f"{where}:", content=suffix == OUT_SUFFIX)
                 for suffix in (IN_SUFFIX, OUT_SUFFIX) if name + suffix in entries]
        cases.append(Case(name, *files))
    return cases


def natural_key(name: str) -> tuple[list[Union[str, int]], str]:
    """Runs of digits compare as numbers: 2 < 10, a2 < a10; the name itself breaks ties (1 vs 01)."""
    parts = re.split(r"(\d+)", name)
    return [int(part) if i % 2 else part for i, part in enumerate(parts)], name
