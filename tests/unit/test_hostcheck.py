"""A host that refuses user namespaces gets the cause and the fix, in one line."""
from __future__ import annotations

import pytest

from sandbox import cgroup, hostcheck
from sandbox.errors import HostError, SetupError
from sandbox.supervisor import _setup_error


@pytest.mark.parametrize("sysctl, value, words", [
    ("/proc/sys/kernel/unprivileged_userns_clone", "0", "sysctl -w kernel.unprivileged_userns_clone=1"),
    ("/proc/sys/user/max_user_namespaces", "0", "sysctl -w user.max_user_namespaces="),
    ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1", "AppArmor"),
])
def test_each_refusal_names_its_fix(monkeypatch, sysctl, value, words):
    monkeypatch.setattr(hostcheck, "_read_sysctl", lambda path: value if path == sysctl else None)
    reason = hostcheck.userns_refusal_reason()
    assert words in reason and "fix:" in reason and "\n" not in reason


def test_an_eperm_creating_the_user_namespace_becomes_a_host_error(monkeypatch):
    monkeypatch.setattr(hostcheck, "_read_sysctl", lambda path: "0" if "unprivileged_userns_clone" in path else None)
    error = _setup_error({"step": "user namespace", "errno": 1, "message": "unshare: Operation not permitted"})
    assert isinstance(error, HostError) and error.exit_code == 125
    assert "unprivileged_userns_clone" in error.message


def test_other_setup_failures_name_the_step():
    error = _setup_error({"step": "mount namespace", "errno": 2, "message": "bind /x -> /x: No such file"})
    assert isinstance(error, SetupError) and "mount namespace" in error.message


def fake_hierarchy(root, controllers: str):
    """A fake cgroup2 mount with one subtree delegated to us holding `controllers` (nothing real is touched)."""
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids")
    subtree = root / "user.slice" / "app.slice"
    subtree.mkdir(parents=True)
    for name, text in {"cgroup.controllers": controllers, "cgroup.procs": "", "cgroup.subtree_control": ""}.items():
        (subtree / name).write_text(text)
    return subtree


@pytest.mark.parametrize("controllers, words", [
    ("memory pids", ["no cpu controller", "cpus: not enforced: the cpu controller is not delegated"]),
    ("pids", ["no memory cpu controller", "memory: RLIMIT_AS (per process address space)", "cpus: not enforced"]),
])
def test_doctor_warns_of_missing_controllers_with_the_limits_that_fall_back(tmp_path, monkeypatch, controllers, words):
    monkeypatch.setattr(cgroup, "cgroup2_mount", lambda: str(tmp_path))
    subtree = fake_hierarchy(tmp_path, controllers)
    (check,) = [c for c in hostcheck._cgroup_checks(str(subtree)) if c.name == "delegated subtree"]
    assert not check.ok and not check.essential  # a warning: boxes still use the subtree
    assert all(word in check.detail for word in words), check.detail
    assert "/etc/systemd/system/user@.service.d/delegate.conf" in check.fix
    assert "Delegate=cpu cpuset io memory pids" in check.fix and "cgroup.subtree_control" in check.fix


def test_doctor_is_content_with_every_controller(tmp_path, monkeypatch):
    monkeypatch.setattr(cgroup, "cgroup2_mount", lambda: str(tmp_path))
    subtree = fake_hierarchy(tmp_path, "cpu memory pids")
    (check,) = [c for c in hostcheck._cgroup_checks(str(subtree)) if c.name == "delegated subtree"]
    assert check.ok and "controllers: cpu memory pids" in check.detail
