"""Helpers for the cgroup v1 tier: the delegated roots, per-test cgroups, processes started inside them."""
from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cgroup"))  # the v2 tier's helpers, shared
from vmbox import SANDBOX, box_processes, run_json, sandbox, wait_until  # noqa: E402,F401

ROOT_ENV = "SANDBOX_CGROUP_V1_ROOT"
HIERARCHIES = ("memory", "cpu,cpuacct", "pids", "freezer")
MiB = 1 << 20


def parse_roots(value: str) -> dict[str, Path]:
    """SANDBOX_CGROUP_V1_ROOT: space-separated CONTROLLERS:PATH entries."""
    roots = {}
    for entry in value.split():
        controllers, _, path = entry.partition(":")
        roots[controllers] = Path(path)
    return roots


def procs(group: Path) -> list[int]:
    return [int(line) for line in (group / "cgroup.procs").read_text().split()]


def empty_group(group: Path) -> None:
    """Kill everything in a v1 cgroup (there is no cgroup.kill): freeze, SIGKILL each, thaw, wait."""
    freezer = group / "freezer.state"
    if freezer.exists():
        freezer.write_text("FROZEN")
        wait_until(lambda: freezer.read_text().strip() == "FROZEN", 10)
    for pid in procs(group):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if freezer.exists():
        freezer.write_text("THAWED")
    assert wait_until(lambda: not procs(group)), f"{group} still holds {procs(group)}"


class Groups:
    """Per-test cgroups, one directory per hierarchy, made with mkdir as the user; all removed after."""

    def __init__(self, roots: dict[str, Path]) -> None:
        self.roots = roots
        self.made: list[Path] = []
        self.counter = itertools.count()

    def make(self, *hierarchies: str, name: Optional[str] = None) -> dict[str, Path]:
        name = name or f"sandbox-run-{os.getpid()}-{next(self.counter)}"
        made = {}
        for hierarchy in hierarchies or HIERARCHIES:
            path = self.roots[hierarchy] / name
            path.mkdir()
            self.made.append(path)
            made[hierarchy] = path
        return made

    def cleanup(self) -> None:
        for path in reversed(self.made):
            if path.exists():
                for child in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                    empty_group(child)
                    child.rmdir()
                empty_group(path)
                path.rmdir()


def spawn_in(targets: list[Path], argv: list[str], **kwargs) -> subprocess.Popen:
    """Start argv with its pid written into each target's cgroup.procs before it execs."""
    def join() -> None:
        for target in targets:
            with open(target / "cgroup.procs", "w") as file:
                file.write(str(os.getpid()))
    return subprocess.Popen(argv, preexec_fn=join, **kwargs)


def python(source: str) -> list[str]:
    return [sys.executable, "-c", source]


# A program that allocates and touches SIZE bytes (argv[1]) a MiB at a time, printing each MiB's count.
ALLOCATE = python(
    "import sys\n"
    "chunks = []\n"
    "for i in range(int(sys.argv[1]) >> 20):\n"
    "    chunks.append(bytearray(b'\\x01') * (1 << 20))\n"
    "print('done', flush=True)\n"
)
