"""examples/judge/judge.py, run as a judge would: per-case verdicts for each kind of submission."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

JUDGE = Path(__file__).resolve().parents[2] / "examples" / "judge"


def judge(solution: str, *extra: str) -> tuple[int, dict[str, str], str]:
    completed = subprocess.run([sys.executable, str(JUDGE / "judge.py"), str(JUDGE / "solutions" / solution), *extra],
                               capture_output=True, text=True, timeout=120)
    lines = completed.stdout.splitlines()
    verdicts = {line.split()[1]: line.split()[2] for line in lines if line.startswith("case ")}
    assert lines and lines[-1].startswith("submission: "), completed.stdout + completed.stderr
    return completed.returncode, verdicts, lines[-1].split(": ", 1)[1]


@pytest.mark.parametrize("solution, per_case, submission", [
    ("accepted.c", {"1": "OK", "2": "OK", "3": "OK"}, "AC"),
    ("wrong_answer.c", {"1": "OK", "2": "OK", "3": "WA"}, "WA"),    # int overflows on 10^12
    ("too_slow.c", {"1": "OK", "2": "OK", "3": "TLE"}, "TLE"),      # counts to 10^12
    ("crashes.c", {"1": "RE", "2": "RE", "3": "RE"}, "RE"),         # scanf into a null pointer
    ("compile_error.c", {}, "CE"),
])
def test_each_submission_gets_its_per_case_verdicts(solution, per_case, submission):
    code, verdicts, verdict = judge(solution)
    assert (verdicts, verdict) == (per_case, submission)
    assert code == (0 if submission == "AC" else 1)


@pytest.mark.parametrize("extension", ["java", "go", "rs", "py"])
@pytest.mark.parametrize("solution, per_case, submission", [
    ("accepted", {"1": "OK", "2": "OK", "3": "OK"}, "AC"),
    ("too_slow", {"1": "OK", "2": "OK", "3": "TLE"}, "TLE"),     # counts to 10^12 in a 1 s CPU limit
    ("crashes", {"1": "RE", "2": "RE", "3": "RE"}, "RE"),        # an uncaught exception or panic
])
def test_each_language_is_compiled_in_its_profile_and_judged_in_its_run_profile(extension, solution, per_case,
                                                                                 submission):
    # Java: javac, then java (-Xmx256m in 1G of address space); Go: go build, go-native (1G);
    # Rust: rustc -O, native (64M); PyPy 3: pypy3 (256M).  CPU 1 s each.
    code, verdicts, verdict = judge(f"{solution}.{extension}")
    assert (verdicts, verdict) == (per_case, submission)
    assert code == (0 if submission == "AC" else 1)


def test_a_file_of_no_known_language_is_a_usage_error(tmp_path):
    source = tmp_path / "main.kt"
    source.write_text("fun main() {}\n")
    completed = subprocess.run([sys.executable, str(JUDGE / "judge.py"), str(source)], capture_output=True, text=True)
    assert (completed.returncode, completed.stdout) == (2, "")
    assert completed.stderr == "judge: no language for .kt (known: .c, .rs, .go, .java, .py)\n"


def test_fail_fast_stops_at_the_first_failing_case(tmp_path):
    cases = tmp_path / "cases"
    cases.mkdir()
    for name, given, expected in (("1", "1 1", "2"), ("2", "1000000000000 0", "1000000000000"), ("3", "2 2", "4")):
        (cases / f"{name}.in").write_text(given + "\n")
        (cases / f"{name}.out").write_text(expected + "\n")
    _, verdicts, verdict = judge("wrong_answer.c", str(cases), "--fail-fast")
    assert (verdicts, verdict) == ({"1": "OK", "2": "WA"}, "WA")
