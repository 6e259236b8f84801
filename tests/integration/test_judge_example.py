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


DIVIDE = JUDGE / "divide"


@pytest.mark.parametrize("solution, per_case, submission", [
    ("accepted.c", {"1": "OK", "2": "OK", "3": "OK"}, "AC"),                # 0.333333: within 1e-6
    ("wrong_answer.c", {"1": "WA", "2": "WA", "3": "WA"}, "WA"),            # integer division
    ("presentation_error.c", {"1": "PE", "2": "PE", "3": "PE"}, "PE"),      # prints 1/3
])
def test_a_checker_judges_a_problem_with_float_answers(solution, per_case, submission):
    completed = subprocess.run([sys.executable, str(JUDGE / "judge.py"), str(DIVIDE / "solutions" / solution),
                                str(DIVIDE / "cases"), "--checker", str(DIVIDE / "checker.py")],
                               capture_output=True, text=True, timeout=120)
    lines = completed.stdout.splitlines()
    verdicts = {line.split()[1]: line.split()[2] for line in lines if line.startswith("case ")}
    assert (verdicts, lines[-1]) == (per_case, f"submission: {submission}"), completed.stdout + completed.stderr
    checker_lines = [line for line in lines if line.startswith("  checker: ")]
    assert len(checker_lines) == 3 and (submission != "AC" or checker_lines[0] == "  checker: ok 0.333333")


def test_the_same_accepted_float_solution_is_wa_without_the_checker():
    _, verdicts, verdict = judge(str(DIVIDE / "solutions" / "accepted.c"), str(DIVIDE / "cases"))
    assert verdict == "WA" and verdicts["1"] == "WA"


@pytest.mark.parametrize("solution, verdict, why", [
    ("accepted.py", "OK", ""),
    ("wrong.py", "WA", "answered 42, the number was 777777"),
    ("too_many_queries.py", "RE", "exited with 1"),  # it crashes on the EOF the interactor's WA left it: its RE wins
    ("hanging.py", "TLE", "wall"),          # the group's wall limit ends both; the solution's TLE wins
])
def test_the_interactive_judge_gives_polygons_verdicts(solution, verdict, why):
    """examples/judge/interactive/judge.py: solution and interactor joined by pipes (run_group), judged
    by interaction_verdict (the interactor's exit code, unless the solution failed on its own)."""
    interactive = JUDGE / "interactive"
    completed = subprocess.run([sys.executable, str(interactive / "judge.py"), str(interactive / "solutions" / solution),
                                "777777"], capture_output=True, text=True, timeout=120)
    said = completed.stdout.strip()
    assert said.split(":")[0] == verdict and why in said, completed.stdout + completed.stderr
    assert completed.returncode == (0 if verdict == "OK" else 1)
