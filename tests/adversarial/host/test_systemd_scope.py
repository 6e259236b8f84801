"""`sandbox run --systemd-scope` re-executes the CLI under systemd-run: the new process must be the
installed sandbox, never code from the caller's current directory (security review item 1).

This host has no systemd user manager, so a stand-in `systemd-run` does what `systemd-run --scope`
does (exec its command after `--`, in the same directory and environment), as reproducer 12 does.
The caller runs from an untrusted checkout that ships a `sandbox/` package (and a `systemd-run`):
every module of it writes a marker if imported or run.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent / "sandbox")  # the console script: its own sys.path[0] is venv/bin
PLANTED = ("__init__.py", "__main__.py", "cli.py")


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    markers = tmp_path / "markers"
    markers.mkdir()
    fake = tmp_path / "bin" / "systemd-run"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\ntouch {markers}/systemd-run\nwhile [ "$1" != "--" ]; do shift; done; shift; exec "$@"\n')
    fake.chmod(0o755)
    runtime = tmp_path / "run"
    (runtime / "systemd").mkdir(parents=True)
    (runtime / "systemd" / "private").touch()  # what hostcheck looks for: "a user manager listens here"
    project = tmp_path / "checkout"
    (project / "sandbox").mkdir(parents=True)
    for name in PLANTED:
        (project / "sandbox" / name).write_text(
            f"open({str(markers / ('imported-' + name))!r}, 'w').close()\nprint('UNBOXED')\n")
    evil = project / "systemd-run"  # found only by a PATH lookup that tries the current directory
    evil.write_text(f"#!/bin/sh\ntouch {markers}/systemd-run-from-cwd\necho UNBOXED\n")
    evil.chmod(0o755)
    return {"markers": markers, "bin": fake.parent, "runtime": runtime, "project": project}


@pytest.mark.parametrize("path_head", ["", ":"], ids=["path", "path-with-empty-entry-first"])
def test_the_scope_reexec_runs_the_installed_sandbox_not_the_cwds(world, path_head):
    env = {**os.environ, "XDG_RUNTIME_DIR": str(world["runtime"]),
           "PATH": f"{path_head}{world['bin']}:{os.environ['PATH']}"}
    completed = subprocess.run(
        [CLI, "run", "--systemd-scope", "--profile", "sh", "--workdir", ".", "--",
         "/bin/sh", "-c", "cat /proc/1/cmdline; echo; hostname"],
        cwd=world["project"], env=env, capture_output=True, timeout=60,
    )
    markers = sorted(p.name for p in world["markers"].iterdir())
    assert markers == ["systemd-run"], f"ran from the caller's directory: {markers}"  # and the scope was asked for
    assert b"UNBOXED" not in completed.stdout + completed.stderr
    assert completed.returncode == 0, completed.stderr.decode()
    assert completed.stdout.replace(b"\0", b"") == b"sandbox-init\nsandbox\n"  # the real sandbox ran it, in a box
