"""cgroupspy (PyPI cgroupspy 0.2.3, the v1 backend's library) on the hybrid layout, as the unprivileged user.

What works is asserted as it works; what is missing or broken is asserted as it actually behaves, so a
change in a later cgroupspy release shows up here."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
from pathlib import Path

import pytest
from v1box import ALLOCATE, MiB, procs, python, spawn_in, wait_until

trees = pytest.importorskip("cgroupspy.trees")
from cgroupspy import controllers, nodes  # noqa: E402


def relative(root: Path) -> str:
    """A Tree node's path for a directory: relative to /sys/fs/cgroup, with a leading slash."""
    return "/" + str(root.relative_to("/sys/fs/cgroup"))


@pytest.fixture
def tree(roots):
    """A Tree of all /sys/fs/cgroup, only where the tier runs (roots: in the VM)."""
    return trees.Tree()


def test_the_tree_walks_the_hybrid_layout_symlinks_and_all(tree):
    """Tree() reads all of /sys/fs/cgroup at construction: every mount (v1, name=systemd, the cgroup2
    `unified`) and the cpu/cpuacct symlinks, followed as directories (so cpu,cpuacct is walked three times)."""
    names = {child.name for child in tree.root.children}
    assert {b"memory", b"cpu,cpuacct", b"cpu", b"cpuacct", b"pids", b"freezer", b"systemd", b"unified"} <= names
    kinds = {child.name: type(child.controller).__name__ for child in tree.root.children}
    assert kinds[b"memory"] == "MemoryController"
    assert kinds[b"cpu"] == "CpuController" and kinds[b"cpuacct"] == "CpuAcctController"  # via the symlinks
    # No controller class for a co-mounted name, for pids, for freezer, for the named or the v2 hierarchy.
    for name in (b"cpu,cpuacct", b"pids", b"freezer", b"systemd", b"unified"):
        assert kinds[name] == "NoneType", name
    assert set(nodes.Node.CONTROLLERS) == {b"memory", b"cpuset", b"cpu", b"cpuacct", b"devices", b"blkio",
                                          b"net_cls", b"net_prio"}


def test_the_delegated_node_is_found_by_path(tree, roots):
    node = tree.get_node_by_path(relative(roots["memory"]))
    assert node is not None and node.full_path == str(roots["memory"]).encode()
    assert isinstance(node.controller, controllers.MemoryController)
    # A Tree restricted to one hierarchy walks less; paths stay relative to /sys/fs/cgroup.
    memory_only = trees.Tree(groups=[b"memory"])
    assert memory_only.get_node_by_path(relative(roots["memory"])) == node


def test_memory_limits_peak_failcnt_and_oom_control_through_the_controller(tree, roots):
    parent = tree.get_node_by_path(relative(roots["memory"]))
    name = f"sandbox-run-spy-{os.getpid()}"
    node = parent.create_cgroup(name)
    try:
        memory = node.controller
        assert memory.limit_in_bytes == 9223372036854771712  # unlimited reads as a number, not None
        with pytest.raises(OSError) as raised:
            memory.memsw_limit_in_bytes = 32 * MiB  # cgroupspy does not order the writes: memsw < limit
        assert raised.value.errno == errno.EINVAL
        memory.limit_in_bytes = 32 * MiB
        memory.memsw_limit_in_bytes = 32 * MiB
        assert memory.limit_in_bytes == memory.memsw_limit_in_bytes == 32 * MiB
        child = spawn_in([Path(node.full_path.decode())], ALLOCATE + [str(200 * MiB)], stdout=subprocess.PIPE)
        child.communicate(timeout=120)
        assert child.returncode == -signal.SIGKILL
        assert memory.oom_control == {"oom_kill_disable": 0, "under_oom": 0, "oom_kill": 1}
        assert memory.failcnt == 0 and memory.memsw_failcnt > 0  # memsw == limit: the memsw counter fails
        assert 24 * MiB < memory.max_usage_in_bytes <= 32 * MiB
        assert memory.memsw_max_usage_in_bytes <= 32 * MiB
        memory.memsw_limit_in_bytes = None  # None writes -1: unlimited (memsw first when raising)
        memory.limit_in_bytes = None
        assert memory.limit_in_bytes == 9223372036854771712
    finally:
        parent.delete_cgroup(name)
    assert not roots["memory"].joinpath(name).exists()


def test_procs_and_tasks_through_the_controller(tree, roots):
    parent = tree.get_node_by_path(relative(roots["memory"]))
    name = f"sandbox-run-spy-{os.getpid()}"
    node = parent.create_cgroup(name)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        node.controller.procs = [sleeper.pid]  # one pid per write works (a list of several is one write: EINVAL)
        assert node.controller.procs == [sleeper.pid] and node.controller.tasks == [sleeper.pid]
        other = subprocess.Popen(["sleep", "60"])
        try:
            with pytest.raises(OSError) as raised:
                node.controller.procs = [other.pid, sleeper.pid]
            assert raised.value.errno == errno.EINVAL
        finally:
            other.kill()
            other.wait()
    finally:
        sleeper.kill()
        sleeper.wait()
        wait_until(lambda: not procs(Path(node.full_path.decode())))
        parent.delete_cgroup(name)


