"""The SandboxError tree: structured fields a judge can log and branch on."""
from __future__ import annotations

import json

import pytest

from sandbox import ExecError, HostError, ProfileError, SandboxError, SetupError, UsageError, load_profile
from sandbox.supervisor import _setup_error


def test_every_error_is_a_sandbox_error_with_exit_code_125_except_exec_errors():
    for cls in (UsageError, ProfileError, HostError, SetupError):
        assert issubclass(cls, SandboxError)
    assert UsageError("x").exit_code == 125
    assert ExecError("not found", 127, errno=2).exit_code == 127


def test_a_profile_error_names_the_file_and_every_problem(write_profile):
    path = write_profile("limits: {memory: lots, swap: 1G}\nnet: internet\n", "bad.yaml")
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    error = caught.value
    assert error.source == path
    assert len(error.problems) >= 3 and any(p.startswith("limits.memory") for p in error.problems)
    document = json.loads(json.dumps(error.to_dict()))
    assert document["error"] == "ProfileError" and document["source"] == path
    assert document["problems"] == error.problems


def test_a_failed_setup_step_carries_the_step_and_errno():
    error = _setup_error({"step": "mount namespace", "errno": 2, "message": "bind /x -> /x: no such file"})
    assert isinstance(error, SetupError)
    assert (error.step, error.errno) == ("mount namespace", 2)
    assert error.to_dict() == {"error": "SetupError", "message": error.message, "step": "mount namespace", "errno": 2}


def test_a_refused_user_namespace_is_a_host_error_naming_the_step():
    error = _setup_error({"step": "user namespace", "errno": 1, "message": "clone: EPERM"})
    assert isinstance(error, HostError) and error.step == "user namespace" and error.errno == 1


def test_an_exec_error_carries_the_errno():
    error = ExecError("./a.out: not executable", 126, errno=13)
    assert error.errno == 13 and error.to_dict()["errno"] == 13
