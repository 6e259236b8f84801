"""Test cases in real boxes (API and `sandbox run --cases`), and the CLI's --file / --collect."""
from __future__ import annotations

import json
import os

import pytest
from boxrun import sandbox

from sandbox import Case, Sandbox, Verdict, cases_from_dir

ADD = ["/bin/sh", "-c", "read a b; echo $((a + b))"]
EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")


@pytest.fixture
def cases_dir(tmp_path):
    """Three cases; the expected output of case 2 is wrong on purpose (4 + 4 is not 9)."""
    directory = tmp_path / "cases"
    directory.mkdir()
    for name, given, expected in (("1", "1 2\n", "3\n"), ("2", "4 4\n", "9\n"), ("10", "5 5\n", "10  \n\n")):
        (directory / f"{name}.in").write_text(given)
        (directory / f"{name}.out").write_text(expected)
    return directory


def test_cli_reports_each_case_and_exits_1_on_a_wrong_answer(cases_dir):
    completed = sandbox("run", "--profile", "sh", "--cases", str(cases_dir), "--", *ADD)
    lines = completed.stdout.decode().splitlines()
    assert completed.returncode == 1, completed.stderr
    assert [line.split()[:2] for line in lines[:3]] == [["1", "OK"], ["2", "WA"], ["10", "OK"]]
    assert "line 1 differs from the expected" in lines[1]
    assert "cpu" in lines[0] and "wall" in lines[0]
    assert lines[3] == "WA: 2 of 3 cases OK (1 WA)" and len(lines) == 4


def test_cli_json_has_the_overall_verdict_and_a_result_per_case(cases_dir, tmp_path):
    completed = sandbox("run", "--json", "--result", str(tmp_path / "r.json"), "--profile", "sh",
                        "--cases", str(cases_dir), "--", *ADD)
    document = json.loads(completed.stdout)
    assert document == json.loads((tmp_path / "r.json").read_text())
    assert document["verdict"] == "WA" and document["skipped"] == []
    assert [(c["case"], c["verdict"], c["stdout"]) for c in document["cases"]] == [
        ("1", "OK", "3\n"), ("2", "WA", "8\n"), ("10", "OK", "10\n")]
    assert completed.returncode == 1


def test_cli_all_ok_exits_0_and_compare_exact_is_strict(cases_dir):
    (cases_dir / "2.out").write_text("8\n")
    assert sandbox("run", "--profile", "sh", "--cases", str(cases_dir), "--", *ADD).returncode == 0
    exact = sandbox("run", "--profile", "sh", "--compare", "exact", "--cases", str(cases_dir), "--", *ADD)
    assert [line.split()[1] for line in exact.stdout.decode().splitlines()[:3]] == ["OK", "OK", "WA"]
    assert exact.returncode == 1


def test_cli_fail_fast_runs_nothing_after_the_first_failure(cases_dir):
    completed = sandbox("run", "--profile", "sh", "--fail-fast", "--cases", str(cases_dir), "--", *ADD)
    lines = completed.stdout.decode().splitlines()
    assert [line.split() for line in lines[2:]] == [["10", "skipped"], "WA: 1 of 3 cases OK (1 WA, 1 skipped)".split()]
    assert completed.returncode == 1
    document = json.loads(sandbox("run", "--json", "--profile", "sh", "--fail-fast", "--cases", str(cases_dir),
                                  "--", *ADD).stdout)
    assert [c["case"] for c in document["cases"]] == ["1", "2"] and document["skipped"] == ["10"]


def test_the_readme_cases_example_runs():
    completed = sandbox("run", "--cases", os.path.join(EXAMPLES, "sum"), os.path.join(EXAMPLES, "sum.py"))
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.decode().splitlines()
    assert [line.split()[:2] for line in lines[:3]] == [["1", "OK"], ["2", "OK"], ["10", "OK"]]
    assert lines[3:] == ["OK: 3 of 3 cases OK"]


def test_cli_cases_with_a_script_and_the_program_stderr_passes_through(tmp_path, script):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.in").write_text("hello\n")
    (tmp_path / "t" / "a.out").write_text("HELLO\n")
    solution = script("import sys\nline = input()\nprint(line.upper())\nprint('debug', file=sys.stderr)\n")
    completed = sandbox("run", "--cases", str(tmp_path / "t"), solution)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.decode().splitlines()[0].split()[:2] == ["a", "OK"]
    assert completed.stderr == b"debug\n"


