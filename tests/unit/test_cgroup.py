"""The cgroup module against a fake cgroup directory: reading, deciding and writing files.

No real cgroup is touched here (this host's hierarchies are not ours); the real kernel
is exercised by tests/cgroup inside the VM.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox import cgroup
from sandbox.limits import Mechanism
from sandbox.plan import Request
from sandbox.profile import load_profile

from planning import FULL, plan_here


def fake_cgroup(path: Path, controllers: str = "cpuset cpu io memory pids", procs: str = "",
                subtree: str = "") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, text in {"cgroup.controllers": controllers, "cgroup.procs": procs,
                       "cgroup.subtree_control": subtree}.items():
        (path / name).write_text(text)
    return path


def test_a_writable_subtree_with_the_controllers_is_usable(tmp_path):
    delegation = cgroup.inspect(str(fake_cgroup(tmp_path / "d")), "explicit")
    assert delegation.usable and delegation.controllers == ("cpuset", "cpu", "io", "memory", "pids")


def test_a_subtree_without_some_controllers_is_usable_and_says_which_are_missing(tmp_path):
    """systemd delegates only Delegate='s controllers: Debian 12 `pids memory cpu`, older setups no cpu."""
    for controllers, missing in (("cpu io", ("memory", "pids")), ("memory pids", ("cpu",)), ("pids", ("memory", "cpu"))):
        delegation = cgroup.inspect(str(fake_cgroup(tmp_path / controllers.replace(" ", "-"), controllers)), "explicit")
        assert delegation.usable and delegation.missing == missing
        assert delegation.delegated == frozenset(controllers.split()) - {"io"}


def test_a_subtree_without_any_of_the_controllers_is_refused_with_the_fix(tmp_path):
    delegation = cgroup.inspect(str(fake_cgroup(tmp_path / "d", controllers="cpuset io")), "explicit")
    assert not delegation.usable and delegation.missing == ("memory", "pids", "cpu")
    assert "lacks the memory pids cpu controller(s)" in delegation.problem
    assert "Delegate=cpu cpuset io memory pids" in delegation.problem


def test_other_processes_block_enabling_only_the_controllers_that_are_there(tmp_path):
    group = fake_cgroup(tmp_path / "d", controllers="memory pids", procs=f"{os.getpid()}\n1\n",
                        subtree="memory pids")  # already enabled: nothing to enable, the others may stay
    assert cgroup.inspect(str(group), "own cgroup").usable
    (group / "cgroup.subtree_control").write_text("memory")
    assert "no-internal-process" in cgroup.inspect(str(group), "own cgroup").problem


