"""The house rules of DESIGN.md, enforced: import-linter contracts in pyproject.toml."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept():
    lint = Path(sys.executable).parent / "lint-imports"
    completed = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "0 broken" in completed.stdout


def test_the_package_type_checks(tmp_path):
    """The API is typed (py.typed is shipped): its annotations must hold, or they mislead judges' type checkers.
    Checked as the oldest Python pyproject's requires-python admits: a newer library call (termios.tcgetwinsize
    is 3.11) fails the check, so requires-python says what the code uses."""
    with open(ROOT / "pyproject.toml", "rb") as file:
        oldest = re.fullmatch(r">=\s*(\d+\.\d+)", tomllib.load(file)["project"]["requires-python"].strip())
    assert oldest, "requires-python is >=X.Y"
    completed = subprocess.run(
        [sys.executable, "-m", "mypy", "--ignore-missing-imports", "--python-version", oldest[1],
         "--cache-dir", str(tmp_path), str(ROOT / "sandbox")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert (ROOT / "sandbox" / "py.typed").exists()
