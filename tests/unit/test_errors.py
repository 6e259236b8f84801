"""The SandboxError tree: structured fields a judge can log and branch on."""
from __future__ import annotations

import concurrent.futures
import importlib
import json
import multiprocessing
import pickle
import pkgutil

import pytest

import sandbox
from sandbox import ExecError, HostError, ProfileError, SandboxError, SetupError, UsageError, load_profile
from sandbox.errors import _StepError
from sandbox.hostpaths import PathError
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


# --- errors cross process boundaries whole: pickle and to_dict() ---------------------------------------

# Arguments an example of each error is built from, keyed by the class whose __init__ takes them; a
# subclass that keeps its parent's __init__ is built from its parent's (so CgroupError(HostError) would
# be tested with no change here).  A subclass with an __init__ of its own needs an entry.
EXAMPLES: dict[type, tuple[tuple, dict]] = {
    SandboxError: (("the sandbox failed",), {"detail": "why", "count": 3}),
    ProfileError: (("bad.yaml", ["limits.memory: expected a size, got 'lots'", "net: expected none or loopback"]), {}),
    _StepError: (("setting up the box failed at step 'mount namespace'",), {"step": "mount namespace", "errno": 2}),
    ExecError: (("./a.out: not executable",), {"exit_code": 126, "errno": 13}),
    PathError: (("--result", "/no/such/dir/result.json", "no such file or directory"), {"errno": 2}),
}


def _every_sandbox_error() -> list[type]:
    """SandboxError and every subclass of it in the package (each module imported, so that one defined
    anywhere, as hostpaths.PathError, is found)."""
    for module in pkgutil.walk_packages(sandbox.__path__, "sandbox."):
        if not module.name.endswith("__main__"):  # which would run the CLI
            importlib.import_module(module.name)
    found, todo = [], [SandboxError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda cls: cls.__qualname__)


def _example(cls: type) -> SandboxError:
    owner = next(c for c in cls.__mro__ if "__init__" in c.__dict__)
    assert owner in EXAMPLES, f"{cls.__qualname__} has an __init__ of its own: give EXAMPLES an entry for it"
    args, kwargs = EXAMPLES[owner]
    return cls(*args, **kwargs)


def test_the_error_tree_is_found_whole():
    names = {cls.__name__ for cls in _every_sandbox_error()}
    assert {"UsageError", "ProfileError", "HostError", "SetupError", "ExecError", "PathError"} <= names


@pytest.mark.parametrize("cls", _every_sandbox_error(), ids=lambda cls: cls.__qualname__)
def test_every_error_survives_pickling_whole(cls):
    error = _example(cls)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        again = pickle.loads(pickle.dumps(error, protocol))
        assert type(again) is cls
        assert (again.args, str(again), again.message) == (error.args, str(error), error.message)
        assert again.__dict__ == error.__dict__ and again.exit_code == error.exit_code
        assert again.to_dict() == error.to_dict()


@pytest.mark.parametrize("cls", _every_sandbox_error(), ids=lambda cls: cls.__qualname__)
def test_every_error_is_a_json_document_with_its_type_message_and_fields(cls):
    error = _example(cls)
    document = error.to_dict()
    assert json.loads(json.dumps(document)) == document
    assert (document["error"], document["message"]) == (cls.__name__, error.message)
    own = {name: value for name, value in vars(error).items() if name not in ("message", "fields")}
    assert own.items() <= document.items(), "every attribute of the error is in its document"


def test_an_exec_error_says_which_exit_code_it_ends_the_cli_with():
    assert ExecError("no-such-program: not found", 127, errno=2).to_dict() == {
        "error": "ExecError", "message": "no-such-program: not found", "exit_code": 127, "errno": 2}


def test_a_path_error_names_the_flag_the_path_and_the_reason():
    error = PathError("--stdin", "in.txt", "no such file or directory", 2)
    assert error.to_dict() == {"error": "PathError", "message": "--stdin in.txt: no such file or directory",
                               "what": "--stdin", "path": "in.txt", "reason": "no such file or directory", "errno": 2}


def test_an_error_raised_in_a_worker_process_arrives_whole():
    """The boundary that lost them: a process pool pickles the worker's exception back to the caller."""
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        with pytest.raises(ProfileError) as caught:
            pool.submit(_raise_a_profile_error).result(timeout=30)
    assert (caught.value.source, caught.value.problems) == ("bad.yaml", ["net: expected none or loopback"])


def _raise_a_profile_error() -> None:
    raise ProfileError("bad.yaml", ["net: expected none or loopback"])
