"""sandbox.checker: testlib's exit codes as verdicts, Polygon's rule for interactors, the checker's box (no boxes)."""
from __future__ import annotations

import signal

import pytest

from sandbox._record import replace
from sandbox.cases import Case, run_cases
from sandbox.checker import (
    ANSWER, INPUT, MESSAGE_LIMIT, OUTPUT, Checker, check, checker_request, checker_verdict, default_profile,
    interaction_verdict, load_checker, run_verdict,
)
from sandbox.errors import UsageError
from sandbox.profile import load_profile
from sandbox.result import Result, Verdict
from sandbox.transfer.packing import FileSource


def make_result(verdict: Verdict = Verdict.OK, exit_code=0, signum=None, stdout: bytes = b"",
                message: str = "") -> Result:
    return Result(verdict=verdict, exit_code=exit_code, signal=signum, limit=None, cpu_time=0.01, user_time=0.01,
                  system_time=0.0, wall_time=0.02, memory_peak=None, pids_peak=None, oom_killed=False,
                  enforced_by={}, message=message, stdout=stdout, stderr=None)


@pytest.mark.parametrize("code, verdict", [(0, Verdict.OK), (1, Verdict.WA), (2, Verdict.PE), (3, Verdict.IE)])
def test_testlib_exit_codes(code, verdict):
    assert checker_verdict(code, "expected 3, found 4\nmore")[0] is verdict


def test_the_message_is_the_meaning_and_the_first_line_said():
    assert checker_verdict(1, "expected 3, found 4\nsecond line") == (Verdict.WA, "checker: wrong answer: expected 3, found 4")
    assert checker_verdict(2, "") == (Verdict.PE, "checker: presentation error")
    assert checker_verdict(0, "ok 5 numbers") == (Verdict.OK, "")
    verdict, message = checker_verdict(1, "x" * 1000)
    assert len(message) < 300 and message.endswith("...")


def test_fail_is_the_judges_fault():
    verdict, message = checker_verdict(3, "answer file is broken")
    assert verdict is Verdict.IE and "not the solution's" in message and "answer file is broken" in message


@pytest.mark.parametrize("code, named", [(16, "_pc(0)"), (66, "_pc(50)"), (7, "quitp")])
def test_partial_scores_are_not_judged_but_said(code, named):
    verdict, message = checker_verdict(code, "points 0.5")
    assert verdict is Verdict.IE and named in message and "partial score" in message


@pytest.mark.parametrize("code", [None, 4, 5, 8, 15, 127, 139])
def test_anything_else_is_ie(code):
    verdict, message = checker_verdict(code, "")
    assert verdict is Verdict.IE and message.startswith("checker")


def test_a_checker_run_that_hit_its_limits_or_crashed_is_ie():
    timed_out = make_result(Verdict.TLE, exit_code=None, signum=9, message="CPU time limit 5s exceeded")
    assert run_verdict(timed_out) == (Verdict.IE, "checker hit its own limit: TLE (CPU time limit 5s exceeded)")
    crashed = make_result(Verdict.RE, exit_code=None, signum=signal.SIGSEGV, stdout=b"Traceback\n")
    assert run_verdict(crashed) == (Verdict.IE, "checker crashed: killed by SIGSEGV: Traceback")
    python_error = make_result(Verdict.RE, exit_code=1, stdout=b"Traceback (most recent call last):\n")
    assert run_verdict(python_error)[0] is Verdict.WA  # exit 1 is WA by the convention: a checker must not crash
    assert run_verdict(make_result(stdout=b"ok\n")) == (Verdict.OK, "")


def test_the_solutions_own_failure_wins_over_the_interactor():
    says_wa = make_result(Verdict.RE, exit_code=1, stdout=b"too many queries")
    for failure in (Verdict.TLE, Verdict.MLE, Verdict.OLE, Verdict.SV, Verdict.RE, Verdict.IE):
        solution = make_result(failure, exit_code=None, signum=9, message=f"the solution's {failure.value}")
        assert interaction_verdict(solution, says_wa) == (failure, f"the solution's {failure.value}")
    assert interaction_verdict(make_result(), says_wa) == (Verdict.WA, "checker: wrong answer: too many queries")
    assert interaction_verdict(make_result(), make_result(stdout=b"ok")) == (Verdict.OK, "")
    hung = make_result(Verdict.TLE, exit_code=None, signum=9, message="wall time limit 10s exceeded")
    assert interaction_verdict(make_result(), hung)[0] is Verdict.IE


def test_a_solution_that_died_writing_to_an_interactor_that_had_judged_gets_the_interactors_verdict():
    broken_pipe = make_result(Verdict.RE, exit_code=None, signum=13, message="killed by SIGPIPE")
    says_wa = make_result(Verdict.RE, exit_code=1, stdout=b"too many queries")
    assert interaction_verdict(broken_pipe, says_wa) == (Verdict.WA, "checker: wrong answer: too many queries")
    assert interaction_verdict(broken_pipe, make_result(stdout=b"ok"))[0] is Verdict.RE  # it said OK: the RE stands
    crashed = make_result(Verdict.RE, exit_code=None, signum=11, message="killed by SIGSEGV")
    assert interaction_verdict(crashed, says_wa)[0] is Verdict.RE


def test_default_profile():
    assert default_profile("/x/check.py") == "py3" and default_profile("/x/check") == "native"


