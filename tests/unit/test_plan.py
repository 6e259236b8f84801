"""sandbox.plan.make_plan: Profile + Request -> Plan, on this machine's own paths (found first by
sandbox.hostlookup, as supervisor.prepare does).  test_plan_golden.py pins make_plan alone."""
from __future__ import annotations

import dataclasses
import math
import os
import pickle

import pytest

from sandbox.errors import UsageError
from sandbox.limits import Mechanism
from sandbox.mountns import MountOp
from sandbox.plan import Bind, Plan, Request
from sandbox.profile import load_profile
from sandbox.rlimits import RlimitSpec
from sandbox.seccomp import ArgCondition, SeccompRule

from planning import plan_here

M = 1 << 20
UID, GID = 1234, 5678


@pytest.fixture
def profile(minimal_profile_path):
    return load_profile(minimal_profile_path)


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "solution.py"
    path.write_text("print(1)\n")
    return str(path)


def plan_for(profile, uid=UID, **request):
    return plan_here(profile, Request(**request), uid, GID)


def ops_at(plan: Plan, target: str) -> list[MountOp]:
    return [op for op in plan.mounts if op.target == target]


def rlimit(plan: Plan, name: str) -> RlimitSpec:
    (spec,) = [r for r in plan.rlimits if r.name == name]
    return spec


# --- script mode ---------------------------------------------------------------------------------


def test_script_mode_argv(profile, script):
    plan = plan_for(profile, script=script, script_args=("a", "b c"))
    assert plan.argv == ("python3", "/work/solution.py", "a", "b c")
    assert plan.cwd == "/work"


def test_script_mode_binds_the_script_read_only_over_a_private_work_tmpfs(profile, script):
    plan = plan_for(profile, script=script)
    (work,) = ops_at(plan, "/work")
    assert work.kind == "tmpfs"
    (bind,) = ops_at(plan, "/work/solution.py")
    assert bind.kind == "bind"
    assert bind.source == script
    assert bind.readonly is True
    # /work must exist before the script is bound into it.
    assert plan.mounts.index(work) < plan.mounts.index(bind)


def test_relative_script_path_is_made_absolute(profile, script, monkeypatch):
    monkeypatch.chdir(os.path.dirname(script))
    plan = plan_for(profile, script="solution.py")
    (bind,) = ops_at(plan, "/work/solution.py")
    assert bind.source == script


def test_profile_mounts_come_first_in_profile_order(profile, script):
    plan = plan_for(profile, script=script)
    present = [m for m in profile.mounts if m.kind != "bind" or os.path.lexists(m.source)]  # /lib64 is optional
    head = plan.mounts[: len(present)]
    assert [op.target for op in head] == [m.target for m in present]
    for op, entry in zip(head, present):  # a bind of a host symlink (merged /usr) is that symlink in the box
        assert op.kind == ("symlink" if entry.kind == "bind" and os.path.islink(entry.source) else entry.kind)
    usr = ops_at(plan, "/usr")[0]
    assert (usr.source, usr.readonly, usr.identity) == ("/usr", True, (os.stat("/usr").st_dev, os.stat("/usr").st_ino))
    data = ops_at(plan, "/data")[0]
    assert (data.source, data.readonly) == ("/usr/share", False)


