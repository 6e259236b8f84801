"""A Python or program we start never comes from the caller's current directory or environment."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

import sandbox
from sandbox.errors import HostError
from sandbox.selfexec import python_command


def test_our_python_imports_this_package_whatever_the_cwd_and_environment_say(tmp_path, monkeypatch):
    planted = tmp_path / "sandbox"
    planted.mkdir()
    (planted / "__init__.py").write_text("raise SystemExit('imported the planted package')\n")
    startup = tmp_path / "startup.py"
    startup.write_text("raise SystemExit('ran PYTHONSTARTUP')\n")
    environment = {**os.environ, "PYTHONPATH": str(tmp_path), "PYTHONSTARTUP": str(startup), "PYTHONINSPECT": "1"}
    for site in (True, False):
        argv = python_command("import sandbox; print(sandbox.__file__)", site=site)
        completed = subprocess.run(argv, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60)
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout.strip() == sandbox.__file__


def test_a_python_of_unknown_path_is_refused(monkeypatch):
    monkeypatch.setattr(sys, "executable", "python3")
    with pytest.raises(HostError, match="interpreter's path is unknown"):
        python_command("pass")


def test_a_user_site_this_process_imports_from_is_kept(monkeypatch, tmp_path):
    import site

    user = str(tmp_path / "user-site")
    monkeypatch.setattr(site, "ENABLE_USER_SITE", True)
    monkeypatch.setattr(site, "getusersitepackages", lambda: user)
    monkeypatch.setattr(sys, "path", [*sys.path, user])
    assert repr([sandbox_parent(), user]) in python_command("pass")[-1]
    assert user not in python_command("pass", site=False)[-1]


def sandbox_parent() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(sandbox.__file__)))
