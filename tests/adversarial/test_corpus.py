"""Runs every case of the corpus: cases/**/*.yaml, each with a probe beside it (see README.md)."""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml
from planted import IN_VM, Targets

CASES = Path(__file__).resolve().parent / "cases"
CASE_KEYS = {"description", "probe", "profile", "args", "tty", "tier", "expect", "timeout"}
EXPECT_KEYS = {"verdict", "limit", "exit_code"}
SANDBOX = [sys.executable, "-m", "sandbox"]


def _load(path: Path) -> dict[str, Any]:
    case = yaml.safe_load(path.read_text())
    unknown = set(case) - CASE_KEYS
    assert not unknown, f"{path}: unknown keys {sorted(unknown)}"
    assert set(case.get("expect", {})) <= EXPECT_KEYS, f"{path}: unknown expect keys"
    assert (path.parent / case["probe"]).is_file(), f"{path}: no probe {case['probe']}"
    return case


def _cases() -> list[Any]:
    params = []
    for path in sorted(CASES.rglob("*.yaml")):
        if path.name.endswith(".profile.yaml"):
            continue
        case = _load(path)
        if (case.get("tier", "host") == "vm") == IN_VM:
            params.append(pytest.param(path, case, id=str(path.relative_to(CASES).with_suffix(""))))
    return params


def _program(path: Path, case: dict[str, Any], workdir: Path) -> tuple[list[str], str]:
    """The `sandbox run` arguments that run the probe, and the default profile for its kind."""
    probe = path.parent / case["probe"]
    if probe.suffix == ".c":
        binary = workdir / "probe"
        subprocess.run(["gcc", "-O1", "-o", str(binary), str(probe)], check=True, capture_output=True)
        return ["--bind", f"{binary}:/work/probe", "--", "/work/probe"], "sh"
    uses_probelib = "probelib" in probe.read_text()  # bound only where used: it is one more mount point
    library = ["--bind", f"{CASES / 'probelib.py'}:/work/probelib.py"] if uses_probelib else []
    return [*library, str(probe)], "py3"


def _profile(path: Path, case: dict[str, Any], default: str) -> str:
    name = case.get("profile", default)
    local = path.parent / name
    return str(local) if local.is_file() else name


def _run(path: Path, case: dict[str, Any], targets: Targets, workdir: Path) -> tuple[dict, bytes]:
    program, default_profile = _program(path, case, workdir)
    env_flags = [flag for key, value in targets.env().items() for flag in ("--env", f"{key}={value}")]
    results = open(workdir / "results.txt", "w+")  # a file the caller holds open: must not leak in
    os.set_inheritable(results.fileno(), True)
    terminal: Optional[tuple[int, int]] = os.openpty() if case.get("tty") else None
    try:
        completed = subprocess.run(
            [*SANDBOX, "run", "--json", "--profile", _profile(path, case, default_profile), *env_flags,
             *case.get("args", []), *program],
            stdin=terminal[1] if terminal else subprocess.DEVNULL, capture_output=True,
            pass_fds=(results.fileno(),), timeout=case.get("timeout", 60),
        )
        injected = _pending_input(terminal[1]) if terminal else b""
        assert injected == b"", f"input was pushed into the caller's terminal: {injected!r}"
        assert Path(results.name).read_text() == "", "the box wrote to the caller's open file"
    finally:
        results.close()
        if terminal:
            os.close(terminal[0])
            os.close(terminal[1])
    try:
        return json.loads(completed.stdout), completed.stderr
    except json.JSONDecodeError:
        raise AssertionError(f"no result (exit {completed.returncode}): {completed.stderr.decode()}") from None


def _pending_input(tty: int) -> bytes:
    """Whatever sits in the terminal's input queue (TIOCSTI would put it there)."""
    flags = fcntl.fcntl(tty, fcntl.F_GETFL)
    fcntl.fcntl(tty, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    import termios

    attrs = termios.tcgetattr(tty)
    attrs[3] &= ~termios.ICANON
    termios.tcsetattr(tty, termios.TCSANOW, attrs)
    try:
        return os.read(tty, 4096)
    except BlockingIOError:
        return b""


@pytest.mark.parametrize("path, case", _cases())
def test_case(path: Path, case: dict[str, Any], targets: Targets, tmp_path: Path) -> None:
    result, stderr = _run(path, case, targets, tmp_path)
    output = (result.get("stdout") or "") + (result.get("stderr") or "") + stderr.decode(errors="replace")
    assert targets.token not in output, "the canary's secret leaked into the output"
    lines = (result.get("stdout") or "").splitlines()
    holes = [line for line in lines if line.startswith("HOLE")]
    assert holes == [], f"{case['description']}: {holes}"
    expect = case.get("expect", {})
    verdicts = expect.get("verdict", "OK")
    verdicts = [verdicts] if isinstance(verdicts, str) else verdicts
    assert result["verdict"] in verdicts, (result["verdict"], result["message"], result.get("stderr"))
    if verdicts == ["OK"]:
        assert any(line.startswith("SAFE") for line in lines), f"the probe reported nothing: {result}"
    if "limit" in expect:
        assert result["limit"] == expect["limit"]
    if "exit_code" in expect:
        assert result["exit_code"] == expect["exit_code"]
