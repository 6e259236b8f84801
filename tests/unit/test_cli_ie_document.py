"""`sandbox run --result FILE` (and --json) leave a document however the run ends: an error of the
sandbox writes an IE document, as isolate always writes its meta file.  In this process, no box:
where a box would be started, the supervisor's entry point is replaced by one that fails as a box can."""
from __future__ import annotations

import json

import pytest

from sandbox import supervisor
from sandbox.errors import ExecError, SetupError, UsageError
from sandbox.result import Result, Verdict
from sandbox.transfer import host

# The keys the IE document had before every error wrote one (ExecError's), kept as they were.
RUN_KEYS = {"verdict", "exit_code", "signal", "message"}
CASES_KEYS = {"verdict", "message", "cases", "skipped"}


def ok_result(**fields: object) -> Result:
    base: dict = dict(verdict=Verdict.OK, exit_code=0, signal=None, limit=None, cpu_time=0.1, user_time=0.1,
                      system_time=0.0, wall_time=0.2, memory_peak=None, pids_peak=None, oom_killed=False,
                      enforced_by={}, stdout=b"", stderr=b"")
    return Result(**{**base, **fields})


def one_line(ran, exit_code: int = 125) -> str:
    assert ran.returncode == exit_code, ran.stderr
    assert len(ran.stderr.splitlines()) == 1 and ran.stderr.startswith("sandbox: "), ran.stderr
    assert "internal error" not in ran.stderr
    return ran.stderr


@pytest.fixture
def typo_profile(tmp_path) -> str:
    (tmp_path / "typo.yaml").write_text("seccomp: {allow: [read]}\nlimts: {memory: 64M}\n")
    return "typo.yaml"


