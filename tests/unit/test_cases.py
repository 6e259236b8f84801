"""sandbox.batch: the comparison rules, cases found in a directory, and the loop with fail-fast (no boxes)."""
from __future__ import annotations

import os

import pytest

from sandbox.cases import Case, cases_from_dir, differs, natural_key, overall_verdict, run_cases
from sandbox.errors import UsageError
from sandbox.result import Result, Verdict


def make_result(verdict: Verdict = Verdict.OK, stdout: bytes = b"", message: str = "exited with 0") -> Result:
    return Result(verdict=verdict, exit_code=0 if verdict is Verdict.OK else 1, signal=None, limit=None,
                  cpu_time=0.01, user_time=0.01, system_time=0.0, wall_time=0.02, memory_peak=None, pids_peak=None,
                  oom_killed=False, enforced_by={}, message=message, stdout=stdout, stderr=b"")


class FakeRunner:
    """run_one for the loop: answers from a table by case name and records which cases ran."""

    def __init__(self, answers: dict[str, Result]) -> None:
        self.answers = answers
        self.ran: list[str] = []

    def __call__(self, case: Case) -> Result:
        self.ran.append(case.name)
        return self.answers[case.name]


# --- comparison ------------------------------------------------------------------------------------


@pytest.mark.parametrize("actual, expected", [
    (b"3\n", b"3\n"),
    (b"3", b"3\n"),                          # a missing final newline
    (b"3  \t\n", b"3\n"),                    # trailing whitespace on a line
    (b"1 2\r\n3\r\n", b"1 2\n3\n"),          # CRLF
    (b"3\n\n\n", b"3\n"),                    # trailing blank lines
    (b"3\n", b"3\n   \n\n"),                 # ... on either side
    (b"", b"\n\n"),                          # nothing, against only blank lines
])
def test_lines_ignores_trailing_whitespace_and_trailing_blank_lines(actual, expected):
    assert differs(actual, expected, "lines") is None


@pytest.mark.parametrize("actual, expected, where", [
    (b"4\n", b"3\n", "line 1 differs"),
    (b" 3\n", b"3\n", "line 1 differs"),               # leading whitespace counts
    (b"1\n\n2\n", b"1\n2\n", "line 2 differs"),        # a blank line in between counts
    (b"1 2\n", b"1  2\n", "line 1 differs"),           # so does whitespace inside a line
    (b"1\n", b"1\n2\n", "line 2: the output ends; 2 line(s) expected"),
    (b"1\n2\n3\n", b"1\n2\n", "line 3: output beyond the expected 2 line(s)"),
    (b"", b"1\n", "line 1: the output ends"),
])
def test_lines_finds_the_first_difference(actual, expected, where):
    assert where in differs(actual, expected, "lines")


@pytest.mark.parametrize("actual, expected, same", [
    (b"3\n", b"3\n", True),
    (b"3", b"3\n", False),
    (b"3 \n", b"3\n", False),
    (b"3\r\n", b"3\n", False),
    (b"3\n\n", b"3\n", False),
    (b"\x00\xff", b"\x00\xff", True),
])
def test_exact_wants_the_same_bytes(actual, expected, same):
    assert (differs(actual, expected, "exact") is None) is same


# --- the loop ----------------------------------------------------------------------------------------


CASES = [Case("a", b"", b"1\n"), Case("b", b"", b"2\n"), Case("c", b"", b"3\n")]


def test_every_case_runs_in_order_and_each_result_names_its_case():
    runner = FakeRunner({"a": make_result(stdout=b"1\n"), "b": make_result(stdout=b"9\n"),
                         "c": make_result(stdout=b"3  \n")})
    results = list(run_cases(CASES, runner))
    assert runner.ran == ["a", "b", "c"]
    assert [(r.case, r.verdict) for r in results] == [("a", Verdict.OK), ("b", Verdict.WA), ("c", Verdict.OK)]
    assert results[1].message == "line 1 differs from the expected"
    assert overall_verdict(results) is Verdict.WA


