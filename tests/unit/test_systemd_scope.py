"""sandbox.systemd: when a run asks the user's systemd manager for a delegated scope, and what it asks.

This host has no systemd: a stand-in manager (fake_manager.py) answers on a private socket made in
tmp_path, and a fake cgroup2 tree stands in for the hierarchy.  The real manager moving the
process into the scope, and the limits that follow, are tested in the systemd VM tier
(tests/systemd).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from fake_manager import FakeManager
from sandbox import cgroup, cli, systemd
from sandbox.errors import HostError, UsageError


@pytest.mark.parametrize("value, wish", [("", None), ("auto", None), ("1", True), ("yes", True), ("0", False),
                                         ("off", False)])
def test_the_setting_comes_from_the_environment_when_no_flag_says(monkeypatch, value, wish):
    monkeypatch.setenv("SANDBOX_SYSTEMD_SCOPE", value)
    assert systemd.setting(None) is wish
    assert systemd.setting(True) is True and systemd.setting(False) is False  # a flag wins


def test_a_setting_that_is_none_of_the_words_is_a_user_error(monkeypatch):
    monkeypatch.setenv("SANDBOX_SYSTEMD_SCOPE", "maybe")
    with pytest.raises(UsageError, match="SANDBOX_SYSTEMD_SCOPE"):
        systemd.setting(None)


def test_a_plain_user_on_a_systemd_host_gets_a_scope_by_default(systemd_host):
    assert systemd.wanted(None, None)


def test_no_scope_is_asked_for_when_the_caller_opts_out_or_names_a_root(systemd_host, monkeypatch):
    assert not systemd.wanted(False, None)
    assert not systemd.wanted(None, "/sys/fs/cgroup/mine")
    monkeypatch.setenv("SANDBOX_CGROUP_ROOT", "/sys/fs/cgroup/mine")
    assert not systemd.wanted(None, None)
    monkeypatch.delenv("SANDBOX_CGROUP_ROOT")
    monkeypatch.setenv("SANDBOX_SYSTEMD_SCOPE", "0")
    assert not systemd.wanted(None, None)


def test_no_scope_where_our_own_cgroup_is_delegated_already(systemd_host, monkeypatch, tmp_path):
    """A Delegate=yes service (or a scope we are already in) needs none: its own cgroup is used."""
    monkeypatch.setattr(cgroup, "find_delegation",
                        lambda explicit, residents=(): cgroup.Delegation(str(tmp_path), ("memory",), "own cgroup"))
    assert not systemd.wanted(None, None)


def test_no_scope_on_a_hybrid_host_whose_cgroup2_has_no_controller_of_ours(systemd_host, tmp_path):
    (tmp_path / "cgroup" / "cgroup.controllers").write_text("hugetlb\n")  # this very machine
    assert not systemd.wanted(None, None)
    assert systemd.wanted(True, None)  # asked for, it is tried all the same


def test_no_scope_without_a_user_manager_and_an_error_when_one_was_asked_for(systemd_host, runtime):
    systemd_host.path.unlink()
    assert not systemd.wanted(None, None)
    with pytest.raises(HostError, match="no systemd user manager.*fix: .*enable-linger"):
        systemd.wanted(True, None)


def test_root_gets_no_scope_by_default(systemd_host, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert not systemd.wanted(None, None)


def test_the_scope_asked_for_is_delegated_collected_and_holds_the_given_pids(systemd_host, monkeypatch):
    moved = {}
    monkeypatch.setattr(cgroup, "cgroup_of", lambda pid: moved.get(pid, "/user.slice/session-3.scope"))

    real_call = systemd._call_start_transient_unit

    def call_then_move(socket_path, name, pids, purpose):
        real_call(socket_path, name, pids, purpose)
        for pid in pids:
            moved[pid] = f"/user.slice/user-1000.slice/user@1000.service/app.slice/{name}"
    monkeypatch.setattr(systemd, "_call_start_transient_unit", call_then_move)

    path = systemd.start_scope([4242], "a test")
    ((member, (name, mode, properties, aux)),) = systemd_host.calls
    assert member == "StartTransientUnit" and mode == "fail" and aux == []
    assert name.startswith("sandbox-") and name.endswith(".scope")
    assert dict(properties)["Delegate"] == ("b", True)
    assert dict(properties)["PIDs"] == ("au", [4242])
    assert dict(properties)["CollectMode"] == ("s", "inactive-or-failed")
    assert path == str(Path(cgroup.cgroup2_mount()) / f"user.slice/user-1000.slice/user@1000.service/app.slice/{name}")


@pytest.mark.parametrize("answer, words", [("refuse", "refused .*AccessDenied: not for you"),
                                           ("hangup", "cannot talk to the user manager")])
def test_a_manager_that_refuses_or_hangs_up_is_a_scope_refusal_with_its_words(systemd_host, answer, words):
    systemd_host.answer = answer
    with pytest.raises(systemd.ScopeRefused, match=words):
        systemd.start_scope([4242], "a test")


def test_a_scope_the_manager_accepted_but_never_filled_is_a_refusal_not_a_hang(systemd_host, monkeypatch):
    monkeypatch.setattr(systemd, "_JOB_TIMEOUT", 0.2)
    with pytest.raises(systemd.ScopeRefused, match="did not move pid"):
        systemd.start_scope([os.getpid()], "a test")


def test_the_cli_says_in_one_line_that_a_scope_it_asked_for_was_refused(systemd_host, capsys):
    systemd_host.answer = "refuse"
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "--systemd-scope", "--profile", "sh", "--", "/bin/true"])
    assert exit_.value.code == 125
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "AccessDenied" in err and "Traceback" not in err


def test_the_cli_runs_on_with_a_note_when_its_default_scope_is_refused(systemd_host, capsys):
    systemd_host.answer = "refuse"
    cli._enter_systemd_scope(None, None)  # returns: the run goes on without a scope
    err = capsys.readouterr().err
    assert err.startswith("sandbox: note: ") and err.count("\n") == 1 and "limits are rlimits" in err
    assert len(systemd_host.calls) == 1


def test_the_cli_asks_nothing_when_told_not_to(systemd_host, capsys):
    cli._enter_systemd_scope(False, None)
    assert systemd_host.calls == [] and capsys.readouterr().err == ""


def test_doctor_says_runs_get_a_scope_where_they_would(systemd_host, tmp_path, monkeypatch):
    from sandbox import hostcheck

    monkeypatch.setattr(os, "getuid", lambda: 1000)
    manager = tmp_path / "cgroup" / "user.slice" / "user-1000.slice" / "user@1000.service"
    manager.mkdir()
    for name in ("cgroup.controllers", "memory.peak", "cgroup.kill", "memory.swap.max"):
        (manager / name).write_text("cpu memory pids\n" if name == "cgroup.controllers" else "0\n")
    checks = {c.name: c for c in hostcheck._cgroup_checks(None)}
    assert checks["delegated subtree"].ok and "transient delegated scope" in checks["delegated subtree"].detail
    assert checks["cgroup features"].ok
    monkeypatch.setenv("SANDBOX_SYSTEMD_SCOPE", "0")
    checks = {c.name: c for c in hostcheck._cgroup_checks(None)}
    assert not checks["delegated subtree"].ok  # opted out: no subtree at all


@pytest.mark.parametrize("own, asks", [("/user.slice/user-1000.slice/session-3.scope", True),
                                       ("/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope", True),
                                       ("/system.slice/judge.service", False),
                                       ("/user.slice/user-1001.slice/session-9.scope", False)])
def test_only_the_users_own_cgroups_ask_for_a_scope_never_a_system_service(systemd_host, monkeypatch, own, asks):
    """A system service without Delegate= stays where its admin put it: a scope would take its boxes past its
    TasksMax=/MemoryMax= and out of its `systemctl stop` (red team, tests/systemd/test_scope_edges.py)."""
    monkeypatch.undo()  # the fixture's _in_users_slice stand-in, among others: set again below
    monkeypatch.setattr(cgroup, "cgroup2_mount", lambda: str(systemd_host.path.parent.parent.parent / "cgroup"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(systemd_host.path.parent.parent))
    monkeypatch.setattr(cgroup, "find_delegation", lambda explicit, residents=(): None)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(os, "getuid", lambda: 1000)
    monkeypatch.setattr(cgroup, "cgroup_of", lambda pid: own)
    assert systemd.wanted(None, None) is asks
    assert systemd.wanted(True, None)  # asked for, it is asked for anywhere
