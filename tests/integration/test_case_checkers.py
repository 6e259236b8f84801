"""Checkers in real boxes: `sandbox run --cases DIR --checker PROGRAM` and Sandbox.run_cases(checker=...)."""
from __future__ import annotations

import json
import os

import pytest
from boxrun import sandbox

from sandbox import Case, Sandbox, Verdict
from sandbox.errors import UsageError

# testlib's convention: 0 OK, 1 WA, 2 PE; a float within 1e-6 of the answer is right.
TOLERANCE = """\
import sys
given, output, answer = sys.argv[1:4]
try:
    found = float(open(output).read().split()[0])
except (ValueError, IndexError):
    print("expected a number")
    sys.exit(2)
expected = float(open(answer).read())
if abs(found - expected) > 1e-6:
    print(f"expected {expected}, found {found}")
    sys.exit(1)
print(f"ok {found}")
"""
DIVIDE = "a, b = map(int, input().split())\nprint(OUTPUT)\n"


@pytest.fixture
def problem(tmp_path, script):
    """Two cases of a division problem whose answers are floats, and the tolerance checker."""
    cases = tmp_path / "cases"
    cases.mkdir()
    for name, given, expected in (("1", "1 3", "0.3333333333"), ("2", "2 4", "0.5")):
        (cases / f"{name}.in").write_text(given + "\n")
        (cases / f"{name}.out").write_text(expected + "\n")
    return cases, script(TOLERANCE, "tolerance.py")


def solution(script, output: str) -> str:
    return script(DIVIDE.replace("OUTPUT", output), "solution.py")


def run_cases(*args: str) -> tuple[dict, object]:
    completed = sandbox("run", "--json", *args, timeout=60)
    try:
        return json.loads(completed.stdout), completed
    except json.JSONDecodeError:
        raise AssertionError(f"exit {completed.returncode}: {completed.stderr.decode()}")


def test_a_tolerance_checker_accepts_what_the_exact_comparison_calls_wa(problem, script):
    cases, checker = problem
    program = solution(script, 'f"{a / b:.6f}"')
    compared, completed = run_cases("--cases", str(cases), program)
    assert [c["verdict"] for c in compared["cases"]] == ["WA", "WA"] and completed.returncode == 1
    assert all(c["checker_message"] is None for c in compared["cases"])  # no checker ran
    checked, completed = run_cases("--cases", str(cases), "--checker", checker, program)
    assert completed.returncode == 0, completed.stderr
    assert [(c["verdict"], c["checker_message"]) for c in checked["cases"]] == [
        ("OK", "ok 0.333333\n"), ("OK", "ok 0.5\n")]
    assert checked["verdict"] == "OK"


def test_a_wrong_answer_carries_the_checkers_message(problem, script):
    cases, checker = problem
    document, completed = run_cases("--cases", str(cases), "--checker", checker, solution(script, "a / b + 0.01"))
    first = document["cases"][0]
    assert (first["verdict"], first["checker_message"]) == ("WA", "expected 0.3333333333, found 0.3433333333333333\n")
    assert first["message"] == "checker: wrong answer: expected 0.3333333333, found 0.3433333333333333"
    assert document["verdict"] == "WA" and completed.returncode == 1
    lines = sandbox("run", "--cases", str(cases), "--checker", checker, solution(script, "a / b + 0.01"),
                    timeout=60).stdout.decode().splitlines()
    assert lines[0].split()[:2] == ["1", "WA"] and "(checker: wrong answer: expected" in lines[0]


def test_a_presentation_error(problem, script):
    cases, checker = problem
    document, _ = run_cases("--cases", str(cases), "--checker", checker, solution(script, '"a third"'))
    assert [(c["verdict"], c["checker_message"]) for c in document["cases"]] == [("PE", "expected a number\n")] * 2
    assert document["verdict"] == "PE"


@pytest.mark.parametrize("crash, said", [
    ("import os\nprint('about to fail', flush=True)\nos.abort()\n", "checker crashed: killed by SIGABRT"),
    ("import sys\nsys.exit(5)\n", "exit 5 is not a checker's verdict"),
    ("import sys\nsys.exit(42)\n", "partial score (testlib _pc(26), exit 42)"),
    ("import sys\nprint('answer file is broken')\nsys.exit(3)\n", "checker failure"),
    ("while True:\n    pass\n", "checker hit its own limit: TLE"),
])
def test_a_checker_that_fails_is_ie_never_the_solutions_fault(problem, script, crash, said):
    cases, _ = problem
    checker = script(crash, "crashing.py")
    args = ("--checker-profile", _fast_profile(script)) if "while" in crash else ()
    document, completed = run_cases("--cases", str(cases), "--fail-fast", "--checker", checker, *args,
                                    solution(script, "a / b"))
    first = document["cases"][0]
    assert first["verdict"] == "IE" and said in first["message"], first
    assert first["exit_code"] == 0  # the solution itself ran fine
    assert document["verdict"] == "IE" and document["skipped"] == ["2"] and completed.returncode == 1