def test_the_checkers_box_has_nothing_of_the_solutions():
    checker = Checker("checker.py", b"print('ok')", load_profile("py3"))
    request = checker_request(checker, b"1 3\n", b"0.333333\n", b"0.3333333333\n", "/cg")
    assert request.program == ("python3", "/work/checker.py", "/work/input.txt", "/work/output.txt",
                               "/work/answer.txt")
    assert request.files == (("checker.py", 0o755, b"print('ok')"), (INPUT, 0o644, b"1 3\n"),
                             (OUTPUT, 0o644, b"0.333333\n"), (ANSWER, 0o644, b"0.3333333333\n"))
    assert (request.binds, request.env, request.workdir) == ((), (), None)
    assert request.limits == {"tmp_size": (64 << 20) + 11 + 4 + 9 + 13}  # py3's room on top of the four files
    assert request.cgroup_root == "/cg"
    native = checker_request(Checker("checker", b"\x7fELF", load_profile("native")), b"", b"", b"")
    assert native.program[0] == "/work/checker"


def test_load_checker_reads_the_file_once(tmp_path):
    path = tmp_path / "tolerance.py"
    path.write_text("import sys\n")
    loaded = load_checker(str(path))
    assert (loaded.name, loaded.content, loaded.profile.name) == ("checker.py", b"import sys\n", "py3")
    path.write_text("changed\n")
    assert loaded.content == b"import sys\n"
    binary = tmp_path / "check"
    binary.write_bytes(b"\x7fELF")
    assert load_checker(binary).profile.name == "native"
    assert load_checker(binary, "sh").profile.name == "sh"


def test_load_checker_refusals(tmp_path):
    with pytest.raises(UsageError, match="checker"):
        load_checker(str(tmp_path / "missing.py"))
    with pytest.raises(UsageError, match="not a regular file"):
        load_checker(str(tmp_path))
    (tmp_path / "c.py").write_text("")
    no_script = replace(load_profile("py3"), command=("python3", "-c", "pass"))
    with pytest.raises(UsageError, match="runs no"):
        load_checker(str(tmp_path / "c.py"), no_script)


class FakeBox:
    """run_box for check(): records the requests, answers with a checker's Result."""

    def __init__(self, answer: Result) -> None:
        self.answer = answer
        self.requests = []

    def __call__(self, profile, request):
        self.requests.append(request)
        return self.answer


CHECKER = Checker("checker.py", b"", load_profile("py3"))


def test_check_judges_an_ok_run_with_the_checkers_verdict_and_message():
    box = FakeBox(make_result(Verdict.RE, exit_code=1, stdout=b"expected 0.5, found 0.6\n"))
    judged = check(make_result(stdout=b"0.6\n"), Case("1", b"1 2\n", b"0.5\n"), CHECKER, box)
    assert judged.verdict is Verdict.WA and judged.checker_message == "expected 0.5, found 0.6\n"
    assert judged.message == "checker: wrong answer: expected 0.5, found 0.6"
    assert [entry[2] for entry in box.requests[0].files[1:]] == [b"1 2\n", b"0.6\n", b"0.5\n"]


def test_check_keeps_a_failed_run_and_runs_no_checker():
    box = FakeBox(make_result())
    failed = make_result(Verdict.TLE, exit_code=None, signum=9, message="cpu")
    assert check(failed, Case("1", b"", b""), CHECKER, box) is failed and box.requests == []


def test_a_case_without_an_answer_gets_an_empty_answer_file_and_the_message_is_cut():
    box = FakeBox(make_result(stdout=b"x" * (MESSAGE_LIMIT + 100)))
    judged = check(make_result(), Case("1", b"in"), CHECKER, box)
    assert box.requests[0].files[3] == (ANSWER, 0o644, b"")
    assert judged.verdict is Verdict.OK and len(judged.checker_message) == MESSAGE_LIMIT


def test_a_case_file_input_is_streamed_from_the_noted_file(tmp_path):
    (tmp_path / "1.in").write_text("1 2\n")
    seen = []

    def box(profile, request):
        content = request.files[1][2]
        assert isinstance(content, FileSource) and content.size == 4
        seen.append(content.fd)
        return make_result()

    judged = list(run_cases([Case("1", str(tmp_path / "1.in"))], lambda case: make_result(),
                            check=lambda result, case: check(result, case, CHECKER, box)))
    assert judged[0].verdict is Verdict.OK and len(seen) == 1
    with pytest.raises(OSError):
        import os
        os.fstat(seen[0])  # closed after the checker's box


def test_run_cases_uses_check_instead_of_the_comparison_only_for_ok_runs():
    answers = {"1": make_result(stdout=b"wrong\n"), "2": make_result(Verdict.RE, exit_code=1)}
    checked = []

    def judge(result, case):
        checked.append(case.name)
        return replace(result, checker_message="fine")

    results = list(run_cases([Case("1", b"", b"right\n"), Case("2", b"", b"x")], lambda c: answers[c.name],
                             check=judge))
    assert [(r.verdict, r.checker_message) for r in results] == [(Verdict.OK, "fine"), (Verdict.RE, None)]
    assert checked == ["1"]


def test_checker_message_is_in_the_json_and_null_without_a_checker():
    assert make_result().to_dict()["checker_message"] is None
    assert replace(make_result(), checker_message="ok").to_dict()["checker_message"] == "ok"
    assert Verdict("PE") is Verdict.PE


def test_a_cli_run_imports_no_checker_unless_asked():
    import subprocess
    import sys

    code = "import sys, sandbox.cli, sandbox.api, sandbox.cases; print('sandbox.checker' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "False"


def test_an_interactors_message_is_its_stderr_since_its_stdout_went_to_the_solution():
    interactor = Result(verdict=Verdict.RE, exit_code=1, signal=None, limit=None, cpu_time=0.01, user_time=0.01,
                        system_time=0.0, wall_time=0.02, memory_peak=None, pids_peak=None, oom_killed=False,
                        enforced_by={}, message="", stdout=None, stderr=b"answered 7, the number was 8\n")
    assert interaction_verdict(make_result(), interactor) == (Verdict.WA, "checker: wrong answer: answered 7, the number was 8")
