"""Helpers for the rootless integration tier: run the real `sandbox` CLI and look at the host."""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

import pytest

SANDBOX = [sys.executable, "-m", "sandbox"]


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


def our_processes() -> set[tuple[int, str]]:
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


def mounts() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [" ".join(line.split()[3:5]) for line in f]


def temp_entries() -> set[str]:
    """Our entries in /tmp (pytest's own aside): another user's files there, made by whatever else
    runs on the machine meanwhile, are not ours to answer for."""
    mine = set()
    for name in os.listdir("/tmp"):
        try:
            if not name.startswith("pytest-of-") and os.lstat(os.path.join("/tmp", name)).st_uid == os.getuid():
                mine.add(name)
        except FileNotFoundError:
            continue
    return mine


class NamedRun:
    """`sandbox run --name NAME ...` in the background, ready once its program printed a line (by then
    its entry is listed: the supervisor reads the program's output only once it knows it runs)."""

    def __init__(self, name: str, *args: str) -> None:
        self.name = name
        self.process = subprocess.Popen([*SANDBOX, "run", "--name", name, "--wall-time", "60", *args],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 30)
        assert ready, "the named run did not start"
        self.first_line = self.process.stdout.readline()

    def finish(self) -> tuple[int, bytes, bytes]:
        out, err = self.process.communicate(timeout=30)
        return self.process.returncode, out, err

    def close(self) -> None:
        """End the box the way a user would (its init reaps it all before the run ends)."""
        if self.process.poll() is None:
            sandbox("kill", self.name)
        self.process.communicate(timeout=30)


@contextmanager
def named_runs() -> Iterator[Callable[..., NamedRun]]:
    """start(name, *args) -> a NamedRun; every run started is ended when the block ends."""
    runs: list[NamedRun] = []

    def start(name: str, *args: str) -> NamedRun:
        runs.append(NamedRun(name, *args))
        return runs[-1]

    try:
        yield start
    finally:
        for run in runs:
            run.close()


@pytest.fixture(autouse=True)
def runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A registry of named boxes of the test's own (import it into a module that runs named boxes)."""
    path = tmp_path / "live"
    monkeypatch.setenv("SANDBOX_RUNTIME_DIR", str(path))
    return path


@pytest.fixture
def named() -> Iterator[Callable[..., NamedRun]]:
    with named_runs() as start:
        yield start
