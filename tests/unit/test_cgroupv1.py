"""sandbox/cgroupv1.py's pure parts: the plan's cgroup v2 writes in v1's files, and paths within a
hierarchy.  Everything that touches a cgroup runs in the v1 VM tier (tests/cgroupv1), never here."""
from __future__ import annotations

from sandbox.cgroup import CgroupLimits
from sandbox.cgroupv1 import directory, in_each, translated, within

M64 = str(64 << 20)


def test_memory_becomes_limit_then_memsw_the_same_and_swap_max_has_no_v1_file():
    limits = CgroupLimits((("memory.max", M64), ("memory.swap.max", "0"), ("memory.oom.group", "1"),
                           ("pids.max", "16"), ("cpu.max", "50000 100000")))
    assert translated(limits, swap_accounted=True) == (
        ("memory", "memory.limit_in_bytes", M64), ("memory", "memory.memsw.limit_in_bytes", M64),
        ("pids", "pids.max", "16"))


def test_without_swap_accounting_the_box_is_kept_out_of_swap_as_far_as_it_goes():
    writes = translated(CgroupLimits((("memory.max", M64),)), swap_accounted=False)
    assert writes == (("memory", "memory.limit_in_bytes", M64), ("memory", "memory.swappiness", "0"))


def test_no_memory_limit_is_minus_one_in_v1():
    assert translated(CgroupLimits((("memory.max", "max"),)), swap_accounted=True)[0] == (
        "memory", "memory.limit_in_bytes", "-1")


def test_a_path_within_a_hierarchy_is_found_under_its_mount_and_outside_it_is_none():
    assert directory(("/sys/fs/cgroup/memory", "/"), "/user.slice/x") == "/sys/fs/cgroup/memory/user.slice/x"
    # A mount of a sub-tree (a container's view): paths are relative to that mount's root.
    assert directory(("/sys/fs/cgroup/memory", "/docker/abc"), "/docker/abc/box") == "/sys/fs/cgroup/memory/box"
    assert directory(("/sys/fs/cgroup/memory", "/docker/abc"), "/other") is None


def test_a_directory_under_a_mount_is_found_within_its_hierarchy_and_others_are_not(tmp_path):
    mounts = {"memory": (str(tmp_path / "memory"), "/"), "pids": (str(tmp_path / "pids"), "/")}
    (tmp_path / "memory" / "sandbox" / "judge").mkdir(parents=True)
    (tmp_path / "pids" / "sandbox" / "judge").mkdir(parents=True)
    assert within(str(tmp_path / "memory" / "sandbox" / "judge"), mounts) == "/sandbox/judge"
    assert within(str(tmp_path / "memoryx"), mounts) is None  # a sibling whose name starts alike
    assert in_each(mounts, "/sandbox/judge") == {c: str(tmp_path / c / "sandbox" / "judge") for c in mounts}
    assert directory(("/m", "/"), "/..x") == "/m/..x"  # a name starting with dots is inside
