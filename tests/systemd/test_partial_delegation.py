"""A user manager given only some controllers (older systemd: `Delegate=pids memory`, no cpu): runs still
get a scope, and what was delegated limits them; doctor says what falls back and prints the drop-in."""
from __future__ import annotations

import pytest
from machine import as_user, nothing_left, root, sandbox_json

DROP_IN = "/etc/systemd/system/user@.service.d/sandbox-test-partial.conf"
HOG = "x = bytearray(200 << 20); print(len(x))"


@pytest.fixture(scope="module", autouse=True)
def manager_without_cpu():
    uid = as_user("id -u").stdout.strip()
    root("mkdir", "-p", "/etc/systemd/system/user@.service.d")
    with open(DROP_IN, "w") as f:
        f.write("[Service]\nDelegate=\nDelegate=pids memory\n")  # the empty line resets the list
    _restart_manager(uid)
    try:
        controllers = open(f"/sys/fs/cgroup/user.slice/user-{uid}.slice/user@{uid}.service/cgroup.controllers").read()
        assert controllers.split() == ["memory", "pids"], controllers
        yield
    finally:
        root("rm", "-f", DROP_IN)
        _restart_manager(uid)
        assert nothing_left() == ([], [])


def _restart_manager(uid: str) -> None:
    root("systemctl", "daemon-reload")
    root("systemctl", "restart", f"user@{uid}.service")
    root("systemctl", "is-active", f"user@{uid}.service")


def test_memory_and_pids_are_the_cgroups_and_cpus_says_it_is_not_enforced():
    result = sandbox_json("--profile", "py3", "--cpus", "0.5", "--", "/usr/bin/python3", "-c", "print(1)")
    assert result["verdict"] == "OK", result
    assert "memory.max" in result["enforced_by"]["memory"] and "pids.max" in result["enforced_by"]["pids"]
    assert result["enforced_by"]["cpus"].startswith("not enforced: the cpu controller is not delegated")
    assert "cpu.stat" in result["enforced_by"]["cpu_time"]  # a core file: CPU time is still the box's


def test_mle_is_still_the_cgroups():
    result = sandbox_json("--profile", "py3", "--memory", "64M", "--", "/usr/bin/python3", "-c", HOG)
    assert result["verdict"] == "MLE", result


def test_doctor_warns_and_prints_the_drop_in_that_delegates_cpu():
    doctor = as_user("sandbox doctor")
    assert doctor.returncode == 0, doctor.stdout
    assert "warn systemd user manager" in doctor.stdout and "without cpu" in doctor.stdout, doctor.stdout
    assert "/etc/systemd/system/user@.service.d/delegate.conf" in doctor.stdout
    assert "Delegate=cpu cpuset io memory pids" in doctor.stdout, doctor.stdout