def test_cli_cases_with_a_missing_program_is_127_and_an_ie_document(cases_dir):
    completed = sandbox("run", "--profile", "sh", "--cases", str(cases_dir), "--", "/no/such/program")
    assert completed.returncode == 127 and completed.stdout == b""
    assert len(completed.stderr.decode().splitlines()) == 1
    completed = sandbox("run", "--json", "--profile", "sh", "--cases", str(cases_dir), "--", "/no/such/program")
    document = json.loads(completed.stdout)
    assert (document["verdict"], document["cases"], document["skipped"]) == ("IE", [], ["1", "2", "10"])
    assert (document["error"]["error"], document["error"]["exit_code"]) == ("ExecError", 127)
    assert completed.returncode == 127


def test_cli_cases_a_box_that_cannot_be_set_up_leaves_an_ie_document_with_the_cases_before(tmp_path):
    """Case 1's box replaces the directory bound at /data (it may write its parent, bound at /job);
    case 2's box refuses to start with another directory there.  The --result document says IE with
    case 1 judged, 2 and 3 skipped, and the error's step."""
    job = tmp_path / "job"
    (job / "data").mkdir(parents=True)
    (tmp_path / "t").mkdir()
    for name in ("1", "2", "3"):
        (tmp_path / "t" / f"{name}.in").write_text(f"{name}\n")
    replace_data = 'read n; if [ "$n" = 1 ]; then mv /job/data /job/data.old; mkdir /job/data; fi; echo $n'
    result = tmp_path / "result.json"
    completed = sandbox("run", "--profile", "sh", "--bind-rw", f"{job}:/job", "--bind", f"{job}/data:/data",
                        "--result", str(result), "--cases", str(tmp_path / "t"), "--", "/bin/sh", "-c", replace_data)
    assert completed.returncode == 125 and completed.stderr.count(b"\n") == 1, completed.stderr
    document = json.loads(result.read_text())
    assert (document["verdict"], [c["case"] for c in document["cases"]], document["skipped"]) == \
        ("IE", ["1"], ["2", "3"])
    assert document["cases"][0]["verdict"] == "OK" and document["cases"][0]["stdout"] == "1\n"
    assert (document["error"]["error"], document["error"]["step"]) == ("SetupError", "mount namespace")
    assert completed.stderr.decode() == f"sandbox: {document['message']}\n"


def test_api_a_tle_in_one_case_does_not_affect_the_next():
    loop_or_echo = ["/bin/sh", "-c", 'read x; if [ "$x" = loop ]; then while :; do :; done; fi; echo "$x"']
    cases = [Case("spin", b"loop\n", b""), Case("after", b"fine\n", b"fine\n")]
    with Sandbox("sh", cpu_time="1s", wall_time="20s") as box:
        spin, after = box.run_cases(loop_or_echo, cases)
    assert (spin.case, spin.verdict, spin.limit) == ("spin", Verdict.TLE, "cpu_time")
    assert (after.case, after.verdict, after.stdout) == ("after", Verdict.OK, b"fine\n")


def test_api_each_case_gets_a_fresh_box():
    """Case 1 leaves a file in /work; case 2 must not see it."""
    program = ["/bin/sh", "-c", "test -e mark && echo seen; echo > mark; echo fresh"]
    with Sandbox("sh") as box:
        results = box.run_cases(program, [Case("1", b"", b"fresh\n"), Case("2", b"", b"fresh\n")],
                                collect=["mark"])
    assert [(r.case, r.verdict, r.stdout) for r in results] == [("1", Verdict.OK, b"fresh\n"),
                                                                 ("2", Verdict.OK, b"fresh\n")]
    assert all(r.files == {"mark": b"\n"} for r in results)  # the file was made in each box, and collected


def test_api_fail_fast_returns_the_results_up_to_the_first_failure(cases_dir):
    cases = cases_from_dir(cases_dir)
    with Sandbox("sh") as box:
        results = box.run_cases(ADD, cases, fail_fast=True)
        everything = box.run_cases(ADD, cases)
    assert [(r.case, r.verdict) for r in results] == [("1", Verdict.OK), ("2", Verdict.WA)]
    assert [r.verdict for r in everything] == [Verdict.OK, Verdict.WA, Verdict.OK]


