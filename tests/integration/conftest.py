"""The rootless integration tier: runs the real `sandbox` CLI as an unprivileged user.

This tier refuses to run as root: a sandbox proven only as root proves nothing
about rootless use.  `scripts/test` runs it as the unprivileged test user.
Every test is followed by a check that the host is unchanged: no process of
ours left, no mount added, no temp file left behind.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Optional

import pytest

SANDBOX = [sys.executable, "-m", "sandbox"]


def pytest_configure(config: pytest.Config) -> None:
    if os.geteuid() == 0:
        raise pytest.UsageError(
            "the integration tier must run as an unprivileged user (scripts/test does this); refusing to run as root"
        )


def sandbox(*args: str, input: Optional[bytes] = None, timeout: float = 30, **kwargs) -> subprocess.CompletedProcess:
    """Run the CLI; returns the completed process with bytes stdout/stderr."""
    return subprocess.run([*SANDBOX, *args], input=input, capture_output=True, timeout=timeout, **kwargs)


def run_json(*args: str, input: Optional[bytes] = None, timeout: float = 30) -> tuple[dict, subprocess.CompletedProcess]:
    """Run with --json and return the parsed result document."""
    completed = sandbox("run", "--json", *args, input=input, timeout=timeout)
    try:
        return json.loads(completed.stdout), completed
    except json.JSONDecodeError:
        raise AssertionError(f"no JSON result; exit {completed.returncode}; stderr: {completed.stderr.decode()}")


@pytest.fixture
def script(tmp_path: Path):
    """Write a Python script to a temp file and return its path."""
    counter = iter(range(1000))

    def write(source: str, name: Optional[str] = None) -> str:
        path = tmp_path / (name or f"prog{next(counter)}.py")
        path.write_text(textwrap.dedent(source))
        return str(path)

    return write


def _our_processes() -> set[tuple[int, str]]:
    """Processes of this uid other than this test process and its ancestors."""
    mine = os.getuid()
    keep = {os.getpid()}
    pid = os.getppid()
    while pid > 1:
        keep.add(pid)
        with open(f"/proc/{pid}/stat") as f:
            pid = int(f.read().rsplit(")", 1)[1].split()[1])
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in keep:
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != mine:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if cmdline:  # zombies have none and are about to vanish
            found.add((int(entry), cmdline))
    return found


def _mounts() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [" ".join(line.split()[3:5]) for line in f]


def _temp_entries() -> set[str]:
    return {name for name in os.listdir("/tmp") if not name.startswith("pytest-of-")}


@pytest.fixture(autouse=True)
def host_unchanged():
    """After every test: no leftover process, mount or temp entry of ours."""
    before = (_our_processes(), _mounts(), _temp_entries())
    yield
    processes, mounts, temps = _our_processes(), _mounts(), _temp_entries()
    assert processes - before[0] == set(), "processes left behind"
    assert mounts == before[1], "host mount table changed"
    assert temps - before[2] == set(), "temp entries left behind in /tmp"