def test_compare_exact_is_passed_through():
    runner = FakeRunner({"a": make_result(stdout=b"1 \n"), "b": make_result(stdout=b"2\n"),
                         "c": make_result(stdout=b"3\n")})
    assert [r.verdict for r in run_cases(CASES, runner, compare="exact")] == [Verdict.WA, Verdict.OK, Verdict.OK]


def test_fail_fast_stops_after_the_first_failure_and_runs_nothing_more():
    runner = FakeRunner({"a": make_result(stdout=b"1\n"), "b": make_result(Verdict.TLE, message="cpu_time limit"),
                         "c": make_result(stdout=b"3\n")})
    results = list(run_cases(CASES, runner, fail_fast=True))
    assert runner.ran == ["a", "b"]
    assert [(r.case, r.verdict) for r in results] == [("a", Verdict.OK), ("b", Verdict.TLE)]
    assert results[-1].message == "cpu_time limit"  # a failure of the run keeps its own verdict and message


def test_fail_fast_counts_a_wrong_answer_as_a_failure():
    runner = FakeRunner({"a": make_result(stdout=b"wrong\n"), "b": make_result(), "c": make_result()})
    assert [r.case for r in run_cases(CASES, runner, fail_fast=True)] == ["a"]
    assert runner.ran == ["a"]


def test_without_fail_fast_a_failure_does_not_stop_the_others():
    runner = FakeRunner({"a": make_result(Verdict.RE), "b": make_result(Verdict.TLE), "c": make_result(stdout=b"3")})
    results = list(run_cases(CASES, runner))
    assert [r.verdict for r in results] == [Verdict.RE, Verdict.TLE, Verdict.OK]
    assert overall_verdict(results) is Verdict.RE  # the first failure in case order


def test_only_an_ok_run_is_compared():
    runner = FakeRunner({"x": make_result(Verdict.RE, stdout=b"1\n")})
    assert list(run_cases([Case("x", b"", b"2\n")], runner))[0].verdict is Verdict.RE


def test_a_case_without_expected_output_is_not_compared():
    runner = FakeRunner({"x": make_result(stdout=b"anything\n")})
    assert list(run_cases([Case("x")], runner))[0].verdict is Verdict.OK


def test_expected_output_is_read_from_a_path_when_the_case_runs(tmp_path):
    expected = tmp_path / "x.out"
    expected.write_bytes(b"42\n")
    runner = FakeRunner({"x": make_result(stdout=b"42\n")})
    assert next(run_cases([Case("x", b"", expected)], runner)).verdict is Verdict.OK


def test_a_case_file_changed_after_the_cases_started_stops_the_batch(tmp_path):
    """08_cases_lazy_expected: case 1's program rewrites the expected output of case 2."""
    for name in ("1", "2"):
        (tmp_path / f"{name}.in").write_text(f"{name} {name}\n")
        (tmp_path / f"{name}.out").write_text(f"{int(name) * 2}\n")

    def forge(case: Case) -> Result:
        if case.name == "1":
            (tmp_path / "2.out").write_text("forged\n")  # same size: only the change time tells
            return make_result(stdout=b"2\n")
        return make_result(stdout=b"forged\n")

    results = run_cases(cases_from_dir(tmp_path), forge)
    assert next(results).verdict is Verdict.OK
    with pytest.raises(UsageError, match="2.out changed after the cases started"):
        next(results)


def test_a_case_file_replaced_by_a_symlink_is_not_followed_to_another_file(tmp_path):
    (tmp_path / "1.in").write_text("1\n")
    (tmp_path / "2.in").write_text("2\n")
    (tmp_path / "secret").write_text("2\n")

    def swap(case: Case) -> Result:
        if case.name == "1":
            (tmp_path / "2.in").unlink()
            (tmp_path / "2.in").symlink_to("secret")
        return make_result()

    results = run_cases(cases_from_dir(tmp_path), lambda case: (os.close(case.stdin.open()), swap(case))[1])
    next(results)
    with pytest.raises(UsageError, match="2.in changed after the cases started"):
        next(results)


def test_a_missing_expected_file_is_a_usage_error_naming_the_case(tmp_path):
    runner = FakeRunner({"x": make_result(stdout=b"1\n")})
    with pytest.raises(UsageError, match="case x: expected .*missing.out"):
        list(run_cases([Case("x", b"", str(tmp_path / "missing.out"))], runner))


