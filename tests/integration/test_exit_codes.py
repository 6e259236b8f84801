"""The CLI's exit code when the program cannot run, as a shell's (issue 14, point 5): 127 only when
the program is found nowhere, 126 when it exists but cannot be executed; a script the caller
cannot read is the caller's error, one line naming it, 125."""
from __future__ import annotations

from pathlib import Path

import pytest
from boxrun import sandbox


@pytest.mark.parametrize("program, message", [
    ("/dev/null", "/dev/null: not executable"),    # a device
    ("/tmp", "/tmp: is a directory"),
    ("/tmp/plain", "/tmp/plain: not executable"),  # a regular file without the x bit
])
def test_a_program_that_exists_but_cannot_run_is_126(tmp_path: Path, program, message):
    (tmp_path / "plain").write_text("echo ran\n")
    completed = sandbox("run", "--profile", "sh", "--bind", f"{tmp_path / 'plain'}:/tmp/plain", "--", program)
    assert (completed.returncode, completed.stdout, completed.stderr) == (126, b"", f"sandbox: {message}\n".encode())


def test_a_script_whose_interpreter_is_missing_is_126(tmp_path: Path):
    """The program is there; the kernel cannot run it (its #! names nothing in the box): 126, as bash
    says "bad interpreter", not 127 (execve's ENOENT is about the interpreter, not the program)."""
    script = tmp_path / "run.sh"
    script.write_text("#!/nonexistent/interpreter\necho ran\n")
    script.chmod(0o755)
    completed = sandbox("run", "--profile", "sh", "--bind", f"{script}:/tmp/run.sh", "--", "/tmp/run.sh")
    assert completed.returncode == 126 and completed.stdout == b""
    assert completed.stderr == b"sandbox: /tmp/run.sh: cannot run it: its interpreter (#!) is not in the box\n"


def test_a_program_found_nowhere_is_127():
    completed = sandbox("run", "--profile", "sh", "--", "/tmp/missing")
    assert (completed.returncode, completed.stderr) == (127, b"sandbox: /tmp/missing: program not found in the box\n")


def test_a_script_the_caller_cannot_read_is_one_line_and_125(tmp_path: Path):
    script = tmp_path / "main.py"
    script.write_text("print('ran')\n")
    script.chmod(0)
    completed = sandbox("run", "--profile", "py3", str(script))
    assert (completed.returncode, completed.stdout) == (125, b"")
    assert completed.stderr == f"sandbox: script {script}: not readable by you (permission denied)\n".encode()


def test_a_directory_as_the_script_is_one_line_and_125(tmp_path: Path):
    completed = sandbox("run", "--profile", "py3", str(tmp_path))
    assert (completed.returncode, completed.stderr) == (125, f"sandbox: script {tmp_path}: not a regular file\n".encode())
