"""The systemd tier: the sandbox on a real systemd host (a Debian 12 userland with systemd as PID 1,
booted by scripts/test-systemd in a VM).  pytest runs as the VM's root, the operator of that
machine; everything under test runs as the unprivileged, lingering SANDBOX_VM_USER, either in a
login session (`su -l`, which pam_systemd makes a real logind session) or in a system service.
Nothing here may run on a host: it installs units, creates users and restarts managers.
"""
from __future__ import annotations

import os
from typing import Iterator

import pytest
from machine import nothing_left


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("SANDBOX_IN_VM") != "1" or not os.environ.get("SANDBOX_VM_USER") or os.geteuid() != 0:
        raise pytest.UsageError("tests/systemd runs only inside the systemd VM, as its root: "
                                "use scripts/test-systemd")


@pytest.fixture(autouse=True)
def leaves_nothing_behind() -> Iterator[None]:
    """After every test: no process of the user but its manager, and no `sandbox-*` cgroup anywhere."""
    yield
    cgroups, processes = nothing_left()
    assert cgroups == [] and processes == [], f"left behind: {cgroups} {processes}"
