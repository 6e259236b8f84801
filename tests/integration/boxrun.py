"""Helpers for the rootless integration tier: run the real `sandbox` CLI and look at the host."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Optional

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