def _fast_profile(script) -> str:
    """py3 with a short CPU limit, so a checker that loops is stopped quickly."""
    return script("extends: py3\nlimits:\n  cpu_time: 300ms\n  wall_time: 2s\n", "quick.yaml")


SNOOP = """\
import json, os, sys
report = {"work": sorted(os.listdir("/work")), "argv": sys.argv[1:], "secret": os.environ.get("SECRET")}
for name, path in (("data", "/data/planted"), ("cases", CASES + "/1.out"), ("solution", SOLUTION)):
    try:
        with open(path, "a") as f:
            f.write("checker was here")
        report[name] = "written"
    except OSError as e:
        report[name] = e.strerror
try:
    report["solution_read"] = open(SOLUTION).read()
except OSError as e:
    report["solution_read"] = e.strerror
print(json.dumps(report))
"""


def test_the_checker_cannot_reach_the_solutions_box_or_outside_its_own(problem, script, tmp_path):
    cases, _ = problem
    data = tmp_path / "data"
    data.mkdir()
    program = script('import os\nprint(open("/data/mine", "w").write("x"))\n', "solution.py")
    before = {path: path.read_bytes() for path in cases.iterdir()}
    checker = script(SNOOP.replace("CASES", repr(str(cases))).replace("SOLUTION", repr(program)), "snoop.py")
    document, completed = run_cases("--cases", str(cases), "--bind-rw", f"{data}:/data", "--env", "SECRET=s3cret",
                                    "--checker", checker, program)
    assert completed.returncode == 0, (document, completed.stderr)
    report = json.loads(document["cases"][0]["checker_message"])
    assert report["work"] == ["answer.txt", "checker.py", "input.txt", "output.txt"]
    assert report["argv"] == ["/work/input.txt", "/work/output.txt", "/work/answer.txt"]
    assert report["secret"] is None  # the solution's --env is not the checker's
    assert report["data"] == report["cases"] == report["solution"] == report["solution_read"] == \
        "No such file or directory"
    assert sorted(os.listdir(data)) == ["mine"]  # the solution's writable bind is not the checker's
    assert {path: path.read_bytes() for path in cases.iterdir()} == before


def test_a_case_without_an_answer_gets_an_empty_answer_file(tmp_path, script):
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "1.in").write_text("7\n")
    checker = script("import sys\nprint(len(open(sys.argv[3]).read()), open(sys.argv[1]).read().strip())\n", "c.py")
    document, completed = run_cases("--cases", str(cases), "--checker", checker, script("print(input())\n", "s.py"))
    assert document["cases"][0]["checker_message"] == "0 7\n" and completed.returncode == 0


def test_a_solution_that_fails_keeps_its_verdict_and_no_checker_runs(problem, script):
    cases, checker = problem
    document, _ = run_cases("--cases", str(cases), "--checker", checker, script("raise SystemExit(3)\n", "re.py"))
    assert [(c["verdict"], c["checker_message"]) for c in document["cases"]] == [("RE", None), ("RE", None)]


def test_the_api_takes_a_checker(problem, script):
    _, checker = problem
    cases = [Case("third", b"1 3\n", b"0.3333333333\n"), Case("off", b"1 2\n", b"0.6\n")]
    with Sandbox("py3", cpu_time="2s") as box:
        results = box.run_cases(script=solution(script, 'f"{a / b:.6f}"'), cases=cases, checker=checker)
        plain = box.run_cases(script=solution(script, 'f"{a / b:.6f}"'), cases=cases[:1])
        with pytest.raises(UsageError, match="compare or checker"):
            box.run_cases(script=checker, cases=cases, checker=checker, compare="exact")
    assert [(r.case, r.verdict, r.checker_message) for r in results] == [
        ("third", Verdict.OK, "ok 0.333333\n"), ("off", Verdict.WA, "expected 0.6, found 0.5\n")]
    assert plain[0].verdict is Verdict.WA and plain[0].checker_message is None


def test_the_readme_checker_example_runs():
    divide = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "judge", "divide")
    completed = sandbox("run", "--cases", os.path.join(divide, "cases"), "--checker", os.path.join(divide, "checker.py"),
                        os.path.join(divide, "solutions", "accepted.py"), timeout=60)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.decode().splitlines()
    assert [line.split()[:2] for line in lines[:3]] == [["1", "OK"], ["2", "OK"], ["3", "OK"]]
    assert lines[3:] == ["OK: 3 of 3 cases OK"]


def test_an_output_larger_than_the_checkers_tmp_size_still_reaches_it(tmp_path, script):
    """The checker's /work is its profile's tmp_size on top of its four files: the solution, not the
    judge, chose how large its output is."""
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "1.in").write_text("")
    small = script("extends: py3\nlimits:\n  tmp_size: 1M\n", "small.yaml")
    checker = script("import os, sys\nprint(os.path.getsize(sys.argv[2]))\n", "size.py")
    document, completed = run_cases("--cases", str(cases), "--checker", checker, "--checker-profile", small,
                                    script("print('x' * (3 << 20))\n", "big.py"))
    assert (document["cases"][0]["verdict"], document["cases"][0]["checker_message"]) == ("OK", f"{(3 << 20) + 1}\n")
    assert completed.returncode == 0
