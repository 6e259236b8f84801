"""A host that refuses user namespaces gets the cause and the fix, in one line; `sandbox doctor` reads the
sysctls and the cgroup tree through roots the tests fake (issue 16: Ubuntu's AppArmor restriction, the
systemd user manager's delegated controllers)."""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import pytest

from sandbox import cgroup, cli, hostcheck
from sandbox.errors import HostError, SetupError
from sandbox.supervisor import _setup_error

APPARMOR = "kernel.apparmor_restrict_unprivileged_userns"


def fake_proc_sys(root: Path, **sysctls: str) -> str:
    """A /proc/sys tree holding only `sysctls` (dotted names with "." written as "__")."""
    for name, value in sysctls.items():
        path = root.joinpath(*name.split("__"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n")
    return str(root)


@pytest.mark.parametrize("sysctl, value, words", [
    ("kernel__unprivileged_userns_clone", "0", "fix: sysctl -w kernel.unprivileged_userns_clone=1"),
    ("user__max_user_namespaces", "0", "fix: sysctl -w user.max_user_namespaces="),
    ("kernel__apparmor_restrict_unprivileged_userns", "1", "AppArmor"),
    ("kernel__apparmor_restrict_unprivileged_userns", "0", "seccomp or a container runtime"),
])
def test_each_refusal_names_its_fix(tmp_path, sysctl, value, words):
    reason = hostcheck.userns_refusal_reason(fake_proc_sys(tmp_path, **{sysctl: value}))
    assert words in reason and "fix:" in reason and "\n" not in reason


def test_a_run_refused_by_apparmor_is_sent_to_doctor_for_the_profile(tmp_path):
    reason = hostcheck.userns_refusal_reason(fake_proc_sys(tmp_path, kernel__apparmor_restrict_unprivileged_userns="1"))
    assert f"{APPARMOR}=1" in reason and "`sandbox doctor` prints it" in reason
    assert os.path.realpath(sys.executable) in reason and f"sysctl -w {APPARMOR}=0" in reason


def test_an_eperm_creating_the_user_namespace_becomes_a_host_error(monkeypatch):
    monkeypatch.setattr(hostcheck, "_read_sysctl", lambda path: "0" if "unprivileged_userns_clone" in path else None)
    error = _setup_error({"step": "user namespace", "errno": 1, "message": "unshare: Operation not permitted"})
    assert isinstance(error, HostError) and error.exit_code == 125
    assert "unprivileged_userns_clone" in error.message


def test_other_setup_failures_name_the_step():
    error = _setup_error({"step": "mount namespace", "errno": 2, "message": "bind /x -> /x: No such file"})
    assert isinstance(error, SetupError) and "mount namespace" in error.message


def _by_name(checks: list[hostcheck.Check]) -> dict[str, hostcheck.Check]:
    return {check.name: check for check in checks}


def test_without_the_apparmor_sysctl_no_apparmor_line_is_printed(tmp_path):
    checks = hostcheck.userns_checks(fake_proc_sys(tmp_path, kernel__unprivileged_userns_clone="1"), works=True)
    assert [c.name for c in checks] == ["user namespaces"] and checks[0].ok


def test_apparmor_restriction_off_is_ok(tmp_path):
    check = _by_name(hostcheck.userns_checks(fake_proc_sys(tmp_path, kernel__apparmor_restrict_unprivileged_userns="0"),
                                             works=True))["AppArmor userns restriction"]
    assert check.ok and check.detail == f"off ({APPARMOR}=0)"


def test_apparmor_restriction_on_but_userns_working_is_ok_and_says_why(tmp_path):
    checks = _by_name(hostcheck.userns_checks(
        fake_proc_sys(tmp_path, kernel__apparmor_restrict_unprivileged_userns="1"), works=True))
    check = checks["AppArmor userns restriction"]
    assert check.ok and checks["user namespaces"].ok
    assert check.detail.startswith(f"on ({APPARMOR}=1), but {os.path.realpath(sys.executable)} may create")
    assert ("root is not restricted" if os.geteuid() == 0 else "an AppArmor profile already allows it") in check.detail


def test_apparmor_refusing_userns_prints_the_profile_for_this_interpreter_and_is_essential(tmp_path):
    checks = _by_name(hostcheck.userns_checks(
        fake_proc_sys(tmp_path, kernel__apparmor_restrict_unprivileged_userns="1"), works=False))
    python = os.path.realpath(sys.executable)
    userns, apparmor = checks["user namespaces"], checks["AppArmor userns restriction"]
    assert not userns.ok and userns.essential and "printed under `AppArmor userns restriction`" in userns.fix
    assert not apparmor.ok and apparmor.essential and "\n" not in apparmor.fix
    assert apparmor.fix.startswith("fix: as root, write /etc/apparmor.d/sandbox-python")
    assert f"lets {python}, and only that interpreter," in apparmor.fix
    assert "`apparmor_parser -r /etc/apparmor.d/sandbox-python`" in apparmor.fix and f"{APPARMOR}=0" in apparmor.fix
    assert apparmor.more == ("abi <abi/4.0>,", "include <tunables/global>",
                             f"profile sandbox-python {python} flags=(unconfined) {{", "  userns,",
                             "  include if exists <local/sandbox-python>", "}")


@pytest.mark.parametrize("sysctl, fix", [
    ("kernel__unprivileged_userns_clone", "fix: sysctl -w kernel.unprivileged_userns_clone=1"),
    ("user__max_user_namespaces", "fix: sysctl -w user.max_user_namespaces=15000"),
])
def test_debian_sysctls_refusing_userns_name_their_fix(tmp_path, sysctl, fix):
    checks = hostcheck.userns_checks(fake_proc_sys(tmp_path, **{sysctl: "0"}), works=False)
    assert [(c.name, c.ok, c.essential, c.fix) for c in checks] == [("user namespaces", False, True, fix)]
    assert f"{sysctl.replace('__', '.')}=0" in checks[0].detail


def test_doctor_on_an_apparmor_restricted_host_prints_the_profile_and_exits_1(tmp_path, monkeypatch, capsys):
    proc_sys = fake_proc_sys(tmp_path, kernel__apparmor_restrict_unprivileged_userns="1")
    monkeypatch.setattr(hostcheck, "report", functools.partial(hostcheck.report, proc_sys=proc_sys))
    monkeypatch.setattr(hostcheck, "userns_works", lambda: False)
    assert cli._cmd_doctor(None) == 1
    lines = capsys.readouterr().out.splitlines()
    index = lines.index(f"FAIL AppArmor userns restriction: on ({APPARMOR}=1), and no AppArmor profile lets "
                        f"{os.path.realpath(sys.executable)} create user namespaces")
    assert lines[index + 1].startswith("     fix: as root, write /etc/apparmor.d/sandbox-python")
    assert lines[index + 2:index + 8] == ["         " + line for line in hostcheck.apparmor_profile(
        os.path.realpath(sys.executable))]
    assert lines[-1].startswith("the sandbox cannot run here: user namespaces, AppArmor userns restriction")


def fake_user_manager(tmp_path: Path, top: str, delegated: str, uid: int = 4242, running: bool = True,
                      nest: tuple[str, ...] = ("user.slice", "user-4242.slice")) -> dict:
    """A cgroup2 mount with user@UID.service (cgroup.controllers = `delegated`), a runtime dir, /run/systemd/system."""
    mount = tmp_path / "cgroup"
    group = mount.joinpath(*nest, f"user@{uid}.service")
    group.mkdir(parents=True)
    (mount / "cgroup.controllers").write_text(top + "\n")
    (group / "cgroup.controllers").write_text(delegated + "\n")
    runtime = tmp_path / "run-user"
    (runtime / "systemd").mkdir(parents=True)
    if running:
        (runtime / "systemd" / "private").touch()
    (tmp_path / "run-systemd-system").mkdir()
    return dict(mount=str(mount), uid=uid, runtime_dir=str(runtime), systemd_dir=str(tmp_path / "run-systemd-system"))


def test_a_user_manager_with_cpu_memory_pids_is_ok_and_names_them(tmp_path):
    check = hostcheck.user_manager_check(**fake_user_manager(tmp_path, "cpuset cpu io memory pids", "cpu memory pids"))
    assert check.ok and not check.essential
    assert check.detail == ("running (user@4242.service); delegated controllers: cpu memory pids; "
                            "runs get a delegated scope from the user manager automatically")


def test_a_user_manager_found_off_the_usual_slice_is_still_read(tmp_path):
    check = hostcheck.user_manager_check(**fake_user_manager(tmp_path, "cpu memory pids", "cpu memory pids",
                                                             nest=("custom.slice",)))
    assert check.ok and "delegated controllers: cpu memory pids" in check.detail


def test_a_user_manager_without_cpu_gets_the_delegate_drop_in(tmp_path):
    check = hostcheck.user_manager_check(**fake_user_manager(tmp_path, "cpuset cpu io memory pids", "memory pids"))
    assert not check.ok and not check.essential
    assert check.detail == ("running (user@4242.service); delegated controllers: memory pids; without cpu: "
                            "`cpus` (cpu.max) is not enforced (CPU time is still measured from cpu.stat)")
    assert check.fix == ("fix: as root, write /etc/systemd/system/user@.service.d/delegate.conf with the lines below, "
                         "run `systemctl daemon-reload`, then log out and in again "
                         "(or `systemctl restart user@4242.service`)")
    assert check.more == ("[Service]", "Delegate=cpu cpuset io memory pids")


def test_a_user_manager_without_memory_and_pids_names_their_rlimit_fallbacks(tmp_path):
    check = hostcheck.user_manager_check(**fake_user_manager(tmp_path, "cpu memory pids", "cpu"))
    assert "without memory pids: memory falls back to RLIMIT_AS per process; pids to RLIMIT_NPROC" in check.detail


def test_controllers_missing_from_cgroup_v2_itself_need_a_unified_boot_not_a_drop_in(tmp_path):
    check = hostcheck.user_manager_check(**fake_user_manager(tmp_path, "hugetlb", ""))
    assert "delegated controllers: none" in check.detail and check.more == ()
    assert check.fix.startswith("fix: boot with systemd.unified_cgroup_hierarchy=1")


def test_no_user_manager_says_why_and_what_limits_are_left(tmp_path):
    check = hostcheck.user_manager_check(**fake_user_manager(tmp_path, "cpu memory pids", "", running=False))
    assert not check.ok and not check.essential and "\n" not in check.fix
    assert check.detail.startswith("not running for 4242 (no ") and "not logged in through a systemd session" in check.detail
    assert "`loginctl enable-linger 4242`" in check.fix and "--cgroup-root / SANDBOX_CGROUP_ROOT" in check.fix


def test_a_host_without_systemd_says_so(tmp_path):
    paths = fake_user_manager(tmp_path, "cpu memory pids", "", running=False)
    check = hostcheck.user_manager_check(**{**paths, "systemd_dir": str(tmp_path / "absent")})
    assert not check.ok and "this host does not run systemd" in check.detail and "--cgroup-root" in check.fix


def test_doctor_prints_the_drop_in_under_the_warning_and_still_exits_0(tmp_path, monkeypatch, capsys):
    paths = fake_user_manager(tmp_path, "cpu memory pids", "memory pids")
    manager = hostcheck.user_manager_check(**paths)
    monkeypatch.setattr(hostcheck, "report", lambda cgroup_root: [manager])
    assert cli._cmd_doctor(None) == 0
    assert capsys.readouterr().out.splitlines()[2:] == [
        "         [Service]", "         Delegate=cpu cpuset io memory pids",
        "the sandbox can run here (see the warnings above)"]


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
