"""`sandbox run --spec FILE`: one JSON document in, the result JSON out (issue 18's contract), and the
API's run_spec taking the same document."""
from __future__ import annotations

import base64
import json
from pathlib import Path

from boxrun import sandbox

PROGRAM = "import sys; data = sys.stdin.read(); open('out.txt', 'w').write(data.upper()); print(open('in.txt').read())"


def spec_run(tmp_path, document, *flags: str):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(document))
    completed = sandbox("run", "--spec", str(path), *flags, timeout=60)
    return completed, (json.loads(completed.stdout) if completed.stdout.strip() else None)


def test_a_spec_runs_with_its_stdin_files_env_and_collects_as_base64(tmp_path):
    completed, result = spec_run(tmp_path, {
        "profile": "py3", "argv": ["python3", "-c", PROGRAM + "; import os; print(os.environ['GREETING'])"],
        "stdin": "shout", "files": {"in.txt": {"base64": base64.b64encode(b"from a file").decode(), "mode": 0o600}},
        "collect": ["out.txt"], "limits": {"cpu_time": "2s", "memory": "256M"}, "env": {"GREETING": "hi"},
    })
    assert completed.returncode == 0, completed.stderr.decode()
    assert result["verdict"] == "OK" and result["stdout"] == "from a file\nhi\n"
    assert base64.b64decode(result["collected"]["out.txt"]) == b"SHOUT"
    assert result["files"] == {"out.txt": 5} and result["limits"]["cpu_time"] == 2.0


def test_a_spec_on_stdin_and_its_limits_give_the_verdict_and_the_exit_code(tmp_path):
    document = {"profile": "py3", "argv": ["python3", "-c", "while True: pass"], "limits": {"cpu_time": "0.5s"}}
    completed = sandbox("run", "--spec", "-", input=json.dumps(document).encode(), timeout=60)
    result = json.loads(completed.stdout)
    assert result["verdict"] == "TLE" and completed.returncode == 137
    failed = sandbox("run", "--spec", "-", input=json.dumps({"profile": "sh", "argv": ["/bin/sh", "-c", "exit 3"]}).encode())
    assert failed.returncode == 3 and json.loads(failed.stdout)["exit_code"] == 3


def test_a_bad_spec_is_one_line_and_125(tmp_path):
    for document, said in [({"argv": ["true"], "profle": "sh"}, "unknown key(s) profle"),
                           ({"argv": ["true"], "limits": {"memory": "lots"}}, "limit memory")]:
        completed, result = spec_run(tmp_path, document)
        assert completed.returncode == 125 and said in completed.stderr.decode()
        assert completed.stderr.decode().count("\n") == 1 and result["verdict"] == "IE"
    (tmp_path / "broken.json").write_text("{not json")
    broken = sandbox("run", "--spec", str(tmp_path / "broken.json"))
    assert broken.returncode == 125 and "not JSON" in broken.stderr.decode()


def test_spec_refuses_what_the_document_has_a_key_for(tmp_path):
    (tmp_path / "spec.json").write_text(json.dumps({"argv": ["true"]}))
    for extra in (["--memory", "64M"], ["--", "true"], ["script.py"]):
        completed = sandbox("run", "--spec", str(tmp_path / "spec.json"), *extra)
        assert completed.returncode == 125 and "--spec" in completed.stderr.decode(), extra


def test_the_api_takes_the_same_document(tmp_path):
    from sandbox import run_spec

    result = run_spec({"profile": "sh", "argv": ["/bin/sh", "-c", "echo made > made; cat"], "stdin": "x",
                       "collect": ["made"]})
    assert result["verdict"] == "OK" and result["stdout"] == "x"
    assert base64.b64decode(result["collected"]["made"]) == b"made\n"


def test_a_group_spec_joins_an_interactive_solution_and_its_interactor(tmp_path):
    """The contract's group: fd 1 of each feeds fd 0 of the other; results in the group's order."""
    examples = Path(__file__).resolve().parents[2] / "examples" / "judge" / "interactive"
    solution = (examples / "solutions" / "accepted.py").read_text()
    completed, document = spec_run(tmp_path, {
        "group": [{"profile": "py3", "argv": ["python3", "solution.py"], "files": {"solution.py": solution},
                   "limits": {"cpu_time": "1s"}},
                  {"profile": "py3", "script": str(examples / "interactor.py"), "args": ["4242"]}],
        "pipes": [{"from": [0, 1], "to": [1, 0]}, {"from": [1, 1], "to": [0, 0]}], "wall_time": "10s",
    })
    assert completed.returncode == 0, completed.stderr.decode()
    solution_result, interactor_result = document["results"]
    assert solution_result["verdict"] == "OK" and interactor_result["verdict"] == "OK"
    assert "4242 found" in interactor_result["stderr"] and solution_result["stdout"] is None  # it went to the pipe
    wrong = (examples / "solutions" / "wrong.py").read_text()
    completed, document = spec_run(tmp_path, {
        "group": [{"profile": "py3", "argv": ["python3", "s.py"], "files": {"s.py": wrong}},
                  {"profile": "py3", "script": str(examples / "interactor.py"), "args": ["4242"]}],
        "pipes": [{"from": [0, 1], "to": [1, 0]}, {"from": [1, 1], "to": [0, 0]}], "wall_time": "10s",
    })
    assert completed.returncode == 1 and document["results"][1]["exit_code"] == 1  # the interactor's "wrong"


DIVIDE = Path(__file__).resolve().parents[2] / "examples" / "judge" / "divide"
SOLUTION = "a, b = map(int, input().split()); print(a / b)"


def test_a_batch_spec_runs_each_case_and_its_checker_from_the_document(tmp_path):
    """A batch carries the program, every case and the checker's own bytes; each case is judged by the
    checker in a box of its own, as `--cases DIR --checker` judges; the document is --cases' --json."""
    checker = (DIVIDE / "checker.py").read_text()
    document = {"profile": "py3", "argv": ["python3", "solution.py"], "files": {"solution.py": SOLUTION},
                "limits": {"cpu_time": "2s"},
                "cases": [{"name": "1", "stdin": "1 3\n", "expected": "0.333333333\n"},
                          {"name": "2", "stdin": "2 0\n", "expected": "0\n"},
                          {"name": "3", "stdin": "10 4\n", "expected": "2.5\n"}],
                "checker": {"name": "checker.py", "content": checker}}
    completed, result = spec_run(tmp_path, document)
    assert completed.returncode == 1, completed.stderr.decode()
    assert [(c["case"], c["verdict"]) for c in result["cases"]] == [("1", "OK"), ("2", "RE"), ("3", "OK")]
    assert result["verdict"] == "RE" and result["skipped"] == []
    assert result["cases"][0]["checker_message"] is not None and result["cases"][1]["checker_message"] is None
    wrong = {**document, "files": {"solution.py": "input(); print(0.3)"}, "fail_fast": True}
    completed, result = spec_run(tmp_path, wrong)
    assert completed.returncode == 1 and result["verdict"] == "WA" and result["skipped"] == ["2", "3"]
    assert "checker: wrong answer" in result["cases"][0]["message"]


def test_a_batch_spec_compares_without_a_checker_and_passes_with_exit_0(tmp_path):
    from sandbox import run_spec

    document = {"profile": "py3", "argv": ["python3", "-c", "print(sum(map(int, input().split())))"],
                "cases": [{"name": "a", "stdin": "1 2", "expected": "3  \n\n"}, {"name": "b", "stdin": "5 5"}],
                "compare": "lines"}
    completed, result = spec_run(tmp_path, document)
    assert completed.returncode == 0 and result["verdict"] == "OK", completed.stderr.decode()
    assert run_spec({**document, "compare": "exact"})["cases"][0]["verdict"] == "WA"
