"""The cgroup v2 tier: whole-box limits and accounting on a real cgroup v2 kernel.

It runs inside the VM (scripts/test-cgroup boots it), as an unprivileged user whose
cgroup subtree was delegated the way systemd does it.  Whether it can run is
decided by the same checks `sandbox doctor` prints: inside the VM a missing
delegation is a failure; elsewhere the tier is skipped with the doctor's words.
"""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from vmbox import box_processes, run_cgroups, wait_until

from sandbox import hostcheck

IN_VM = os.environ.get("SANDBOX_IN_VM") == "1"


def _delegation_check() -> hostcheck.Check:
    return next(c for c in hostcheck.report() if c.name == "delegated subtree")


def pytest_configure(config: pytest.Config) -> None:
    if os.geteuid() == 0:
        raise pytest.UsageError("the cgroup tier must run as an unprivileged user; refusing to run as root")


@pytest.fixture(scope="session")
def cgroup_root() -> Path:
    """The delegated subtree (SANDBOX_CGROUP_ROOT), checked with doctor's own words."""
    check = _delegation_check()
    if not check.ok:
        message = f"{check.detail}; {check.fix}"
        if IN_VM:
            pytest.fail(f"the VM should delegate a cgroup v2 subtree to this user, but: {message}")
        pytest.skip(f"cgroup tier needs the VM (scripts/test-cgroup): {message}")
    root = Path(os.environ["SANDBOX_CGROUP_ROOT"])
    control = root / "cgroup.subtree_control"
    if "memory" not in control.read_text().split():
        control.write_text("+memory +pids +cpu")
    return root


@pytest.fixture
def script(tmp_path: Path):
    counter = iter(range(1000))

    def write(source: str) -> str:
        path = tmp_path / f"prog{next(counter)}.py"
        path.write_text(textwrap.dedent(source))
        return str(path)

    return write


@pytest.fixture(autouse=True)
def nothing_left_behind(cgroup_root: Path):
    """After every test: no box cgroup and no box process survive."""
    yield
    assert wait_until(lambda: not box_processes()), f"processes left behind: {box_processes()}"
    assert run_cgroups(cgroup_root) == [], "run cgroups left behind"
