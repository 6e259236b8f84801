"""tests/projects/projects.py, the projects tier's own logic: reading pytest's counts and choosing projects."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "projects_tier", Path(__file__).resolve().parents[1] / "projects" / "projects.py")
assert _spec and _spec.loader
projects = importlib.util.module_from_spec(_spec)
sys.modules["projects_tier"] = projects  # its dataclasses look themselves up there
_spec.loader.exec_module(projects)


@pytest.mark.parametrize("output, counts", [
    ("....\n4 passed in 0.12s\n", {"passed": 4}),
    ("x\n== 2 failed, 763 passed, 1 skipped, 3 errors in 13.50s ==\n",
     {"failed": 2, "passed": 763, "skipped": 1, "error": 3}),
    ("1 error in 0.02s\n", {"error": 1}),
    ("2031 passed, 47 skipped, 17 xfailed, 1 xpassed, 2 warnings in 4.01s (0:00:04)\n",
     {"passed": 2031, "skipped": 47, "xfailed": 17, "xpassed": 1}),
    # an earlier line that merely looks like counts is not the summary; the last one is
    ("test said 3 passed in 1s\n...\n5 passed in 2.00s\n", {"passed": 5}),
    ("no tests ran in 0.81s\n", {}),
    ("Traceback (most recent call last):\nRuntimeError: can't start new thread\n", {}),
])
def test_counts_come_from_the_last_summary_line(output: str, counts: dict[str, int]) -> None:
    assert projects.parse_counts(output) == counts


def test_the_issue_asks_for_six_pinned_projects_with_threads_servers_and_multiprocessing() -> None:
    names = [p.name for p in projects.PROJECTS]
    assert len(set(names)) == len(names) >= 6
    assert {"more-itertools", "httplib2", "pebble"} <= set(names)
    for p in projects.PROJECTS:
        assert all("==" in dep for dep in p.deps), p
        assert p.version and not p.version.startswith(("<", ">", "~"))
    assert all("==" in c for c in projects.CONSTRAINTS)


def test_an_unknown_project_name_is_refused() -> None:
    with pytest.raises(SystemExit, match="unknown project"):
        projects._select(["no-such-project"])
