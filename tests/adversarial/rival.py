"""A second local user for the host-side tests: the rival.

The rival owns directories a caller of the sandbox uses (a shared data set, a scratch
directory in /tmp) and races the sandbox's path handling from processes of its own, as
another user of a judge or CI machine would.  scripts/setup creates the user and a sudo
rule that lets the test user, and nobody else, run commands as the rival; nothing here
needs root.
"""
from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

RIVAL = os.environ.get("SANDBOX_RIVAL_USER", "sandbox-rival")
PYTHON = "/usr/bin/python3"  # Debian's: readable by every user, unlike a venv under a private home

# renameat2(RENAME_EXCHANGE) in a loop: two names swap places atomically, forever (until killed
# or the deadline), as ../shared/security's flip.c does.
_FLIP = """
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
os.chdir(sys.argv[1]); a, b = sys.argv[2].encode(), sys.argv[3].encode(); end = time.time() + float(sys.argv[4])
print(os.getpid(), flush=True)
while time.time() < end:
    for _ in range(1000):
        libc.renameat2(-100, a, -100, b, 2)
"""


def as_rival(*argv: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run a command as the rival (sudo -n: never a password prompt; fails if the rule is missing)."""
    return subprocess.run(["sudo", "-n", "-u", RIVAL, "--", *argv], check=check, capture_output=True, **kwargs)


@contextmanager
def rival_directory(mode: int = 0o755) -> Iterator[Path]:
    """A fresh directory in /tmp that the rival owns (mode as given), removed by the rival afterwards."""
    made = as_rival(PYTHON, "-c", f"import tempfile, os; d = tempfile.mkdtemp(prefix='sbx-rival-'); "
                                  f"os.chmod(d, {mode:#o}); print(d)")
    directory = Path(made.stdout.decode().strip())
    try:
        yield directory
    finally:
        as_rival("rm", "-rf", str(directory), check=False)


def rival_run_python(source: str, *args: str) -> subprocess.CompletedProcess:
    """Run a Python snippet as the rival."""
    return as_rival(PYTHON, "-c", source, *args)


@contextmanager
def flipping(directory: Path, first: str, second: str, seconds: float = 120) -> Iterator[None]:
    """While the block runs, a process of the rival swaps directory/first and directory/second."""
    process = subprocess.Popen(["sudo", "-n", "-u", RIVAL, "--", PYTHON, "-c", _FLIP, str(directory), first, second,
                                str(seconds)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    pid = process.stdout.readline().decode().strip()
    assert pid.isdigit(), "the rival's flipper did not start"
    try:
        yield
    finally:
        as_rival("kill", pid, check=False)
        process.wait(timeout=30)