@pytest.mark.parametrize("args, error, fragment", [
    (["--profile", "typo.yaml", "--", "/bin/true"], "ProfileError", "limts"),
    (["--profile", "no-such-profile", "--", "/bin/true"], "ProfileError", "no-such-profile"),
    (["--memory", "12Q", "--", "/bin/true"], "UsageError", "12Q"),
    (["--bind", "/no/such/source", "--", "/bin/true"], "PathError", "/no/such/source"),
    (["missing_script.py"], "PathError", "missing_script.py"),
    (["--collect", "out", "--collect-dir", "no-such-dir", "--", "/bin/true"], "PathError", "no-such-dir"),
    (["--"], "UsageError", "nothing to run"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_every_sandbox_error_of_a_run_writes_an_ie_result(run_cli, tmp_path, typo_profile, args, error, fragment):
    line = one_line(run_cli("run", "--result", "result.json", *args))
    document = json.loads((tmp_path / "result.json").read_text())
    assert RUN_KEYS | {"error"} == set(document)
    assert (document["verdict"], document["exit_code"], document["signal"]) == ("IE", None, None)
    assert document["message"] == line.removeprefix("sandbox: ").rstrip("\n") and fragment in document["message"]
    assert document["error"]["error"] == error and document["error"]["message"] == document["message"]


def test_the_ie_document_carries_the_errors_own_fields(run_cli, tmp_path, typo_profile):
    one_line(run_cli("run", "--result", "result.json", "--profile", typo_profile, "--", "/bin/true"))
    error = json.loads((tmp_path / "result.json").read_text())["error"]
    assert error["source"] == typo_profile and any("limts" in problem for problem in error["problems"])


def test_with_json_the_ie_document_goes_to_stdout_too(run_cli, tmp_path, typo_profile):
    ran = run_cli("run", "--json", "--result", "result.json", "--profile", typo_profile, "--", "/bin/true")
    one_line(ran)
    assert json.loads(ran.stdout) == json.loads((tmp_path / "result.json").read_text())
    assert json.loads(ran.stdout)["verdict"] == "IE"


def test_an_exec_error_keeps_its_exit_code_and_its_document(run_cli, tmp_path, monkeypatch):
    def not_found(*_: object) -> Result:
        raise ExecError("no-such-program: not found", 127, errno=2)

    monkeypatch.setattr(supervisor, "run", not_found)
    one_line(run_cli("run", "--result", "result.json", "--profile", "sh", "--", "no-such-program"), 127)
    document = json.loads((tmp_path / "result.json").read_text())
    assert {k: document[k] for k in RUN_KEYS} == {"verdict": "IE", "exit_code": None, "signal": None,
                                                   "message": "no-such-program: not found"}
    assert document["error"] == {"error": "ExecError", "message": "no-such-program: not found", "exit_code": 127,
                                 "errno": 2}


def test_a_result_path_that_cannot_be_used_still_gives_the_json_document(run_cli, tmp_path):
    ran = run_cli("run", "--json", "--result", "no-such-dir/result.json", "--", "/bin/true")
    one_line(ran)
    document = json.loads(ran.stdout)
    assert document["verdict"] == "IE" and document["error"]["what"].startswith("--result")
    assert not (tmp_path / "no-such-dir").exists()


def test_flags_that_do_not_parse_write_nothing(run_cli, tmp_path):
    """The one exemption: before the flags parse, nothing says where a document would go."""
    one_line(run_cli("run", "--result", "result.json", "--frobnicate", "--", "/bin/true"))
    assert not (tmp_path / "result.json").exists()


def test_an_ie_document_that_cannot_be_written_is_said_on_the_same_line(run_cli, tmp_path, typo_profile,
                                                                         monkeypatch):
    def refuse(self: host.ResultFile, text: str) -> None:
        raise UsageError(f"--result {self.path}: cannot write it (No space left on device)")

    monkeypatch.setattr(host.ResultFile, "write", refuse)
    line = one_line(run_cli("run", "--result", "result.json", "--profile", typo_profile, "--", "/bin/true"))
    assert "limts" in line and "No space left on device" in line


def test_an_error_after_the_result_was_written_leaves_the_result(run_cli, tmp_path, monkeypatch):
    """The document is written once: collecting files after it may fail, but the verdict stays the program's."""
    def refuse(self: host.CollectDir, name: str, content: bytes) -> None:
        raise UsageError(f"--collect-dir {self.path}: {name}: not writable")

    monkeypatch.setattr(supervisor, "run", lambda *_: ok_result(files={"out": b"x"}))
    monkeypatch.setattr(host.CollectDir, "write", refuse)
    one_line(run_cli("run", "--result", "result.json", "--collect", "out", "--profile", "sh", "--", "/bin/true"))
    assert json.loads((tmp_path / "result.json").read_text())["verdict"] == "OK"


# --- --cases DIR --result FILE -----------------------------------------------------------------------


def test_cases_that_cannot_be_found_give_an_ie_document_with_no_case(run_cli, tmp_path):
    one_line(run_cli("run", "--result", "result.json", "--cases", "no-such-dir", "--", "/bin/cat"))
    document = json.loads((tmp_path / "result.json").read_text())
    assert CASES_KEYS | {"error"} == set(document)
    assert (document["verdict"], document["cases"], document["skipped"]) == ("IE", [], [])
    assert "no-such-dir" in document["message"] and document["error"]["error"] == "UsageError"


def test_a_setup_error_in_a_later_case_keeps_the_cases_judged_before(run_cli, tmp_path, monkeypatch):
    (tmp_path / "t").mkdir()
    for name in ("1", "2", "10"):
        (tmp_path / "t" / f"{name}.in").write_text(name)
    boxes = iter([ok_result(), SetupError("setting up the box failed at step 'mount namespace': /job changed",
                                          step="mount namespace", errno=18)])

    def run_prepared(*_: object) -> Result:
        outcome = next(boxes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(supervisor, "run_prepared", run_prepared)
    ran = run_cli("run", "--json", "--result", "result.json", "--profile", "sh", "--cases", "t", "--", "/bin/cat")
    one_line(ran)
    document = json.loads((tmp_path / "result.json").read_text())
    assert json.loads(ran.stdout) == document
    assert [case["case"] for case in document["cases"]] == ["1"] and document["skipped"] == ["2", "10"]
    assert (document["verdict"], document["error"]["step"], document["error"]["errno"]) == ("IE", "mount namespace", 18)
