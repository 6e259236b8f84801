"""`sandbox` user errors: exit 125, one line on stderr starting "sandbox:", no traceback.

Every case here fails before a box is started, so none needs namespaces or root.  They call
cli.main() in this process (a `python -m sandbox` per case cost ~17 s of the unit tier's 10); a
few at the end start the real CLI to check the process boundary itself.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sandbox.profile import list_shipped, shipped_profiles_dir

EXIT_SANDBOX_ERROR = 125


def run_process(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args], cwd=cwd, capture_output=True, text=True, timeout=30,
    )


def assert_user_error(proc, *fragments: str) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == EXIT_SANDBOX_ERROR, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert proc.stderr.endswith("\n")
    (line,) = lines
    assert line.startswith("sandbox:") and "internal error" not in line, line
    for fragment in fragments:
        assert fragment in line, line
    assert proc.stdout == ""
    return line


@pytest.fixture
def bad_profile(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("seccomp: {allow: [read]}\nlimts: {memory: 64M}\n")
    return str(path)


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["run", "--frobnicate", "--", "/bin/true"], ["--frobnicate"]),
        (["run", "--memory", "12Q", "--", "/bin/true"], ["memory", "12Q"]),
        (["run", "--cpu-time", "soon", "--", "/bin/true"], ["cpu_time", "soon"]),
        (["run", "--pids", "0", "--", "/bin/true"], ["pids"]),
        (["run", "--net", "host", "--", "/bin/true"], ["--net"]),
        (["run", "missing_script.py"], ["missing_script.py"]),
        (["run", "--profile", "no-such-profile", "--", "/bin/true"], ["no-such-profile"]),
        (["run", "--profile", "./missing.yaml", "--", "/bin/true"], ["missing.yaml"]),
        (["run", "--bind", "/no/such/source", "--", "/bin/true"], ["/no/such/source"]),
        (["run", "--workdir", "/no/such/dir", "--", "/bin/true"], ["/no/such/dir"]),
        (["run", "--env", "=x", "--", "/bin/true"], ["--env"]),
        (["run"], ["nothing to run"]),
        (["run", "--"], ["nothing to run"]),
        (["frobnicate"], ["frobnicate"]),
        # --cases DIR and its companions
        (["run", "--cases", "no-such-dir", "--", "/bin/true"], ["cases directory no-such-dir", "No such file"]),
        (["run", "--cases", ".", "--", "/bin/true"], ["cases directory .", "no NAME.in files"]),
        (["run", "--cases", ".", "--stdin", "in.txt", "--", "/bin/cat"], ["--stdin cannot go with --cases"]),
        (["run", "--cases", ".", "--stdout", "out.txt", "--", "/bin/cat"], ["--stdout cannot go with --cases"]),
        (["run", "--cases", ".", "--stderr", "err.txt", "--", "/bin/cat"], ["--stderr cannot go with --cases"]),
        (["run", "--fail-fast", "--", "/bin/true"], ["--fail-fast goes with --cases"]),
        (["run", "--compare", "exact", "--", "/bin/true"], ["--compare goes with --cases"]),
        (["run", "--cases", ".", "--compare", "fuzzy", "--", "/bin/true"], ["--compare", "fuzzy"]),
        (["run", "--checker", "check.py", "--", "/bin/true"], ["--checker goes with --cases"]),
        (["run", "--checker-profile", "py3", "--", "/bin/true"], ["--checker-profile goes with --checker"]),
        (["run", "--cases", ".", "--checker-profile", "py3", "--", "/bin/true"], ["--checker-profile goes with --checker"]),
        (["run", "--cases", ".", "--checker", "c.py", "--compare", "exact", "--", "/bin/true"],
         ["--compare cannot go with --checker"]),
        # --file and --collect
        (["run", "--file", "missing.txt", "--", "/bin/true"], ["--file missing.txt", "no such file"]),
        (["run", "--file", ".", "--", "/bin/true"], ["--file .", "not a regular file"]),
        (["run", "--collect-dir", ".", "--", "/bin/true"], ["--collect-dir goes with --collect"]),
        (["run", "--collect-limit", "1K", "--", "/bin/true"], ["--collect-limit goes with --collect"]),
        (["run", "--collect", "out", "--collect-dir", "no-such-dir", "--", "/bin/true"],
         ["--collect-dir no-such-dir", "no such file or directory"]),
        (["run", "--collect", "out", "--collect-limit", "12Q", "--", "/bin/true"], ["--collect-limit", "12Q"]),
        (["run", "--collect", "../out", "--", "/bin/true"], ["'../out'"]),
        (["run", "--collect", "out", "--workdir", ".", "--", "/bin/true"], ["host directory bound read-only"]),
        # a variable name is a POSIX name; 0 is no limit anywhere
        (["run", "--env", "BAD NAME=1", "--", "/bin/true"], ["--env 'BAD NAME'", "not a variable name"]),
        (["run", "--env", "1X=1", "--", "/bin/true"], ["--env '1X'", "not a variable name"]),
        (["run", "--env", "A-B", "--", "/bin/true"], ["--env 'A-B'", "not a variable name"]),
        (["run", "--memory", "0", "--", "/bin/true"], ["limit memory: 0 is no limit: write unlimited for none"]),
        (["run", "--cpu-time", "0", "--", "/bin/true"], ["limit cpu_time: 0 is no limit"]),
        (["run", "--wall-time", "0s", "--", "/bin/true"], ["limit wall_time: 0 is no limit"]),
        (["run", "--pids", "0", "--", "/bin/true"], ["limit pids: 0 is no limit"]),
        (["run", "--shm-size", "0M", "--", "/bin/true"], ["limit shm_size: 0 is no limit"]),
        (["run", "--tmp-size", "0", "--", "/bin/true"], ["limit tmp_size: 0 is no limit"]),
        (["run", "--stack", "0", "--", "/bin/true"], ["limit stack: 0 is no limit"]),
        (["run", "--memory", "64iB", "--", "/bin/true"], ["limit memory", "64MiB", "binary"]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_user_error(run_cli, args, fragments):
    assert_user_error(run_cli(*args), *fragments)


def test_a_cases_directory_with_an_orphan_expected_output(run_cli, tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "1.in").write_text("")
    (tmp_path / "t" / "2.out").write_text("")
    assert_user_error(run_cli("run", "--cases", "t", "--", "/bin/cat"), "cases directory t", "2.out has no 2.in")


def test_a_missing_checker_or_checker_profile(run_cli, tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "1.in").write_text("")
    (tmp_path / "c.py").write_text("")
    assert_user_error(run_cli("run", "--cases", "t", "--checker", "missing.py", "--", "/bin/cat"),
                      "checker missing.py")
    assert_user_error(run_cli("run", "--cases", "t", "--checker", "c.py", "--checker-profile", "nope", "--",
                              "/bin/cat"), "nope")


def test_the_same_file_name_twice(run_cli, tmp_path):
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    assert_user_error(run_cli("run", "--file", "a.txt", "--file", "b.txt:a.txt", "--", "/bin/true"),
                      "'a.txt'", "more than once")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write a directory of mode 0500: nothing to refuse")
def test_an_unwritable_collect_dir(run_cli, tmp_path):
    (tmp_path / "ro").mkdir(mode=0o500)
    assert_user_error(run_cli("run", "--collect", "x", "--collect-dir", "ro", "--", "/bin/true"),
                      "--collect-dir ro", "not writable")


def test_profile_file_with_an_unknown_key(run_cli, tmp_path, bad_profile):
    line = assert_user_error(run_cli("run", "--profile", bad_profile, "--", "/bin/true"), "limts")
    assert bad_profile in line  # names the file ...
    assert "unknown key" in line  # ... and what is wrong


def test_profile_file_with_several_problems_is_still_one_line(run_cli, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("colour: blue\nlimits: {memory: 12Q}\nnet: host\nseccomp: {allow: ['@nope']}\n")
    line = assert_user_error(run_cli("run", "--profile", str(path), "--", "/bin/true"))
    for key in ("colour", "limits.memory", "net", "@nope"):
        assert key in line


def test_profile_with_an_unknown_syscall(run_cli, tmp_path):
    path = tmp_path / "nosys.yaml"
    path.write_text("seccomp: {allow: [read, not_a_syscall]}\n")
    assert_user_error(run_cli("run", "--profile", str(path), "--", "/bin/true"), "not_a_syscall")


def test_invalid_yaml_profile(run_cli, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("limits: [1, 2\n")
    assert_user_error(run_cli("run", "--profile", str(path), "--", "/bin/true"), "YAML")


def test_script_outside_the_workdir(run_cli, tmp_path):
    (tmp_path / "w").mkdir()
    (tmp_path / "outside.py").write_text("print(1)\n")
    assert_user_error(run_cli("run", "--workdir", "w", "outside.py"), "outside.py")


def test_profiles_command_lists_the_shipped_profiles(run_cli, tmp_path):
    proc = run_cli("profiles")
    assert proc.returncode == 0, proc.stderr
    names = proc.stdout.split()
    assert "py3" in names and "sh" in names and "syscalls" not in names


# --- sandbox profile list | show | check ------------------------------------------------------------


def test_profile_list_names_every_shipped_profile_with_its_description(run_cli, tmp_path):
    proc = run_cli("profile", "list")
    assert proc.returncode == 0, proc.stderr
    names = [line.split()[0] for line in proc.stdout.splitlines()]
    assert "py3" in names and "sh" in names and "syscalls" not in names
    assert all(len(line.split(maxsplit=1)) == 2 for line in proc.stdout.splitlines())


def test_profile_show_prints_the_resolved_profile_as_json(run_cli, tmp_path):
    proc = run_cli("profile", "show", "py3")
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["name"] == "py3" and shown["limits"]["memory"] > 0
    assert any(rule["name"] == "read" for rule in shown["seccomp"]["allow"])  # groups resolved to syscalls


def test_profile_check_accepts_a_good_file(run_cli, tmp_path, minimal_profile_path):
    proc = run_cli("profile", "check", minimal_profile_path)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok (profile minimal)"), proc.stderr


def test_profile_check_rejects_a_bad_file_in_one_line(run_cli, tmp_path, bad_profile):
    assert_user_error(run_cli("profile", "check", bad_profile), "typo.yaml", "limts")


def test_profile_check_rejects_an_unknown_syscall(run_cli, tmp_path, write_profile, minimal_profile_text):
    path = write_profile(minimal_profile_text.replace("kill: [ptrace]", "kill: [no_such_call]"), "unknown.yaml")
    assert_user_error(run_cli("profile", "check", path), "unknown.yaml", "no_such_call")


def test_profile_needs_an_action(run_cli, tmp_path):
    assert_user_error(run_cli("profile"), "profile")


@pytest.mark.parametrize("name", list_shipped())
def test_profile_check_accepts_every_shipped_profile(run_cli, tmp_path, name):
    path = os.path.join(shipped_profiles_dir(), f"{name}.yaml")
    proc = run_cli("profile", "check", path)
    assert (proc.returncode, proc.stdout.strip(), proc.stderr) == (0, f"{path}: ok (profile {name})", "")


# --- the real process boundary: `python -m sandbox`, its os._exit and its streams -------------------------


@pytest.mark.parametrize("args, fragments", [
    (["run", "--frobnicate", "--", "/bin/true"], ["--frobnicate"]),                   # argparse's own error
    (["run", "--profile", "typo.yaml", "--", "/bin/true"], ["typo.yaml", "limts"]),   # a ProfileError
    (["run", "missing_script.py"], ["missing_script.py"]),                            # a PathError, host side
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_a_user_error_ends_the_real_process_with_one_line_and_125(tmp_path, bad_profile, args, fragments):
    assert_user_error(run_process(*args, cwd=tmp_path), *fragments)


def test_the_real_process_prints_what_a_command_prints(tmp_path):
    proc = run_process("profiles", cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.split() == list_shipped()
