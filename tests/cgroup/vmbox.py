"""Helpers for the cgroup v2 tier: run the CLI, look at box cgroups and processes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

SANDBOX = [sys.executable, "-m", "sandbox"]


def sandbox(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*SANDBOX, *args], capture_output=True, timeout=timeout, **kwargs)


def run_json(*args: str, timeout: float = 120) -> dict:
    completed = sandbox("run", "--json", *args, timeout=timeout)
    try:
        return json.loads(completed.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"no JSON result; exit {completed.returncode}; stderr: {completed.stderr.decode()}")


def run_cgroups(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.name.startswith("sandbox-run-"))


def box_processes() -> list[str]:
    """Processes of ours that belong to a box (the helpers or anything under them)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != os.getuid():
                continue
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "sandbox-init" in cmdline or "sleep 30" in cmdline or "burn" in cmdline:
            found.append(cmdline.strip())
    return found


def wait_until(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def bare_cgroup_run(root: Path, argv: list[str], name: str) -> dict[str, Optional[int]]:
    """Run argv outside any box, alone in a fresh cgroup, and read what the cgroup measured."""
    group = root / name
    group.mkdir()
    try:
        subprocess.run(["sh", "-c", f'echo $$ > "{group}/cgroup.procs" && exec "$@"', "sh", *argv],
                       check=True, capture_output=True, timeout=120)
        return {"memory_peak": int((group / "memory.peak").read_text())}
    finally:
        wait_until(lambda: "populated 0" in (group / "cgroup.events").read_text())
        group.rmdir()