def test_arguments_are_checked_before_any_case_runs():
    runner = FakeRunner({})
    with pytest.raises(UsageError, match="compare 'fuzzy'"):
        run_cases(CASES, runner, compare="fuzzy")
    with pytest.raises(UsageError, match="repeated: a"):
        run_cases([Case("a"), Case("b"), Case("a")], runner)
    assert runner.ran == []


def test_overall_verdict_of_all_ok_or_nothing_is_ok():
    assert overall_verdict([make_result(), make_result()]) is Verdict.OK
    assert overall_verdict([]) is Verdict.OK


# --- cases from a directory ---------------------------------------------------------------------------


def test_cases_are_in_natural_order_with_optional_expected_output(tmp_path):
    for name in ("10", "2", "1", "a10", "a2", "b"):
        (tmp_path / f"{name}.in").write_text(name)
    for name in ("2", "a10"):
        (tmp_path / f"{name}.out").write_text(name)
    cases = cases_from_dir(tmp_path)
    assert [c.name for c in cases] == ["1", "2", "10", "a2", "a10", "b"]
    assert (os.fspath(cases[1].stdin), os.fspath(cases[1].expected)) == (str(tmp_path / "2.in"), str(tmp_path / "2.out"))
    assert cases[0].expected is None


def test_other_files_and_dotfiles_are_ignored(tmp_path):
    (tmp_path / "1.in").write_text("")
    (tmp_path / "README.md").write_text("")
    (tmp_path / "gen.py").write_text("")
    (tmp_path / ".2.in.swp").write_text("")
    (tmp_path / ".hidden.in").write_text("")
    (tmp_path / "sub").mkdir()
    assert [c.name for c in cases_from_dir(tmp_path)] == ["1"]


@pytest.mark.parametrize("setup, fragment", [
    (lambda d: None, "no NAME.in files"),
    (lambda d: (d / "README").write_text(""), "no NAME.in files"),
    (lambda d: ((d / "1.in").write_text(""), (d / "2.out").write_text("")), "2.out has no 2.in"),
    (lambda d: (d / "1.in").mkdir(), "1.in: not a regular file"),
    (lambda d: ((d / "1.in").write_text(""), (d / "1.out").mkdir()), "1.out: not a regular file"),
])
def test_a_directory_without_usable_cases_is_a_usage_error(tmp_path, setup, fragment):
    setup(tmp_path)
    with pytest.raises(UsageError, match=fragment) as caught:
        cases_from_dir(tmp_path)
    assert str(tmp_path) in caught.value.message


def test_a_missing_directory_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no-such: No such file or directory"):
        cases_from_dir(tmp_path / "no-such")


def test_natural_key_breaks_ties_by_the_name():
    assert sorted(["01", "1", "001"], key=natural_key) == ["001", "01", "1"]
    assert sorted(["x-2-b", "x-10-a", "x-2-a"], key=natural_key) == ["x-2-a", "x-2-b", "x-10-a"]


def test_an_expected_output_changed_through_a_dirty_shared_mapping_is_caught(tmp_path):
    """A write to a page already dirty in a MAP_SHARED mapping moves neither mtime nor ctime; the
    expected output is noted by its bytes too."""
    import mmap

    (tmp_path / "1.in").write_text("2 2\n")
    (tmp_path / "1.out").write_text("4\n")
    with open(tmp_path / "1.out", "r+b") as f, mmap.mmap(f.fileno(), 0) as shared:
        shared[0:1] = b"4"  # the page is dirty from here on: later writes to it move no time
        cases = cases_from_dir(tmp_path)
        noted = os.stat(tmp_path / "1.out")
        shared[0:1] = b"5"
        assert (os.stat(tmp_path / "1.out").st_ctime_ns, os.stat(tmp_path / "1.out").st_mtime_ns) == (
            noted.st_ctime_ns, noted.st_mtime_ns)  # the times cannot tell
        results = run_cases(cases, FakeRunner({"1": make_result(stdout=b"5\n")}))
        with pytest.raises(UsageError, match="1.out changed after the cases started .its bytes differ"):
            next(results)
