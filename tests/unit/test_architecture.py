"""The house rules of docs/ARCHITECTURE.md, enforced: import-linter contracts in pyproject.toml, mypy, function length."""
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


MAX_FUNCTION_LINES = 60


def test_no_function_is_longer_than_a_screen():
    """docs/ARCHITECTURE.md, rules of the house: a function over 60 lines does more than one step of a
    pipeline, and the pipelines are meant to be read top to bottom (docstrings count: they are read too)."""
    import ast

    too_long = []
    for path in sorted((ROOT / "sandbox").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not too_long, "\n".join(too_long)
