"""`sandbox run --systemd-scope` asks the user's systemd manager for a scope over D-Bus: no process is
started for it, so nothing from the caller's current directory can run (security review item 1,
when the flag re-executed the CLI under systemd-run).

This host has no systemd user manager: a stand-in (tests/unit/fake_manager.py) answers on the
private socket, refusing the scope, so the run ends with the one-line refusal.  The caller runs from
an untrusted checkout that ships a `sandbox/` package and a `systemd-run`: every planted file
writes a marker if imported or run.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit"))
from fake_manager import FakeManager  # noqa: E402

CLI = str(Path(sys.executable).parent / "sandbox")  # the console script: its own sys.path[0] is venv/bin
PLANTED = ("__init__.py", "__main__.py", "cli.py")


@pytest.fixture
def world(tmp_path: Path):
    markers = tmp_path / "markers"
    markers.mkdir()
    runtime = tmp_path / "run"
    manager = FakeManager(runtime, answer="refuse")
    project = tmp_path / "checkout"
    (project / "sandbox").mkdir(parents=True)
    for name in PLANTED:
        (project / "sandbox" / name).write_text(
            f"open({str(markers / ('imported-' + name))!r}, 'w').close()\nprint('UNBOXED')\n")
    for where in (project, tmp_path / "bin"):
        where.mkdir(exist_ok=True)
        evil = where / "systemd-run"
        evil.write_text(f"#!/bin/sh\ntouch {markers}/systemd-run-{where.name}\necho UNBOXED\n")
        evil.chmod(0o755)
    yield {"markers": markers, "bin": tmp_path / "bin", "runtime": runtime, "project": project, "manager": manager}
    manager.close()


@pytest.mark.parametrize("path_head", ["", ":"], ids=["path", "path-with-empty-entry-first"])
def test_asking_for_a_scope_runs_nothing_from_the_cwd_or_path(world, path_head):
    env = {**os.environ, "XDG_RUNTIME_DIR": str(world["runtime"]),
           "PATH": f"{path_head}{world['bin']}:{os.environ['PATH']}"}
    completed = subprocess.run(
        [CLI, "run", "--systemd-scope", "--profile", "sh", "--workdir", ".", "--", "/bin/sh", "-c", "echo boxed"],
        cwd=world["project"], env=env, capture_output=True, text=True, timeout=60,
    )
    assert sorted(p.name for p in world["markers"].iterdir()) == [], "ran something planted"
    assert "UNBOXED" not in completed.stdout + completed.stderr
    assert [call[0] for call in world["manager"].calls] == ["StartTransientUnit"]  # the scope was asked for
    assert completed.returncode == 125 and completed.stderr.count("\n") == 1, completed.stderr
    assert "refused" in completed.stderr and "Traceback" not in completed.stderr