def test_cpuacct_usage_only_through_the_cpuacct_symlink(tree, roots):
    """The delegated node under cpu,cpuacct has no controller; the same directory under the cpuacct symlink
    has CpuAcctController, whose `usage` works."""
    assert tree.get_node_by_path(relative(roots["cpu,cpuacct"])).controller is None
    via_link = tree.get_node_by_path("/cpuacct" + relative(roots["cpu,cpuacct"])[len("/cpu,cpuacct"):])
    assert isinstance(via_link.controller, controllers.CpuAcctController)
    name = f"sandbox-run-spy-{os.getpid()}"
    node = via_link.create_cgroup(name)
    try:
        child = spawn_in([Path(node.full_path.decode())], python(
            "import time\nwhile time.process_time() < 0.3: pass\n"))
        assert child.wait(timeout=120) == 0
        assert node.controller.usage >= 0.25e9
        assert sum(node.controller.usage_percpu) == pytest.approx(node.controller.usage, rel=0.05)
        # The cpu symlink's node gives CpuController, whose cfs quota works too.
        cpu = tree.get_node_by_path("/cpu" + relative(roots["cpu,cpuacct"])[len("/cpu,cpuacct"):])
        cpu_child = nodes.Node(name, parent=cpu)
        cpu_child.controller.cfs_quota_us = 50000
        assert cpu_child.controller.cfs_quota_us == 50000
        cpu_child.controller.cfs_quota_us = None  # -1: no quota
        assert cpu_child.controller.cfs_quota_us is None
    finally:
        via_link.delete_cgroup(name)


def test_pids_and_freezer_have_no_controller_class_only_the_generic_one(tree, roots):
    """No PidsController or FreezerController: the node's controller is None.  The base Controller class
    reads and writes any file, but only with a bytes file name (a str one is a TypeError: the node's path is
    bytes)."""
    for hierarchy in ("pids", "freezer"):
        parent = tree.get_node_by_path(relative(roots[hierarchy]))
        assert parent.controller is None
        node = parent.create_cgroup(f"sandbox-run-spy-{os.getpid()}")
        try:
            generic = controllers.Controller(node)
            with pytest.raises(TypeError):
                generic.get_property("cgroup.procs")
            if hierarchy == "pids":
                generic.set_property(b"pids.max", 5)
                assert generic.get_property(b"pids.max") == "5"
                assert generic.get_property(b"pids.peak") == "0"
            else:
                generic.set_property(b"freezer.state", "FROZEN")
                assert wait_until(lambda: generic.get_property(b"freezer.state") == "FROZEN")
                generic.set_property(b"freezer.state", "THAWED")
                assert generic.get_property(b"freezer.state") == "THAWED"
        finally:
            parent.delete_cgroup(f"sandbox-run-spy-{os.getpid()}")


def test_create_cgroup_silently_reuses_an_existing_directory(tree, roots):
    """create_cgroup swallows EEXIST: it cannot tell a fresh cgroup from a stale one (a backend that wants a
    cgroup of its own must mkdir itself)."""
    parent = tree.get_node_by_path(relative(roots["memory"]))
    name = f"sandbox-run-spy-{os.getpid()}"
    (roots["memory"] / name).mkdir()  # made after the Tree was built, as by another process
    try:
        node = parent.create_cgroup(name)  # no error
        assert node.full_path == str(roots["memory"] / name).encode()
        # A second create on the same Tree fails only because the Tree remembers its own children...
        with pytest.raises(RuntimeError):
            parent.create_cgroup(name)
        # ...and so does a Tree built after the directory appeared.
        with pytest.raises(RuntimeError):
            trees.Tree().get_node_by_path(relative(roots["memory"])).create_cgroup(name)
    finally:
        os.rmdir(roots["memory"] / name)


def test_delete_cgroup_wants_a_str_and_a_busy_cgroup_is_ebusy(tree, roots):
    parent = tree.get_node_by_path(relative(roots["memory"]))
    name = f"sandbox-run-spy-{os.getpid()}"
    parent.create_cgroup(name.encode())  # create_cgroup takes bytes or str
    with pytest.raises(AttributeError):
        parent.delete_cgroup(name.encode())  # delete_cgroup calls name.encode(): bytes fail
    sleeper = spawn_in([roots["memory"] / name], ["sleep", "60"])
    try:
        with pytest.raises(OSError) as raised:
            parent.delete_cgroup(name)
        assert raised.value.errno == errno.EBUSY
    finally:
        sleeper.kill()
        sleeper.wait()
    assert wait_until(lambda: not procs(roots["memory"] / name))
    parent.delete_cgroup(name)
    assert not (roots["memory"] / name).exists()


def test_sub_groups_creates_missing_cgroups_as_a_side_effect(roots):
    """Tree(sub_groups=[...]) mkdirs whatever path it is given that does not exist, in every hierarchy it
    walks; where it cannot (not the user's), constructing the Tree raises."""
    relative_name = relative(roots["memory"])[len("/memory"):] + f"/sandbox-run-spy-{os.getpid()}"
    made = trees.Tree(groups=[b"memory"], sub_groups=[relative_name])
    try:
        assert (roots["memory"] / f"sandbox-run-spy-{os.getpid()}").is_dir()
        assert made.get_node_by_path("/memory" + relative_name) is not None
    finally:
        os.rmdir(roots["memory"] / f"sandbox-run-spy-{os.getpid()}")
    with pytest.raises(PermissionError):
        trees.Tree(groups=[b"memory"], sub_groups=["/not-delegated-here"])
