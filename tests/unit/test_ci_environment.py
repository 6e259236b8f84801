"""The ci profile's box environment as planned (issue 15): generated /etc files naming only the
box's own user, memory by a cgroup only (no RLIMIT_AS to cap threads), a devpts of its own, and
the profile keys that say so validated strictly.  tests/integration/test_ci_environment.py runs
the same in a box."""
from __future__ import annotations

import dataclasses

import pytest

from sandbox.errors import ProfileError
from sandbox.hostside import HostObject, HostSide
from sandbox.limits import Mechanism
from sandbox.plan import FALLBACK_NAME, Plan, Request, generated_files, make_plan
from sandbox.profile import load_profile

ETC = ("/etc/passwd", "/etc/group", "/etc/hosts", "/etc/nsswitch.conf")


def ci_plan(cgroup: frozenset[str] = frozenset(), name: str = "alice", **changes: object) -> Plan:
    """The ci profile planned without its binds (nothing of the host is needed)."""
    profile = load_profile("ci")
    mounts = tuple(entry for entry in profile.mounts if entry.kind != "bind")
    profile = dataclasses.replace(profile, mounts=mounts, **changes)
    return make_plan(profile, Request(program=("/bin/true",)), HostSide(), 1000, 1000, cgroup, caller_name=name)


def files(plan: Plan) -> dict[str, str]:
    return {op.target: op.content or "" for op in plan.mounts if op.kind == "file"}


def test_ci_gets_passwd_group_hosts_and_nsswitch_naming_only_the_callers_name():
    made = files(ci_plan(name="alice"))
    assert tuple(made) == ETC
    assert made["/etc/passwd"] == "alice:x:1000:1000:alice:/tmp:/bin/sh\n"
    assert made["/etc/group"] == "alice:x:1000:\n"
    assert made["/etc/hosts"].splitlines()[0].split() == ["127.0.0.1", "localhost", "sandbox"]
    assert "hosts: files\n" in made["/etc/nsswitch.conf"] and "dns" not in made["/etc/nsswitch.conf"]


@pytest.mark.parametrize("name", ["a:b", "evil\nroot:x:0:0::/:/bin/sh", "", "+", "-@wheel", "nul\0"])
def test_a_name_that_would_break_a_line_of_passwd_is_replaced_by_a_fixed_one(name):
    assert files(ci_plan(name=name))["/etc/passwd"].splitlines() == [
        f"{FALLBACK_NAME}:x:1000:1000:{FALLBACK_NAME}:/tmp:/bin/sh"]


def test_the_judging_profiles_and_an_image_get_no_generated_files():
    for name in ("sh", "py3", "native", "c", "cpp", "node"):
        assert generated_files(load_profile(name), "alice", "/") == ()
    image = HostObject("/srv/image", (1, 2), True)  # it has an /etc of its own, read-only
    profile = dataclasses.replace(load_profile("ci"), mounts=(), rootfs=image.path)
    plan = make_plan(profile, Request(program=("/bin/true",)), HostSide(rootfs=image), 1000, 1000)
    assert files(plan) == {}


def test_ci_memory_is_a_cgroups_or_none_never_rlimit_as():
    alone = ci_plan()
    assert "as" not in {spec.name for spec in alone.rlimits}
    assert dict(alone.enforced_by)["memory"] is Mechanism.NOT_ENFORCED_CGROUP_ONLY
    held = ci_plan(cgroup=frozenset({"memory", "pids", "cpu"}))
    assert dict(held.enforced_by)["memory"] is Mechanism.CGROUP_MEMORY_MAX
    assert held.cgroup is not None and ("memory.max", str(4 << 30)) in held.cgroup.files


def test_ci_has_a_devpts_of_its_own_loopback_and_64_mib_of_shm():
    plan = ci_plan()
    dev = [op for op in plan.mounts if op.kind == "dev"]
    assert [(op.pts, (op.size or 0) >= 64 << 20) for op in dev] == [(True, True)]
    assert plan.net == "loopback"
    sh = load_profile("sh")
    assert not any(entry.pts for entry in sh.mounts)  # a judged program gets no terminal to open


@pytest.mark.parametrize("extra, problem", [
    ("cgroup_only: [stack]", "cgroup_only: 'stack' is not a limit a cgroup enforces"),
    ("generated: [shadow]", "generated: unknown file 'shadow'"),
    ("mounts: [{dev: /dev, pts: yes please}]", "mounts[0].pts: expected true or false"),
])
def test_the_new_keys_are_validated(profile_with, extra, problem):
    path = profile_with(extra)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems
