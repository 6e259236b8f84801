"""sandbox.spec: a run as one JSON document (issue 18's contract), checked strictly; its JSON Schema
(profiles/spec.schema.json) says the same rules: what the parser takes, the schema takes."""
from __future__ import annotations

import base64
import json
import os

import jsonschema
import pytest
from conftest import schema_validator

from sandbox.errors import UsageError
from sandbox.profile import shipped_profiles_dir
from sandbox.spec import BatchSpec, CaseSpec, CheckerSpec, GroupSpec, RunSpec, parse_spec, spec_schema

SCHEMA_PATH = os.path.join(shipped_profiles_dir(), "spec.schema.json")
B64 = base64.b64encode(b"\x00\xffbinary").decode()


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    return schema_validator("spec.schema.json")


def test_the_shipped_schema_is_the_code_s():
    with open(SCHEMA_PATH) as f:
        assert json.load(f) == spec_schema(), "run scripts/profile-schema"


def test_every_key_of_a_run_spec_is_read():
    spec = parse_spec({
        "profile": "sh", "argv": ["/bin/cat"], "stdin": {"base64": B64},
        "files": {"a.txt": "text", "run.sh": {"base64": B64, "mode": 0o755}}, "collect": ["out"],
        "limits": {"cpu_time": "1s", "memory": "64M"}, "env": {"LANG": "C"},
    })
    assert spec == RunSpec(profile="sh", argv=("/bin/cat",), stdin=b"\x00\xffbinary",
                           files=(("a.txt", b"text", 0o644), ("run.sh", b"\x00\xffbinary", 0o755)),
                           collect=("out",), limits=(("cpu_time", "1s"), ("memory", "64M")), env=(("LANG", "C"),))
    kwargs = spec.run_kwargs()
    assert kwargs["stdin"] == b"\x00\xffbinary" and kwargs["memory"] == "64M" and kwargs["env"] == {"LANG": "C"}
    assert kwargs["files"]["run.sh"] == (b"\x00\xffbinary", 0o755)


def test_a_script_spec_and_the_defaults():
    spec = parse_spec({"script": "/tmp/x.py", "args": ["1"]})
    assert (spec.profile, spec.script, spec.args, spec.argv) == ("py3", "/tmp/x.py", ("1",), ())
    kwargs = spec.run_kwargs()
    assert kwargs["script"] == "/tmp/x.py" and kwargs["stdin"] == b""  # empty, never the caller's stdin


def test_a_group_and_its_pipes():
    spec = parse_spec({"group": [{"argv": ["./solution"], "stdin": "x"}, {"argv": ["./interactor"]}],
                       "pipes": [{"from": [0, 1], "to": [1, 0]}], "wall_time": "5s"})
    assert isinstance(spec, GroupSpec) and spec.pipes == ((0, 1, 1, 0),) and spec.wall_time == 5.0


def test_a_batch_of_cases_with_a_checker():
    spec = parse_spec({"profile": "native", "argv": ["./solution"], "files": {"solution": {"base64": B64, "mode": 0o755}},
                       "limits": {"cpu_time": "1s"}, "fail_fast": True,
                       "cases": [{"name": "1", "stdin": "1 2\n", "expected": "3\n"}, {"name": "big", "stdin": {"base64": B64}}],
                       "checker": {"name": "check.py", "content": "import sys\n"}})
    assert isinstance(spec, BatchSpec) and spec.fail_fast and spec.compare is None
    assert spec.cases == (CaseSpec("1", b"1 2\n", b"3\n"), CaseSpec("big", b"\x00\xffbinary", None))
    assert spec.checker == CheckerSpec("check.py", b"import sys\n", None)
    assert spec.run.argv == ("./solution",) and "stdin" not in spec.run.run_kwargs(piped_stdin=True)


VALID = [
    {"argv": ["true"]},
    {"profile": "/etc/box.yaml", "script": "s.py", "args": []},
    {"argv": ["x"], "stdin": "", "files": {}, "collect": [], "limits": {"wall_time": 2.5, "pids": 8}, "env": {}},
    {"group": [{"argv": ["a"]}, {"argv": ["b"]}], "pipes": [{"from": [0, 1], "to": [1, 0]}, {"from": [1, 1], "to": [0, 0]}]},
    {"argv": ["a"], "cases": [{"name": "1"}], "compare": "exact", "fail_fast": False},
    {"script": "s.py", "cases": [{"name": "1", "stdin": {"base64": B64}, "expected": None}],
     "checker": {"content": {"base64": B64}, "profile": "native"}, "collect": ["out"]},
]


@pytest.mark.parametrize("document", VALID)
def test_what_the_parser_takes_the_schema_takes(validator, document):
    parse_spec(document)
    validator.validate(document)


INVALID = [
    ([], "expected a JSON object"),
    ({}, "argv (a list) or script"),
    ({"argv": ["a"], "script": "s.py"}, "not both"),
    ({"argv": []}, "non-empty list"),
    ({"argv": "ls -l"}, "list of strings"),
    ({"argv": ["a"], "args": ["b"]}, "goes with script"),
    ({"argv": ["a"], "profle": "sh"}, "unknown key(s) profle"),
    ({"argv": ["a"], "stdin": {"base64": "***"}}, "not base64"),
    ({"argv": ["a"], "stdin": {"base64": B64, "mode": 1}}, "expected a string or"),
    ({"argv": ["a"], "files": {"x": {"base64": B64, "mode": 0o1777}}}, "permission bits"),
    ({"argv": ["a"], "files": {"x": 3}}, "expected a string or"),
    ({"argv": ["a"], "limits": {"swap": "1G"}}, "unknown key(s) swap"),
    ({"argv": ["a"], "env": {"A": 1}}, "object of strings"),
    ({"argv": ["a"], "collect": "out"}, "list of strings"),
    ({"group": []}, "non-empty list"),
    ({"group": [{"argv": ["a"]}], "pipes": [{"from": [0, 1], "to": [1, 0]}]}, "no program 1"),
    ({"group": [{"argv": ["a"]}, {"argv": ["b"]}], "pipes": [{"from": [0, 0], "to": [1, 0]}]}, "fd 0"),
    ({"group": [{"argv": ["a"]}, {"argv": ["b"]}], "pipes": [{"from": [0, 1], "to": [1, 1]}]}, "fd 1"),
    ({"group": [{"argv": ["a"]}, {"argv": ["b"], "stdin": "x"}], "pipes": [{"from": [0, 1], "to": [1, 0]}]},
     "feeds its fd 0"),
    ({"group": [{"argv": ["a"]}, {"argv": ["b"]}], "argv": ["c"]}, "unknown key(s) argv"),
    ({"group": [{"argv": ["a"]}], "wall_time": "soon"}, "limit wall_time"),
    ({"argv": ["a"], "cases": []}, "spec.cases: expected a non-empty list"),
    ({"argv": ["a"], "cases": [{"name": "1"}], "stdin": "x"}, "spec.stdin: a batch's cases each have their own"),
    ({"argv": ["a"], "cases": [{"stdin": "x"}]}, "spec.cases[0].name: expected a non-empty string"),
    ({"argv": ["a"], "cases": [{"name": "1", "answer": "x"}]}, "spec.cases[0]: unknown key(s) answer"),
    ({"argv": ["a"], "cases": [{"name": "1"}, {"name": "1"}]}, "is given twice"),
    ({"argv": ["a"], "cases": [{"name": "1"}], "compare": "fuzzy"}, "spec.compare: expected one of lines, exact"),
    ({"argv": ["a"], "cases": [{"name": "1"}], "compare": "exact", "checker": {"content": "x"}}, "not both"),
    ({"argv": ["a"], "cases": [{"name": "1"}], "checker": {"name": "c.py"}}, "spec.checker: expected"),
    ({"argv": ["a"], "cases": [{"name": "1"}], "checker": {"name": "../c", "content": "x"}}, "without /"),
    ({"argv": ["a"], "cases": [{"name": "1"}], "fail_fast": 1}, "spec.fail_fast: expected true or false"),
    ({"cases": [{"name": "1"}]}, "argv (a list) or script"),
]


@pytest.mark.parametrize("document, message", INVALID)
def test_what_the_parser_refuses_the_schema_refuses(validator, document, message):
    with pytest.raises(UsageError) as refused:
        parse_spec(document)
    assert message in refused.value.message and "\n" not in refused.value.message
    if message not in ("not base64", "no program 1", "feeds its fd 0", "is given twice"):  # beyond a JSON Schema
        assert list(validator.iter_errors(document)), f"the schema takes {document}"


def test_a_pipe_graph_that_feeds_one_stdin_twice_is_refused():
    with pytest.raises(UsageError, match="more than one pipe feeds fd 0 of program 2"):
        parse_spec({"group": [{"argv": ["a"]}, {"argv": ["b"]}, {"argv": ["c"]}],
                    "pipes": [{"from": [0, 1], "to": [2, 0]}, {"from": [1, 1], "to": [2, 0]}]})
