"""--at-host-path: the project where it lives, so a venv made on the host with `pip install -e .`
(which records the project's host path) imports it in the box and runs its tests."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from boxrun import sandbox

PYTHON = "/usr/bin/python3"
SETUP = 'from setuptools import setup\nsetup(name="tinyed", version="0.1", packages=["tinyed"], package_dir={"": "src"})\n'
TEST = ("import os, unittest, tinyed\n\nclass T(unittest.TestCase):\n"
        "    def test_answer(self):\n        self.assertEqual(tinyed.answer(), 42)\n\n"
        "    def test_writes_into_the_project(self):\n"
        "        with open('out.txt', 'w') as f:\n            f.write('x')\n")


@pytest.fixture
def editable(tmp_path: Path) -> tuple[Path, Path]:
    """A tiny package and a venv on the host holding it as an editable install (offline: the
    legacy `setup.py develop` path needs only the venv's own setuptools)."""
    if subprocess.run([PYTHON, "-c", "import ensurepip, venv"], capture_output=True).returncode:
        pytest.skip("the host's python3 has no venv/ensurepip (Debian: python3-venv)")
    project, venv = tmp_path / "project", tmp_path / "venv"
    (project / "src" / "tinyed").mkdir(parents=True)
    (project / "src" / "tinyed" / "__init__.py").write_text("def answer():\n    return 42\n")
    (project / "setup.py").write_text(SETUP)
    (project / "test_tinyed.py").write_text(TEST)
    subprocess.run([PYTHON, "-m", "venv", str(venv)], check=True, capture_output=True)
    pip = [str(venv / "bin" / "pip"), "install", "-q", "--no-index", "--no-build-isolation", "--no-use-pep517", "-e", "."]
    installed = subprocess.run(pip, cwd=project, capture_output=True)
    if installed.returncode:
        pytest.skip(f"pip install -e . failed on the host: {installed.stderr.decode().strip().splitlines()[-1:]}")
    return project, venv


def run_tests(project: Path, venv: Path, *flags: str) -> subprocess.CompletedProcess:
    script = f"pwd; readlink /work; {venv}/bin/python -m unittest -v test_tinyed 2>&1; cat out.txt"
    return sandbox("run", "--profile", "ci", "--workdir", str(project), "--bind", str(venv), *flags,
                   "--", "sh", "-c", script, timeout=120)


def test_an_editable_install_runs_its_tests_with_the_project_at_its_host_path(editable):
    project, venv = editable
    completed = run_tests(project, venv, "--at-host-path")
    out = completed.stdout.decode()
    assert completed.returncode == 0, out + completed.stderr.decode()
    lines = out.splitlines()
    assert lines[:2] == [str(project), str(project)]  # starts there; /work is a symlink to it
    assert "Ran 2 tests" in out and "OK" in out
    assert lines[-1] == "x"  # written in the box's throwaway layer over the project...
    assert not (project / "out.txt").exists()  # ...never on the host


def test_at_work_the_editable_install_does_not_find_its_project(editable):
    project, venv = editable
    completed = run_tests(project, venv)
    out = completed.stdout.decode()
    assert out.splitlines()[0] == "/work"
    assert "No module named 'tinyed'" in out  # the recorded host path is not in the box


def test_at_host_path_needs_a_work_dir():
    completed = sandbox("run", "--profile", "ci", "--at-host-path", "--", "true")
    assert completed.returncode == 125
    assert completed.stderr.decode() == ("sandbox: --at-host-path shows the work dir at its own path: "
                                         "give --workdir DIR or --overlay DIR\n")