def test_profile_binds_are_found_on_the_host_when_planned(write_profile, minimal_profile_text, tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    text = minimal_profile_text.replace("  - proc: /proc\n", f"""  - bind: {tmp_path}/link
    to: /link
  - bind: {tmp_path}/gone
    optional: true
  - proc: /proc
""")
    plan = plan_for(load_profile(write_profile(text)), program=("true",))
    assert [(op.kind, op.source) for op in ops_at(plan, "/link")] == [("symlink", "real")]
    assert ops_at(plan, f"{tmp_path}/gone") == []  # optional and missing: left out
    missing = text.replace("    optional: true\n", "")
    with pytest.raises(UsageError, match=f"^profile missing: bind {tmp_path}/gone: no such file or directory$"):
        plan_for(load_profile(write_profile(missing, "missing.yaml")), program=("true",))


def test_tmpfs_sizes(profile, script):
    plan = plan_for(profile, script=script)
    assert ops_at(plan, "/scratch")[0].size == 2 * M  # its own size
    assert ops_at(plan, "/tmp")[0].size == 16 * M  # the profile's tmp_size
    assert ops_at(plan, "/tmp")[0].mode == 0o1777


@pytest.mark.parametrize("missing", ["nope.py", "dir/nope.py"])
def test_missing_script_is_a_usage_error(profile, tmp_path, missing):
    with pytest.raises(UsageError, match="nope.py"):
        plan_for(profile, script=str(tmp_path / missing))


def test_a_directory_is_not_a_script(profile, tmp_path):
    with pytest.raises(UsageError, match="not a regular file"):
        plan_for(profile, script=str(tmp_path))


def test_nothing_to_run_is_a_usage_error(profile):
    with pytest.raises(UsageError, match="nothing to run"):
        plan_for(profile)


def test_script_with_a_profile_that_runs_no_scripts(write_profile, script):
    profile = load_profile(write_profile("command: [cc]\nseccomp: {allow: [read]}\n"))
    with pytest.raises(UsageError, match="does not run scripts"):
        plan_for(profile, script=script)


# --- program mode --------------------------------------------------------------------------------


def test_program_mode(profile):
    plan = plan_for(profile, program=("/bin/echo", "hi"))
    assert plan.argv == ("/bin/echo", "hi")
    assert plan.cwd == "/work"
    (work,) = ops_at(plan, "/work")
    assert work.kind == "tmpfs"
    assert work.size == 16 * M
    # Nothing but the profile's mounts and the /work tmpfs.
    assert len(plan.mounts) == len(profile.mounts) + 1


def test_program_mode_ignores_the_profile_command(write_profile):
    profile = load_profile(write_profile("command: [cc]\nseccomp: {allow: [read]}\n"))
    assert plan_for(profile, program=("/usr/bin/true",)).argv == ("/usr/bin/true",)


# --- --workdir -----------------------------------------------------------------------------------


@pytest.fixture
def workdir(tmp_path):
    root = tmp_path / "work"
    (root / "sub").mkdir(parents=True)
    (root / "main.py").write_text("print(1)\n")
    (root / "sub" / "helper.py").write_text("print(2)\n")
    return root


def test_workdir_is_a_read_only_bind_at_work(profile, workdir):
    plan = plan_for(profile, program=("/bin/ls",), workdir=str(workdir))
    (work,) = ops_at(plan, "/work")
    assert work.kind == "bind"
    assert work.source == str(workdir)
    assert work.readonly is True
    assert not [op for op in plan.mounts if op.kind == "tmpfs" and op.target == "/work"]
    assert plan.cwd == "/work"


@pytest.mark.parametrize("relative, inside", [("main.py", "/work/main.py"), ("sub/helper.py", "/work/sub/helper.py")])
def test_script_inside_workdir_is_referenced_relative_to_work(profile, workdir, relative, inside):
    plan = plan_for(profile, script=str(workdir / relative), workdir=str(workdir))
    assert plan.argv == ("python3", inside)
    # Seen through the workdir bind: no extra bind of the script itself.
    assert not ops_at(plan, inside)
    assert [op.source for op in plan.mounts if op.kind == "bind" and op.target.startswith("/work")] == [str(workdir)]


def test_script_outside_workdir_is_a_usage_error(profile, workdir, script):
    with pytest.raises(UsageError, match="inside the work directory"):
        plan_for(profile, script=script, workdir=str(workdir))


def test_script_in_a_sibling_with_a_common_prefix_is_outside(profile, tmp_path, workdir):
    sibling = tmp_path / "work-other"
    sibling.mkdir()
    (sibling / "x.py").write_text("")
    with pytest.raises(UsageError):
        plan_for(profile, script=str(sibling / "x.py"), workdir=str(workdir))


def test_an_overlay_profile_puts_a_throwaway_layer_over_the_workdir(profile, workdir):
    overlay = dataclasses.replace(profile, workdir="overlay")
    plan = plan_for(overlay, program=("/bin/ls",), workdir=str(workdir), limits={"tmp_size": 8 * M})
    (work,) = ops_at(plan, "/work")
    assert (work.kind, work.source, work.readonly, work.size) == ("overlay", str(workdir), False, 8 * M)


def test_an_overlay_profile_binds_other_paths_as_asked(profile, workdir, tmp_path):
    overlay = dataclasses.replace(profile, workdir="overlay")
    plan = plan_for(overlay, program=("/bin/ls",), binds=(Bind(str(tmp_path), "/srv/in"),))
    assert [(op.kind, op.readonly) for op in ops_at(plan, "/srv/in")] == [("bind", True)]
    assert [op.kind for op in ops_at(plan, "/work")] == ["tmpfs"]


def test_a_writable_bind_at_work_is_the_real_directory(profile, workdir):
    plan = plan_for(profile, program=("/bin/ls",), binds=(Bind(str(workdir), "/work", writable=True),))
    (work,) = ops_at(plan, "/work")
    assert (work.kind, work.source, work.readonly) == ("bind", str(workdir), False)


def test_work_given_twice_is_a_usage_error(profile, workdir):
    with pytest.raises(UsageError, match="/work is given twice"):
        plan_for(profile, program=("/bin/ls",), workdir=str(workdir), binds=(Bind(str(workdir), "/work", True),))


def test_missing_workdir_is_a_usage_error(profile, tmp_path):
    with pytest.raises(UsageError, match="--workdir"):
        plan_for(profile, program=("/bin/true",), workdir=str(tmp_path / "nope"))


def test_workdir_must_be_a_directory(profile, script):
    with pytest.raises(UsageError, match="not a directory"):
        plan_for(profile, program=("/bin/true",), workdir=script)


# --- binds ---------------------------------------------------------------------------------------


def test_binds(profile, tmp_path):
    ro = tmp_path / "ro"
    rw = tmp_path / "rw"
    ro.mkdir()
    rw.mkdir()
    plan = plan_for(profile, program=("/bin/true",), binds=(Bind(str(ro), ""), Bind(str(rw), "/out/", True)))
    (ro_op,) = ops_at(plan, str(ro))  # no target: same path inside
    assert (ro_op.kind, ro_op.source, ro_op.readonly) == ("bind", str(ro), True)
    (rw_op,) = ops_at(plan, "/out")  # target normalised
    assert (rw_op.kind, rw_op.source, rw_op.readonly) == ("bind", str(rw), False)
    # The caller's binds come after the profile's mounts and the /work tmpfs.
    assert plan.mounts.index(ro_op) > plan.mounts.index(ops_at(plan, "/work")[0])


@pytest.mark.parametrize("writable, flag", [(False, "--bind"), (True, "--bind-rw")])
def test_missing_bind_source_is_a_usage_error(profile, tmp_path, writable, flag):
    with pytest.raises(UsageError, match=flag):
        plan_for(profile, program=("/bin/true",), binds=(Bind(str(tmp_path / "nope"), "/x", writable),))


def test_relative_bind_target_is_a_usage_error(profile, tmp_path):
    with pytest.raises(UsageError, match="absolute"):
        plan_for(profile, program=("/bin/true",), binds=(Bind(str(tmp_path), "relative/target"),))


# --- limits and rlimits --------------------------------------------------------------------------


def test_profile_limits_are_used_without_overrides(profile):
    plan = plan_for(profile, program=("/bin/true",))
    assert plan.limits == profile.limits


def test_limit_overrides_replace_profile_limits(profile):
    plan = plan_for(profile, program=("/bin/true",), limits={"memory": 32 * M, "cpu_time": 0.25, "pids": 3})
    assert plan.limits.memory == 32 * M
    assert plan.limits.cpu_time == 0.25
    assert plan.limits.pids == 3
    assert plan.limits.wall_time == profile.limits.wall_time  # untouched
    assert rlimit(plan, "as") == RlimitSpec("as", 32 * M, 32 * M)
    assert rlimit(plan, "cpu") == RlimitSpec("cpu", 2, 3)  # a backstop, a second past the limit
    assert rlimit(plan, "nproc") == RlimitSpec("nproc", 3 + 1, 3 + 1)  # the init counts too
    assert profile.limits.memory == 64 * M  # the profile itself is not changed


def test_limit_override_to_none_removes_the_limit(profile):
    plan = plan_for(profile, program=("/bin/true",), limits={"memory": None, "cpu_time": None, "pids": None})
    assert plan.limits.memory is None
    names = {r.name for r in plan.rlimits}
    assert not names & {"as", "cpu", "nproc"}
    assert not {"memory", "cpu_time", "pids"} & dict(plan.enforced_by).keys()


@pytest.mark.parametrize(
    "cpu_time, soft", [(0.001, 2), (0.5, 2), (1.0, 2), (1.2, 3), (1.5, 3), (2.0, 3), (2.0001, 4), (59.9, 61)]
)
def test_cpu_rlimit_is_only_a_backstop_a_second_past_the_limit(profile, cpu_time, soft):
    """The supervisor ends the box at the limit; RLIMIT_CPU (whole seconds, per process) fires only
    if that failed, never before the limit nor at it."""
    plan = plan_for(profile, program=("/bin/true",), limits={"cpu_time": cpu_time})
    assert rlimit(plan, "cpu") == RlimitSpec("cpu", soft, soft + 1)
    assert soft >= cpu_time + 1


def test_rlimits_from_the_profile(profile):
    plan = plan_for(profile, program=("/bin/true",))
    assert rlimit(plan, "core") == RlimitSpec("core", 0, 0)
    assert rlimit(plan, "cpu") == RlimitSpec("cpu", 3, 4)  # 1.5s, a backstop a second later
    assert rlimit(plan, "nproc") == RlimitSpec("nproc", 8 + 1, 8 + 1)  # the init counts too
    assert rlimit(plan, "fsize") == RlimitSpec("fsize", M, M)
    assert rlimit(plan, "nofile") == RlimitSpec("nofile", 64, 64)
    assert rlimit(plan, "stack") == RlimitSpec("stack", 8 * M, 8 * M)
    assert len({r.name for r in plan.rlimits}) == len(plan.rlimits)  # each at most once


def test_core_dumps_are_off_and_per_user_counts_capped_even_without_limits(write_profile):
    profile = load_profile(write_profile("seccomp: {allow: [read]}\n"))
    plan = plan_for(profile, program=("/bin/true",))
    assert plan.rlimits == (RlimitSpec("core", 0, 0), RlimitSpec("sigpending", 1024, 1024),
                            RlimitSpec("msgqueue", 256 << 10, 256 << 10), RlimitSpec("memlock", 1 << 20, 1 << 20))
    assert plan.enforced_by == (("shm_size", Mechanism.TMPFS_SIZE),)  # the one limit with a default (16M)
    counts = dict(plan.user_counts)
    assert counts["max_user_namespaces"] == 0 and counts["max_inotify_instances"] < 128


# --- enforced_by ---------------------------------------------------------------------------------


def test_enforced_by_names_a_mechanism_for_each_set_limit(profile):
    enforced = dict(plan_for(profile, program=("/bin/true",)).enforced_by)
    set_limits = {k for k, v in vars(profile.limits).items() if v is not None}
    assert set(enforced) == set_limits
    assert all(isinstance(v, Mechanism) for v in enforced.values())
    assert enforced["pids"] is Mechanism.RLIMIT_NPROC


def test_enforced_by_only_lists_set_limits(write_profile):
    profile = load_profile(write_profile("limits: {memory: 8M}\nseccomp: {allow: [read]}\n"))
    enforced = dict(plan_for(profile, program=("/bin/true",)).enforced_by)
    assert list(enforced) == ["memory", "shm_size"]  # shm_size: 16M where the profile does not say


def test_pids_is_not_enforced_for_root(profile):
    enforced = dict(plan_for(profile, uid=0, program=("/bin/true",)).enforced_by)
    assert enforced["pids"] is Mechanism.NOT_ENFORCED_NPROC_EXEMPTS_ROOT
    assert enforced["memory"] is Mechanism.RLIMIT_AS


# --- env, ids, net, seccomp ----------------------------------------------------------------------


def test_env_merges_profile_and_request(profile):
    plan = plan_for(profile, program=("/bin/true",), env=(("PATH", "/opt/bin"), ("EXTRA", "1")))
    env = dict(plan.env)
    assert env == {"PATH": "/opt/bin", "HOME": "/tmp", "EXTRA": "1"}
    assert len(plan.env) == len(env)  # no duplicate names


def test_env_is_the_profile_env_without_request(profile):
    assert plan_for(profile, program=("/bin/true",)).env == profile.env


def test_ids(profile):
    ids = plan_for(profile, program=("/bin/true",)).ids
    assert (ids.inside_uid, ids.inside_gid, ids.outside_uid, ids.outside_gid) == (1000, 1000, UID, GID)


@pytest.mark.parametrize("requested, expected", [(None, "none"), ("loopback", "loopback"), ("none", "none")])
def test_net(profile, requested, expected):
    assert plan_for(profile, program=("/bin/true",), net=requested).net == expected


def test_hostname(profile):
    assert plan_for(profile, program=("/bin/true",)).hostname == "sandbox"


def test_seccomp_spec_follows_the_profile(profile):
    spec = plan_for(profile, program=("/bin/true",)).seccomp
    assert spec.default == "ENOSYS"
    assert SeccompRule("read") in spec.allow
    assert SeccompRule("ioctl", ArgCondition(1, 0xFFFFFFFF, 0x5401)) in spec.allow
    assert spec.kill == (SeccompRule("ptrace"),)


def test_plan_is_picklable_and_hashable(profile, script):
    plan = plan_for(profile, script=script, env=(("A", "b"),))
    assert pickle.loads(pickle.dumps(plan)) == plan
    hash(plan.seccomp)  # the supervisor caches compiled filters by spec


def test_non_finite_cpu_time_is_rejected_before_planning(write_profile):
    from sandbox.errors import SandboxError

    with pytest.raises(SandboxError):
        profile = load_profile(write_profile("limits: {cpu_time: .nan}\nseccomp: {allow: [read]}\n"))
        plan_for(profile, program=("/bin/true",))


# --- rootfs and overlay ----------------------------------------------------------------------------


@pytest.fixture
def rootfs(tmp_path):
    root = tmp_path / "image"
    for directory in ("bin", "etc", "mnt", "tmp"):
        (root / directory).mkdir(parents=True)
    (root / "lib").symlink_to("usr/lib")
    return root


def test_a_rootfs_replaces_the_profiles_binds_with_its_own_entries(profile, rootfs):
    plan = plan_for(profile, program=("/bin/sh",), rootfs=str(rootfs))
    binds = [(op.target, op.source) for op in plan.mounts if op.kind == "bind"]
    assert binds == [(f"/{name}", str(rootfs / name)) for name in ("bin", "etc", "mnt", "tmp")]
    assert all(op.readonly for op in plan.mounts if op.kind == "bind")
    assert all(op.identity == (os.lstat(rootfs / op.target[1:]).st_dev, os.lstat(rootfs / op.target[1:]).st_ino)
               for op in plan.mounts if op.kind == "bind")
    assert [(op.target, op.source) for op in plan.mounts if op.kind == "symlink"] == [("/lib", "usr/lib")]
    assert {op.kind for op in plan.mounts} >= {"proc", "dev", "tmpfs"}  # the profile's own mounts stay


def test_an_image_entry_a_later_mount_cannot_go_into_is_left_out(profile, rootfs, tmp_path):
    plan = plan_for(profile, program=("/bin/sh",), rootfs=str(rootfs), binds=(Bind(str(tmp_path), "/mnt/data"),))
    assert "/mnt" not in [op.target for op in plan.mounts if op.kind == "bind"]  # /mnt/data is not in the image
    assert ops_at(plan, "/mnt/data")


def test_the_request_rootfs_overrides_the_profiles(profile, rootfs, tmp_path):
    other = tmp_path / "other"
    (other / "opt").mkdir(parents=True)
    plan = plan_for(dataclasses.replace(profile, rootfs=str(rootfs)), program=("/bin/sh",), rootfs=str(other))
    assert [op.source for op in plan.mounts if op.kind == "bind"] == [str(other / "opt")]


def test_a_kept_overlay_names_its_upper_directory(profile, workdir, tmp_path):
    plan = plan_for(profile, program=("/bin/ls",), overlay=(str(workdir), str(tmp_path / "layer")))
    (work,) = ops_at(plan, "/work")
    assert (work.kind, work.source, work.upper) == ("overlay", str(workdir), str(tmp_path / "layer"))


def test_an_upper_directory_that_is_a_symlink_is_refused(profile, workdir, tmp_path):
    (tmp_path / "link").symlink_to(tmp_path)
    with pytest.raises(UsageError, match="not a directory"):
        plan_for(profile, program=("/bin/ls",), overlay=(str(workdir), str(tmp_path / "link")))


def test_an_image_symlink_is_never_a_way_to_a_mount_point(profile, rootfs, tmp_path):
    """09_rootfs_symlink_mountpoint: image/mnt -> ../oldroot/HOME, and ../oldroot/HOME/data exists next to
    the image, so a check that follows the symlink on the host finds it; the entry must be left out."""
    (rootfs / "mnt").rmdir()
    (rootfs / "mnt").symlink_to("../oldroot/home/victim")
    (tmp_path / "oldroot" / "home" / "victim" / "data" / "x").mkdir(parents=True)
    plan = plan_for(profile, program=("/bin/sh",), rootfs=str(rootfs), binds=(Bind(str(tmp_path), "/mnt/data/x"),))
    assert [op for op in plan.mounts if op.target == "/mnt"] == []
    assert ops_at(plan, "/mnt/data/x")
