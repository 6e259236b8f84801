"""The rootless integration tier: runs the real `sandbox` CLI as an unprivileged user.

This tier refuses to run as root: a sandbox proven only as root proves nothing
about rootless use.  `scripts/test` runs it as the unprivileged test user.
Every test is followed by a check that the host is unchanged: no process of
ours left, no mount added, no temp file left behind.
"""
from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Optional

import pytest
from boxrun import mounts, our_processes, temp_entries


def pytest_configure(config: pytest.Config) -> None:
    if os.geteuid() == 0:
        raise pytest.UsageError(
            "the integration tier must run as an unprivileged user (scripts/test does this); refusing to run as root"
        )


@pytest.fixture
def script(tmp_path: Path):
    """Write a Python script to a temp file and return its path."""
    counter = iter(range(1000))

    def write(source: str, name: Optional[str] = None) -> str:
        path = tmp_path / (name or f"prog{next(counter)}.py")
        path.write_text(textwrap.dedent(source))
        return str(path)

    return write


@pytest.fixture(autouse=True)
def host_unchanged():
    """After every test: no leftover process, mount or temp entry of ours."""
    before = (our_processes(), mounts(), temp_entries())
    yield
    processes, mount_table, temps = our_processes(), mounts(), temp_entries()
    assert processes - before[0] == set(), "processes left behind"
    assert mount_table == before[1], "host mount table changed"
    assert temps - before[2] == set(), "temp entries left behind in /tmp"
