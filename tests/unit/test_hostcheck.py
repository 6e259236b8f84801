"""A host that refuses user namespaces gets the cause and the fix, in one line."""
from __future__ import annotations

import pytest

from sandbox import hostcheck
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
