"""The cgroup v1 tier: what the kernel's cgroup v1 does for an unprivileged user with a delegated subtree.

It runs inside the VM that scripts/test-cgroup-v1 boots (scripts/vm-run with SANDBOX_VM_CGROUP=v1): a
hybrid layout (v1 hierarchies memory, cpu,cpuacct, pids, freezer under /sys/fs/cgroup, a controller-less
cgroup2 at /sys/fs/cgroup/unified) with the same subtree delegated to the user in each hierarchy, named
in SANDBOX_CGROUP_V1_ROOT ("memory:/sys/fs/cgroup/memory/user.slice/... cpu,cpuacct:... pids:...
freezer:...").  Inside the VM a missing delegation is a failure; elsewhere the tier is skipped.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import pytest
from v1box import HIERARCHIES, ROOT_ENV, Groups, parse_roots

IN_VM = os.environ.get("SANDBOX_IN_VM") == "1"


def pytest_configure(config: pytest.Config) -> None:
    if os.geteuid() == 0:
        raise pytest.UsageError("the cgroup v1 tier must run as an unprivileged user; refusing to run as root")


def _delegation_problem(roots: dict[str, Path]) -> Optional[str]:
    if not roots:
        return f"{ROOT_ENV} is not set"
    for hierarchy in HIERARCHIES:
        path = roots.get(hierarchy)
        if path is None:
            return f"{ROOT_ENV} names no {hierarchy} hierarchy"
        if not os.access(path, os.W_OK) or not os.access(path / "cgroup.procs", os.W_OK):
            return f"{path} (or its cgroup.procs) is not writable by uid {os.getuid()}"
    return None


@pytest.fixture(scope="session")
def roots() -> dict[str, Path]:
    """The delegated directory of each v1 hierarchy."""
    found = parse_roots(os.environ.get(ROOT_ENV, ""))
    problem = _delegation_problem(found)
    if problem:
        if IN_VM:
            pytest.fail(f"the VM should delegate a cgroup v1 subtree to this user, but: {problem}")
        pytest.skip(f"cgroup v1 tier needs the VM (scripts/test-cgroup-v1): {problem}")
    return found


@pytest.fixture
def groups(roots: dict[str, Path]):
    made = Groups(roots)
    yield made
    made.cleanup()
    leftovers = [p for root in roots.values() for p in root.iterdir() if p.is_dir() and p.name != "init.scope"]
    assert leftovers == [], f"cgroups left behind: {leftovers}"
