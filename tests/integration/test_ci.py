"""The CI profile on a real project: tests that try to leave the box fail, the host stays as it was."""
from __future__ import annotations

import os
import pty
import select
import shutil
import socket
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from boxrun import SANDBOX, sandbox

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ci_project"
VENV = sys.prefix  # the test user's virtualenv, which holds pytest: bound read-only into the box
PYTEST = [os.path.join(VENV, "bin", "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"]


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>" for p in sorted(root.rglob("*"))}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(EXAMPLE, copy)
    return copy


@pytest.fixture
def listener():
    """A host TCP listener the box must not reach."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        yield server


def test_escaping_tests_fail_inside_the_ci_profile_and_the_host_is_unchanged(project, listener, tmp_path):
    before = snapshot(project)
    escape_file = tmp_path / "escaped.txt"
    address = "127.0.0.1:%d" % listener.getsockname()[1]
    completed = sandbox("run", "--profile", "ci", "--workdir", str(project), "--bind", VENV,
                        "--env", f"ESCAPE_ADDRESS={address}", "--env", f"ESCAPE_FILE={escape_file}",
                        "--", *PYTEST, "-rf", timeout=120)
    output = completed.stdout.decode()
    assert completed.returncode == 1, output + completed.stderr.decode()  # pytest's own "tests failed"
    assert "2 failed, 2 passed" in output
    failed = sorted(line.split()[1] for line in output.splitlines() if line.startswith("FAILED"))
    assert failed == ["test_project.py::test_reaches_the_network", "test_project.py::test_writes_outside_the_work_dir"]
    assert "Connection refused" in output  # the box's own loopback: nothing of the host's listens there
    assert "FileNotFoundError" in output or "Read-only file system" in output
    with pytest.raises(BlockingIOError):
        listener.accept()  # nobody connected
    assert not escape_file.exists()
    assert snapshot(project) == before  # the write inside /work went to the throwaway layer


def test_write_outside_the_work_dir_is_refused_even_where_the_path_exists(project):
    completed = sandbox("run", "--profile", "ci", "--workdir", str(project), "--bind", VENV,
                        "--env", "ESCAPE_FILE=/usr/escaped.txt",
                        "--", *PYTEST, "-k", "outside", timeout=120)
    assert completed.returncode == 1
    assert b"Read-only file system" in completed.stdout
    assert not os.path.exists("/usr/escaped.txt")


def test_the_tests_may_delete_a_directory_of_the_project_in_the_layer(project):
    """Removing a lower directory needs an opaque mark (user.overlay.* with userxattr): EIO without it."""
    (project / "build" / "old").mkdir(parents=True)
    (project / "build" / "old" / "stale.o").write_text("stale\n")
    before = snapshot(project)
    completed = sandbox("run", "--profile", "ci", "--workdir", str(project), "--",
                        "/bin/sh", "-c", "rm -r build && mkdir -p build/old && ls -A build/old && echo rebuilt")
    assert (completed.returncode, completed.stdout, completed.stderr) == (0, b"rebuilt\n", b"")
    assert snapshot(project) == before


def test_bind_rw_at_work_writes_to_the_real_directory(project):
    completed = sandbox("run", "--profile", "ci", "--bind-rw", f"{project}:/work", "--bind", VENV,
                        "--", *PYTEST, "-k", "inside", timeout=120)
    assert completed.returncode == 0, completed.stdout.decode()
    assert (project / "build" / "report.txt").read_text() == "built\n"


def test_only_named_variables_pass(project):
    os.environ["CI_SECRET_TOKEN"] = "s3cret"
    try:
        completed = sandbox("run", "--profile", "ci", "--env", "CI_NAMED=yes", "--", "/usr/bin/env", timeout=60)
    finally:
        del os.environ["CI_SECRET_TOKEN"]
    names = {line.split("=", 1)[0] for line in completed.stdout.decode().splitlines()}
    assert "CI_NAMED" in names and "CI_SECRET_TOKEN" not in names
    assert names <= {"PATH", "HOME", "LANG", "PYTHONUNBUFFERED", "CI_NAMED"}


def test_output_is_streamed_live_not_at_the_end():
    """The program prints, then waits for input that we send only after we have seen the line."""
    process = subprocess.Popen([*SANDBOX, "run", "--profile", "ci", "--", "/bin/sh", "-c", "echo ready; read x; echo got $x"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None and process.stdin is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "no output while the program was still running"
        assert process.stdout.readline() == b"ready\n"
        process.stdin.write(b"go\n")
        process.stdin.close()
        assert process.stdout.read() == b"got go\n"
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.wait()


def run_on_a_terminal(*args: str) -> tuple[int, bytes]:
    """Run the CLI with a pseudo-terminal as its stdout and stderr, as in an interactive shell."""
    master, slave = pty.openpty()
    termios.tcsetwinsize(slave, (24, 123))
    before = termios.tcgetattr(slave)
    try:
        process = subprocess.Popen([*SANDBOX, *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
        os.close(slave)
        output = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every writer of the terminal is gone
                break
            if not chunk:
                break
            output += chunk
        code = process.wait(timeout=60)
        assert termios.tcgetattr(master)[3] == before[3], "the caller's terminal settings changed"
        return code, output
    finally:
        os.close(master)


def test_a_caller_on_a_terminal_gives_the_program_a_terminal_of_its_own():
    code, output = run_on_a_terminal("run", "--profile", "ci", "--", "/usr/bin/python3", "-c", """if 1:
        import os, sys
        print("stdout", os.isatty(1), "stderr", os.isatty(2), "stdin", os.isatty(0))
        print("columns", os.get_terminal_size(1).columns)
        print("line two")""")
    assert code == 0, output
    text = output.decode()
    assert "stdout True stderr True stdin False" in text
    assert "columns 123" in text  # sized like the caller's terminal
    assert "line two\r\n" in text  # bytes reach the caller's terminal, which adds the \r itself
    assert "line two\r\r\n" not in text  # and only once: the program's own terminal passes bytes unchanged


def test_the_program_cannot_push_input_into_the_terminal():
    """TIOCSTI on its terminal: refused (the filter and the missing controlling terminal)."""
    code, output = run_on_a_terminal("run", "--profile", "ci", "--", "/usr/bin/python3", "-c", """if 1:
        import fcntl, termios
        try:
            fcntl.ioctl(1, termios.TIOCSTI, b"x")
            print("injected")
        except OSError as e:
            print("refused", e.errno)""")
    assert code == 0, output
    assert b"refused" in output and b"injected" not in output
