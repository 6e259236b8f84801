"""A judge backend as a system service: the shipped unit (contrib/systemd/sandbox-judge.service), run
as the lingering user with Delegate=yes, gives every box a cgroup of its own below the service's."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from machine import PREFIX, SRC, TIMEOUT, install_unit, nothing_left, remove_unit

RESULTS = Path("/var/lib/sandbox-judge/results.json")


@pytest.fixture(scope="module")
def judge_results():
    install_unit("sandbox-judge.service", f"{PREFIX}/venv/bin/python {SRC}/tests/systemd/judge_service.py {RESULTS}")
    try:
        started = subprocess.run(["systemctl", "start", "--wait", "sandbox-judge.service"],  # back once it exited
                                 capture_output=True, text=True, timeout=TIMEOUT)
        journal = subprocess.run(["journalctl", "--no-pager", "-u", "sandbox-judge.service"],
                                 capture_output=True, text=True, timeout=120).stdout
        assert started.returncode == 0 and RESULTS.exists(), f"{started.stderr}\n{journal}"
        yield json.loads(RESULTS.read_text())
    finally:
        remove_unit("sandbox-judge.service")


def test_the_shipped_unit_gives_each_box_a_cgroup_mle_and_tle_by_cgroup(judge_results):
    mle, tle, ok = judge_results["mle"], judge_results["tle"], judge_results["ok"]
    assert ok["verdict"] == "OK" and ok["stdout"] == "42\n", ok
    assert mle["verdict"] == "MLE" and "memory.max" in mle["enforced_by"]["memory"], mle
    assert tle["verdict"] == "TLE" and "cpu.stat" in tle["enforced_by"]["cpu_time"], tle
    assert ok["memory_peak"] is not None


def test_the_service_used_its_own_delegated_cgroup_not_a_scope(judge_results):
    cgroups = judge_results["cgroups"]
    assert cgroups["at_start"] == "0::/system.slice/sandbox-judge.service", cgroups
    # the supervisor moved itself into a leaf of the service's cgroup, to give the boxes controllers
    assert cgroups["at_end"].startswith("0::/system.slice/sandbox-judge.service/sandbox-supervisor-"), cgroups


def test_nothing_of_the_service_remains(judge_results):
    cgroups, processes = nothing_left()
    assert cgroups == [] and processes == [], (cgroups, processes)
    assert not Path("/sys/fs/cgroup/system.slice/sandbox-judge.service").exists()