def test_api_cases_run_a_script_with_stdin_from_bytes_or_a_path(tmp_path, script):
    (tmp_path / "in.txt").write_text("from a file\n")
    solution = script("print(input()[::-1])\n")
    with Sandbox("py3") as box:
        results = box.run_cases(script=solution, cases=[Case("bytes", b"abc\n", b"cba\n"),
                                                        Case("path", str(tmp_path / "in.txt"), b"elif a morf\n")])
    assert [r.verdict for r in results] == [Verdict.OK, Verdict.OK]


# --- the CLI's --file and --collect -----------------------------------------------------------------


def test_cli_files_go_in_with_their_modes_and_collected_files_come_out(tmp_path):
    (tmp_path / "data.txt").write_text("hello")
    (tmp_path / "tool.sh").write_text("#!/bin/sh\ntr a-z A-Z < in/data.txt > out/up.txt\n")
    (tmp_path / "tool.sh").chmod(0o755)
    (tmp_path / "got").mkdir()
    completed = sandbox("run", "--profile", "sh", "--file", f"{tmp_path / 'data.txt'}:in/data.txt",
                        "--file", str(tmp_path / "tool.sh"), "--collect", "out/up.txt", "--collect-dir",
                        str(tmp_path / "got"), "--", "/bin/sh", "-c", "mkdir out && ./tool.sh")
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "got" / "out" / "up.txt").read_text() == "HELLO"
    assert os.listdir(tmp_path / "got") == ["out"]


def test_cli_collect_defaults_to_the_current_directory(tmp_path):
    completed = sandbox("run", "--profile", "sh", "--collect", "a.txt", "--", "/bin/sh", "-c", "echo made > a.txt",
                        cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "a.txt").read_text() == "made\n"


def test_cli_collect_follows_no_symlink_and_cuts_an_over_limit_file(tmp_path):
    program = "head -c 5000 /dev/zero > big; ln -s /etc/hostname link; mkdir d; ln -s /proc/1 d/p"
    completed = sandbox("run", "--json", "--profile", "sh", "--collect", "big", "--collect", "link",
                        "--collect", "d/p/environ", "--collect-limit", "1K", "--collect-dir", str(tmp_path),
                        "--", "/bin/sh", "-c", program)
    document = json.loads(completed.stdout)
    assert document["files"] == {"big": 1024} and document["files_truncated"] == ["big"]
    assert (tmp_path / "big").read_bytes() == bytes(1024)
    assert sorted(os.listdir(tmp_path)) == ["big"]
    human = sandbox("run", "--profile", "sh", "--collect", "big", "--collect", "link", "--collect-limit", "1K",
                    "--collect-dir", str(tmp_path), "--", "/bin/sh", "-c", program)
    assert human.stderr.decode().splitlines() == ["sandbox: --collect big: cut at the collect limit",
                                                  "sandbox: --collect link: no regular file of that name in /work"]


def test_cli_collect_refuses_a_symlink_planted_in_the_collect_dir(tmp_path):
    (tmp_path / "outside").write_text("keep")
    (tmp_path / "got").mkdir()
    (tmp_path / "got" / "a.txt").symlink_to(tmp_path / "outside")
    completed = sandbox("run", "--profile", "sh", "--collect", "a.txt", "--collect-dir", str(tmp_path / "got"),
                        "--", "/bin/sh", "-c", "echo evil > a.txt")
    assert completed.returncode == 125
    assert completed.stderr.decode().splitlines() == [
        f"sandbox: --collect-dir {tmp_path / 'got'}: writing a.txt: it is a symlink (not followed)"]
    assert (tmp_path / "outside").read_text() == "keep"


def test_cli_cases_collect_into_a_directory_per_case(cases_dir, tmp_path):
    (tmp_path / "got").mkdir()
    completed = sandbox("run", "--profile", "sh", "--cases", str(cases_dir), "--collect", "seen",
                        "--collect-dir", str(tmp_path / "got"), "--", "/bin/sh", "-c", f"{ADD[2]}; echo $a > seen")
    assert completed.returncode == 1  # case 2's expected output is wrong
    assert sorted(os.listdir(tmp_path / "got")) == ["1", "10", "2"]
    assert [(tmp_path / "got" / name / "seen").read_text() for name in ("1", "2", "10")] == ["1\n", "4\n", "5\n"]
