"""Test cases: one program against many inputs, each in a fresh box.  Pure but for reading files; side: parent.

A judge runs a submission against every test of a problem and wants one result per
test, in order, with a wrong answer told apart from a crash.  This module is what
the API (Sandbox.run_cases) and the CLI (`sandbox run --cases DIR`) share: cases
found in a directory, the comparison with the expected output, and the loop that
stops at the first failure when asked.  The run itself is the caller's `run_one`
(a Sandbox.run, or the CLI's supervisor.run with its own launcher), so neither path
has a copy of the other.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, replace
from typing import Callable, Iterator, Optional, Sequence, Union

from .errors import UsageError
from .result import Result, Verdict

COMPARE_MODES = ("lines", "exact")
IN_SUFFIX = ".in"
OUT_SUFFIX = ".out"

Data = Union[bytes, str, "os.PathLike[str]"]  # bytes, or a file's path (str, as in Sandbox.run's stdin)


@dataclass(frozen=True)
class Case:
    """One test: its name, the program's stdin, and the stdout it must print (None: not compared).

    stdin and expected are bytes or a file's path; a path is opened only when the case
    runs, so a large test set is never all in memory at once.
    """

    name: str
    stdin: Data = b""
    expected: Optional[Data] = None


RunOne = Callable[[Case], Result]


def run_cases(cases: Sequence[Case], run_one: RunOne, *, compare: str = "lines",
              fail_fast: bool = False) -> Iterator[Result]:
    """Each case's judged Result, in case order, as each run ends.

    The arguments are checked now, before any case runs; the runs happen as the
    iterator is consumed.  With fail_fast, the iterator ends after the first Result
    whose verdict is not OK: that Result is the last one, and the cases after it are
    not run.  An error of the sandbox itself (raised by run_one) ends the batch too.
    """
    if compare not in COMPARE_MODES:
        raise UsageError(f"compare {compare!r}: expected one of {', '.join(COMPARE_MODES)}")
    repeated = sorted(name for name, n in Counter(case.name for case in cases).items() if n > 1)
    if repeated:
        raise UsageError(f"case names must differ; repeated: {', '.join(repeated)}")
    return _results(list(cases), run_one, compare, fail_fast)


def _results(cases: list[Case], run_one: RunOne, compare: str, fail_fast: bool) -> Iterator[Result]:
    for case in cases:
        result = judge(replace(run_one(case), case=case.name), case, compare)
        yield result
        if fail_fast and result.verdict is not Verdict.OK:
            return


def judge(result: Result, case: Case, compare: str) -> Result:
    """An OK run whose stdout is not the case's expected output becomes WA; any other result is kept."""
    if result.verdict is not Verdict.OK or case.expected is None:
        return result
    difference = differs(result.stdout or b"", _read(case.expected, f"case {case.name}: expected"), compare)
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


def _read(data: Data, what: str) -> bytes:
    if isinstance(data, bytes):
        return data
    try:
        with open(data, "rb") as f:
            return f.read()
    except OSError as e:
        raise UsageError(f"{what} {os.fspath(data)}: {e.strerror}") from None


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
        paths = [os.path.join(directory, name + suffix) for suffix in (IN_SUFFIX, OUT_SUFFIX)
                 if name + suffix in entries]
        for path in paths:
            if not os.path.isfile(path):
                raise UsageError(f"{where}: {os.path.basename(path)} is not a regular file")
        cases.append(Case(name, *paths))
    return cases


def natural_key(name: str) -> tuple[list[Union[str, int]], str]:
    """Runs of digits compare as numbers: 2 < 10, a2 < a10; the name itself breaks ties (1 vs 01)."""
    parts = re.split(r"(\d+)", name)
    return [int(part) if i % 2 else part for i, part in enumerate(parts)], name
