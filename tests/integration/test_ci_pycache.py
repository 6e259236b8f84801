"""A kept bytecode cache for repeat `ci` runs with existing flags (README, "CI"): the throwaway layer
keeps no __pycache__, so every run would compile every module again; PYTHONPYCACHEPREFIX pointing
at a host directory bound writable keeps the .pyc files, and only them, for the next run."""
from __future__ import annotations

import subprocess
from pathlib import Path

from boxrun import sandbox

PYTHON = "/usr/bin/python3"


def run(project: Path, cache: Path) -> subprocess.CompletedProcess:
    return sandbox("run", "--profile", "ci", "--workdir", str(project),
                   "--bind-rw", f"{cache}:/pycache", "--env", "PYTHONPYCACHEPREFIX=/pycache",
                   "--", PYTHON, "-v", "-c", "import mymodule; print(mymodule.VALUE)", timeout=60)


def loaded_from_cache(completed: subprocess.CompletedProcess) -> bool:
    """python -v says where each module's code object came from: a .pyc, or compiled anew."""
    return "code object from '/pycache/work/mymodule.cpython-" in completed.stderr.decode()


def test_the_second_run_finds_the_first_runs_bytecode(tmp_path):
    project, cache = tmp_path / "project", tmp_path / "pycache"
    project.mkdir()
    cache.mkdir()
    (project / "mymodule.py").write_text("VALUE = 'from the project'\n")
    first = run(project, cache)
    assert first.returncode == 0, first.stderr.decode()[-2000:]
    assert first.stdout.decode() == "from the project\n"
    assert not loaded_from_cache(first)  # nothing cached yet: compiled
    written = sorted(p.name for p in (cache / "work").iterdir())
    assert [name.split(".")[0] for name in written] == ["mymodule"]
    assert not list(project.rglob("__pycache__"))  # the project itself stays as it was
    second = run(project, cache)
    assert second.returncode == 0, second.stderr.decode()[-2000:]
    assert loaded_from_cache(second)
    assert second.stdout.decode() == "from the project\n"
