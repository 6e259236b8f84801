"""What `sandbox` says about itself (issue 14, point 8): argparse's errors with our prefix once, --version,
the usage for a bare `sandbox`, the hint when the box cannot see the caller's program, and the note a
run as root gets."""
from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import subprocess
import sys

import pytest

from sandbox import cli, supervisor
from sandbox.errors import ExecError, UsageError
from sandbox.plan import Request, make_plan
from sandbox.hostside import HostSide
from sandbox.profile import load_profile
from sandbox.result import Result, Verdict

COMMANDS = ("run", "profiles", "profile", "doctor", "ps", "exec", "freeze", "thaw", "kill")


@pytest.mark.parametrize("args, line", [
    (["run", "--frobnicate", "--", "/bin/true"], "sandbox: unrecognized arguments: --frobnicate\n"),
    (["profile", "list", "extra"], "sandbox: unrecognized arguments: extra\n"),
    (["profile"], "sandbox: profile: the following arguments are required: action\n"),
    (["doctor", "--nope"], "sandbox: unrecognized arguments: --nope\n"),
])
def test_argparse_errors_carry_our_prefix_once(run_cli, args, line):
    ran = run_cli(*args)
    assert (ran.returncode, ran.stdout, ran.stderr) == (125, "", line)


def test_an_unknown_command_is_named_once(run_cli):
    ran = run_cli("frobnicate")
    assert ran.returncode == 125 and ran.stderr.startswith("sandbox: argument command: invalid choice: 'frobnicate'")
    assert "sandbox: sandbox:" not in ran.stderr


def test_version_prints_the_packages_version_and_exits_0(run_cli):
    ran = run_cli("--version")
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, f"sandbox {importlib.metadata.version('sandbox')}\n", "")


def test_a_bare_sandbox_prints_the_usage_and_the_commands_to_stderr_and_exits_125(run_cli):
    ran = run_cli()
    assert ran.returncode == 125 and ran.stdout == ""
    assert ran.stderr.startswith("usage: sandbox ")
    for command in COMMANDS:
        assert f"\n    {command} " in ran.stderr
    assert "--version" in ran.stderr and "Traceback" not in ran.stderr


def test_the_real_process_prints_its_version_and_its_usage(tmp_path):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "sandbox", *args], cwd=tmp_path, capture_output=True, text=True,
                              timeout=30)

    version = run("--version")
    assert (version.returncode, version.stdout, version.stderr) == (
        0, f"sandbox {importlib.metadata.version('sandbox')}\n", "")
    bare = run()
    assert (bare.returncode, bare.stdout) == (125, "") and bare.stderr.startswith("usage: sandbox ")


# --- a program the box cannot see ----------------------------------------------------------------------


NOT_FOUND = ExecError("./prog: program not found in the box", 127, errno=2)


@pytest.mark.parametrize("program, present, request_extra, hinted", [
    ("./prog", False, {}, True),                           # relative: the box never sees the caller's cwd
    ("bin/prog", False, {}, True),
    ("prog", True, {}, True),                              # a bare name, and the caller's cwd has it
    ("prog", False, {}, False),                            # a bare name nobody has: PATH says it all
    ("/opt/prog", False, {}, False),                       # absolute: about the box's file system
    ("./prog", True, {"workdir": "."}, False),             # the caller showed a directory already
    ("./prog", True, {"overlay": (".", None)}, False),
    ("./prog", True, {"files": (("prog", 0o755, b""),)}, False),
])
def test_program_not_found_says_the_box_does_not_see_the_callers_directory(
        tmp_path, monkeypatch, program, present, request_extra, hinted):
    monkeypatch.chdir(tmp_path)
    if present:
        (tmp_path / os.path.basename(program)).write_text("#!/bin/sh\n")
    error = cli._not_in_the_box(NOT_FOUND, Request(program=(program, "arg"), **request_extra))
    assert isinstance(error, ExecError) and (error.exit_code, error.errno) == (127, 2)
    assert error.message.startswith(NOT_FOUND.message)
    assert ("does not see your current directory" in error.message) == hinted
    if hinted:
        copy = os.path.normpath(program)
        assert "--workdir ." in error.message and f"then run ./{copy}" in error.message
        assert f"--file {copy if '/' not in copy else f'{copy}:{copy}'}," in error.message


def test_a_program_that_cannot_be_executed_gets_no_hint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    denied = ExecError("./prog: not executable", 126, errno=13)
    assert cli._not_in_the_box(denied, Request(program=("./prog",))) is denied


def test_the_cli_adds_the_hint_to_what_it_reports(run_cli, monkeypatch, tmp_path):
    def run(profile, request, *rest):
        raise NOT_FOUND

    monkeypatch.setattr(supervisor, "run", run)
    ran = run_cli("run", "--profile", "sh", "--", "./prog")
    assert ran.returncode == 127
    assert ran.stderr.startswith("sandbox: ./prog: program not found in the box (the box does not see your current")
    assert len(ran.stderr.splitlines()) == 1


# --- root ----------------------------------------------------------------------------------------------


def result_for(uid: int, **limits: object) -> Result:
    """A Result whose enforced_by is what a plan for a caller of `uid` says (no cgroup)."""
    profile = dataclasses.replace(load_profile("sh"), mounts=())
    plan = make_plan(profile, Request(program=("/bin/true",), limits=limits), HostSide(), uid, 1000, frozenset())
    return Result(Verdict.OK, 0, None, None, 0.0, 0.0, 0.0, 0.0, None, None, False,
                  {name: mechanism.value for name, mechanism in plan.enforced_by})


@pytest.mark.parametrize("uid, limits, noted", [(0, {}, True), (1000, {}, False), (0, {"pids": None}, False)])
def test_a_run_as_root_says_once_that_it_has_no_process_limit(run_cli, monkeypatch, uid, limits, noted):
    monkeypatch.setattr(supervisor, "run", lambda *args: result_for(uid, **limits))
    ran = run_cli("run", "--json", "--profile", "sh", "--", "/bin/true")
    assert ran.returncode == 0 and ran.stdout.startswith("{")  # stdout stays the document
    notes = [line for line in ran.stderr.splitlines() if "root" in line]
    if noted:
        assert notes == ["sandbox: note: running as root, the pids limit is not enforced: the kernel exempts uid 0 "
                         "from RLIMIT_NPROC; a delegated cgroup (--cgroup-root) or an ordinary user gets it enforced"]
    else:
        assert notes == [] and ran.stderr == ""


def test_the_api_refuses_a_variable_name_no_shell_could_use():
    profile = dataclasses.replace(load_profile("sh"), mounts=())
    for name in ("BAD NAME", "1X", "A=B", ""):
        with pytest.raises(UsageError, match="not a variable name"):
            make_plan(profile, Request(program=("/bin/true",), env=((name, "1"),)), HostSide(), 1000, 1000, frozenset())
    plan = make_plan(profile, Request(program=("/bin/true",), env=(("_OK1", "1"),)), HostSide(), 1000, 1000, frozenset())
    assert ("_OK1", "1") in plan.env