def test_a_subtree_enables_only_the_delegated_controllers(tmp_path):
    group = fake_cgroup(tmp_path / "d", controllers="io memory pids")
    subtree = cgroup.Subtree(cgroup.inspect(str(group), "explicit"))
    assert (group / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert subtree.controllers == frozenset({"memory", "pids"})


def test_a_box_without_the_cpu_controller_gets_only_memory_and_pids_files(tmp_path):
    limits = {"memory": 64 << 20, "pids": 16, "cpus": 0.5}
    plan = plan_here(load_profile("py3"), Request(program=("true",), limits=limits), cgroup=frozenset({"memory", "pids"}))
    cgroup.RunCgroup(str(tmp_path)).apply(plan.cgroup)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memory.max", "memory.oom.group", "memory.swap.max", "pids.max"]
    enforced = dict(plan.enforced_by)
    assert enforced["cpus"] is Mechanism.NOT_ENFORCED_CPU_NOT_DELEGATED
    assert enforced["cpu_time"] is Mechanism.CGROUP_CPU_STAT  # cpu.stat is a core file: no cpu controller needed
    assert enforced["memory"] is Mechanism.CGROUP_MEMORY_MAX and enforced["pids"] is Mechanism.CGROUP_PIDS_MAX
    assert {r.name for r in plan.rlimits}.isdisjoint({"as", "nproc"})


def test_a_box_with_only_the_pids_controller_caps_memory_by_rlimit_as(tmp_path):
    plan = plan_here(load_profile("py3"), Request(program=("true",), limits={"memory": 64 << 20, "pids": 16}),
                     cgroup=frozenset({"pids"}))
    assert plan.cgroup == cgroup.CgroupLimits((("pids.max", "16"),))
    assert [(r.soft, r.hard) for r in plan.rlimits if r.name == "as"] == [(64 << 20, 64 << 20)]
    assert "nproc" not in {r.name for r in plan.rlimits}
    enforced = dict(plan.enforced_by)
    assert enforced["memory"] is Mechanism.RLIMIT_AS and enforced["pids"] is Mechanism.CGROUP_PIDS_MAX


def test_a_box_without_the_memory_controller_reads_cpu_time_and_no_peaks(tmp_path):
    """No memory.* or pids.* file (no such controller, or memory.peak before 5.19, pids.peak before 6.1):
    the peaks are unknown to the cgroup, no OOM kill is seen, CPU time is still cpu.stat's."""
    (tmp_path / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    usage = cgroup.RunCgroup(str(tmp_path)).usage()
    assert usage == cgroup.CgroupUsage(memory_peak=None, oom_kills=0, pids_peak=None,
                                       cpu_usec=2_500_000, user_usec=2_000_000, system_usec=500_000)


def test_not_a_cgroup_directory(tmp_path):
    delegation = cgroup.inspect(str(tmp_path), "explicit")
    assert not delegation.usable and "not a cgroup v2 directory" in delegation.problem


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anything: permissions are not checked")
def test_a_subtree_not_delegated_to_us_is_refused(tmp_path):
    group = fake_cgroup(tmp_path / "d")
    (group / "cgroup.procs").chmod(0o444)
    delegation = cgroup.inspect(str(group), "explicit")
    assert not delegation.usable and "not delegated to this user" in delegation.problem


def test_other_processes_block_enabling_controllers(tmp_path):
    group = fake_cgroup(tmp_path / "d", procs=f"{os.getpid()}\n1\n")
    delegation = cgroup.inspect(str(group), "own cgroup")
    assert not delegation.usable and "no-internal-process" in delegation.problem
    # Alone in it (the supervisor under systemd-run --scope): usable, it will move into a leaf.
    (group / "cgroup.procs").write_text(f"{os.getpid()}\n")
    assert cgroup.inspect(str(group), "own cgroup").usable


def test_limits_are_written_as_the_kernel_expects(tmp_path):
    limits = {"memory": 64 << 20, "pids": 16, "cpus": 0.5}
    plan = plan_here(load_profile("py3"), Request(program=("true",), limits=limits), cgroup=FULL)
    cgroup.RunCgroup(str(tmp_path)).apply(plan.cgroup)
    assert (tmp_path / "memory.max").read_text() == str(64 << 20)
    assert (tmp_path / "memory.swap.max").read_text() == "0"
    assert (tmp_path / "memory.oom.group").read_text() == "1"
    assert (tmp_path / "pids.max").read_text() == "16"
    assert (tmp_path / "cpu.max").read_text() == "50000 100000"


def test_unset_limits_write_nothing(tmp_path):
    cgroup.RunCgroup(str(tmp_path)).apply(cgroup.CgroupLimits())
    assert list(tmp_path.iterdir()) == []


def test_usage_is_read_from_the_interface_files(tmp_path):
    (tmp_path / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n")
    (tmp_path / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n")
    (tmp_path / "memory.peak").write_text("104857600\n")
    usage = cgroup.RunCgroup(str(tmp_path)).usage()
    assert usage == cgroup.CgroupUsage(memory_peak=100 << 20, oom_kills=1, pids_peak=None,
                                       cpu_usec=1_500_000, user_usec=1_000_000, system_usec=500_000)


def test_stale_names_are_recognised_by_pid_and_start_time():
    mine = cgroup.RUN_PREFIX + cgroup._owner_tag() + "-0"
    assert cgroup._owner_alive(mine)
    pid, start = cgroup._owner_tag().split("-")
    assert not cgroup._owner_alive(f"{cgroup.RUN_PREFIX}{pid}-{int(start) + 1}-0")  # a reused pid
    assert not cgroup._owner_alive(f"{cgroup.LEAF_PREFIX}999999999-1")


def test_root_never_adopts_its_own_cgroup(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(cgroup, "cgroup2_mount", lambda: "/sys/fs/cgroup")
    assert cgroup.find_delegation(None) is None


def test_plan_with_a_cgroup_moves_memory_and_pids_off_rlimits():
    profile = load_profile("py3")
    plan = plan_here(profile, Request(program=("true",)), 1000, 1000, cgroup=FULL)
    assert {r.name for r in plan.rlimits}.isdisjoint({"as", "nproc"})
    assert plan.cgroup == cgroup.CgroupLimits((
        ("memory.max", str(profile.limits.memory)), ("memory.swap.max", "0"), ("memory.oom.group", "1"),
        ("pids.max", str(profile.limits.pids)),
    ))
    enforced = dict(plan.enforced_by)
    assert enforced["memory"] is Mechanism.CGROUP_MEMORY_MAX and enforced["pids"] is Mechanism.CGROUP_PIDS_MAX
    without = dict(plan_here(profile, Request(program=("true",)), 1000, 1000).enforced_by)
    assert "cgroup" not in " ".join(m.value for m in without.values()) and without["memory"] is Mechanism.RLIMIT_AS


def test_sandbox_ps_counts_from_proc_what_a_partial_cgroup_does_not(tmp_path):
    """A box's cgroup without the memory and pids controllers has no memory.current or pids.current:
    `sandbox ps` takes those from /proc (its members), the CPU time still from cpu.stat."""
    from sandbox.live import control, registry
    from sandbox.rlimits import RlimitSpec

    (tmp_path / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n")
    (tmp_path / "cgroup.events").write_text("populated 1\nfrozen 0\n")
    box = registry.LiveBox(name="b", id="1", pid=os.getpid(), start="", profile="sh", command=("/bin/sh",),
                           started=1.0, cgroup=str(tmp_path),
                           confinement=registry.Confinement("/work", (), (RlimitSpec("nofile", 64, 64),), b""))
    now = control.usage(box)
    assert now.cpu_time == 1.5 and now.measured_by == "cgroup"
    assert now.pids >= 1 and now.memory is not None and now.memory > 0


def test_a_subtree_removed_under_a_run_says_so_for_the_api_to_try_once_more(tmp_path):
    """systemd collects an emptied scope (a Sandbox's fork server killed from outside); the box's mkdir there
    is SubtreeGone, which Sandbox.run answers with one more attempt in the new server's scope."""
    import shutil

    group = tmp_path / "scope"
    fake_cgroup(group)
    subtree = cgroup.Subtree(cgroup.inspect(str(group), "explicit"))
    shutil.rmtree(group)
    with pytest.raises(cgroup.SubtreeGone, match="is gone"):
        subtree.new_run(cgroup.CgroupLimits())
