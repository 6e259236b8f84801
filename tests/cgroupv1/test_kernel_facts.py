"""What cgroup v1 does for an unprivileged user in a delegated subtree: the facts a v1 backend relies on.

Each test states one behaviour of the booted kernel (Debian 12's 6.1) as an assertion, as the user, in the
subtree scripts/vm-guest delegated (directory, tasks and cgroup.procs chowned in each hierarchy)."""
from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from v1box import ALLOCATE, HIERARCHIES, MiB, procs, python, spawn_in, wait_until

UNLIMITED = 9223372036854771712  # PAGE_COUNTER_MAX * PAGE_SIZE: what an unlimited memory.*limit_in_bytes reads


def own_cgroups() -> dict[str, str]:
    """/proc/self/cgroup as {controllers: path}; the cgroup2 line's key is ''."""
    lines = Path("/proc/self/cgroup").read_text().splitlines()
    return {line.split(":", 2)[1]: line.split(":", 2)[2] for line in lines}


def oom_control(group: Path) -> dict[str, int]:
    return {key: int(value) for key, value in (line.split() for line in (group / "memory.oom_control").read_text().splitlines())}


def read_int(path: Path) -> int:
    return int(path.read_text())


# --- The layout, and what the delegation gives --------------------------------------------------------------

def test_hybrid_layout_as_the_vm_mounts_it(roots):
    mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    by_point = {m[1]: m for m in mounts if m[1].startswith("/sys/fs/cgroup")}
    assert by_point["/sys/fs/cgroup"][2] == "tmpfs"
    for hierarchy in HIERARCHIES:
        kind, options = by_point[f"/sys/fs/cgroup/{hierarchy}"][2:4]
        assert kind == "cgroup" and set(hierarchy.split(",")) <= set(options.split(","))
    assert by_point["/sys/fs/cgroup/unified"][2] == "cgroup2"
    assert "nsdelegate" in by_point["/sys/fs/cgroup/unified"][3]
    assert "name=systemd" in by_point["/sys/fs/cgroup/systemd"][3]
    # cpu and cpuacct are symlinks to the co-mounted hierarchy, as on every hybrid distribution.
    for link in ("cpu", "cpuacct"):
        assert os.readlink(f"/sys/fs/cgroup/{link}") == "cpu,cpuacct"
    # Every controller is bound to v1: the cgroup2 mount offers none (a controller of a v1 hierarchy is
    # never in cgroup.controllers of v2).
    assert Path("/sys/fs/cgroup/unified/cgroup.controllers").read_text().split() == []


def test_own_cgroup_is_a_leaf_of_the_delegated_subtree_in_every_hierarchy(roots):
    """The caller's own cgroup (/proc/self/cgroup) has the same path in each v1 hierarchy, and its parent is
    the delegated directory: discovery from /proc/self/cgroup works as in v2 (the parent of one's leaf)."""
    mine = own_cgroups()
    # /proc/self/cgroup names each hierarchy by its controllers as mounted, co-mounted ones comma-joined.
    assert {"memory", "cpu,cpuacct", "pids", "freezer", "name=systemd", ""} <= set(mine)
    for hierarchy, root in roots.items():
        assert Path(f"/sys/fs/cgroup/{hierarchy}{mine[hierarchy]}").parent == root
        assert mine[hierarchy].endswith("/init.scope")
    assert mine[""] == mine["memory"] == mine["name=systemd"]


def test_the_user_owns_the_delegated_directory_but_not_its_limits(roots):
    uid = os.getuid()
    for hierarchy, root in roots.items():
        for name in (".", "tasks", "cgroup.procs"):
            assert (root / name).stat().st_uid == uid, (hierarchy, name)
    for path in (roots["memory"] / "memory.limit_in_bytes", roots["memory"] / "memory.memsw.limit_in_bytes",
                 roots["pids"] / "pids.max", roots["freezer"] / "freezer.state",
                 roots["cpu,cpuacct"] / "cpu.cfs_quota_us"):
        assert path.stat().st_uid == 0
        with pytest.raises(PermissionError):
            path.write_text("1")


def test_mkdir_makes_a_child_whose_every_file_the_user_owns(roots, groups):
    made = groups.make()
    uid = os.getuid()
    for hierarchy, group in made.items():
        assert group.stat().st_uid == uid
        files = list(group.iterdir())
        assert files and all(f.stat().st_uid == uid for f in files), hierarchy
    # So the user can write its child's limits, in every hierarchy.
    (made["memory"] / "memory.limit_in_bytes").write_text(str(64 * MiB))
    (made["pids"] / "pids.max").write_text("10")
    (made["cpu,cpuacct"] / "cpu.cfs_quota_us").write_text("50000")
    assert (made["pids"] / "pids.max").read_text() == "10\n"


def test_what_a_v1_child_has_and_lacks(groups):
    made = groups.make()
    memory, pids = made["memory"], made["pids"]
    for name in ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.max_usage_in_bytes",
                 "memory.memsw.max_usage_in_bytes", "memory.failcnt", "memory.memsw.failcnt", "memory.oom_control",
                 "memory.usage_in_bytes", "memory.stat", "memory.use_hierarchy"):
        assert (memory / name).exists(), name
    assert (pids / "pids.peak").exists()  # Linux 6.1 has it on v1 too
    assert (pids / "pids.events").exists() and (pids / "pids.current").exists()
    for name in ("cpuacct.usage", "cpuacct.usage_user", "cpuacct.usage_sys", "cpuacct.stat", "cpu.cfs_quota_us",
                 "cpu.cfs_period_us"):
        assert (made["cpu,cpuacct"] / name).exists(), name
    assert (made["freezer"] / "freezer.state").read_text() == "THAWED\n"
    # No v2 core files in v1: no cgroup.kill, cgroup.events, cgroup.freeze, memory.peak, memory.events.
    for name in ("cgroup.kill", "cgroup.events", "cgroup.freeze", "memory.peak", "memory.events"):
        assert not (memory / name).exists(), name
    # use_hierarchy is always 1 (a child's usage counts against every ancestor's limit), and cannot be unset.
    assert (memory / "memory.use_hierarchy").read_text() == "1\n"
    with pytest.raises(OSError) as raised:
        (memory / "memory.use_hierarchy").write_text("0")
    assert raised.value.errno == errno.EINVAL
    assert read_int(memory / "memory.limit_in_bytes") == UNLIMITED
    assert read_int(memory / "memory.memsw.limit_in_bytes") == UNLIMITED
    assert oom_control(memory) == {"oom_kill_disable": 0, "under_oom": 0, "oom_kill": 0}


# --- Memory, swap, OOM ----------------------------------------------------------------------------------------

def test_swap_accounting_is_on_by_default_and_the_vm_has_swap(roots):
    """memory.memsw.* exist without swapaccount=1 on the command line (6.1: on unless swapaccount=0)."""
    assert "swapaccount" not in Path("/proc/cmdline").read_text()
    assert Path("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
    swaps = Path("/proc/swaps").read_text().splitlines()[1:]
    assert swaps, "vm-guest should switch on a zram swap device"


def test_memsw_limit_must_never_be_below_the_memory_limit(groups):
    memory = groups.make("memory")["memory"]
    limit, memsw = memory / "memory.limit_in_bytes", memory / "memory.memsw.limit_in_bytes"
    # memsw first, while limit is still unlimited: EINVAL (memsw < limit).
    with pytest.raises(OSError) as raised:
        memsw.write_text(str(32 * MiB))
    assert raised.value.errno == errno.EINVAL
    # limit first, then memsw: lowering works in that order.
    limit.write_text(str(32 * MiB))
    memsw.write_text(str(32 * MiB))
    assert read_int(limit) == read_int(memsw) == 32 * MiB
    # Raising: limit above memsw is EINVAL too; memsw first, then limit.
    with pytest.raises(OSError) as raised:
        limit.write_text(str(64 * MiB))
    assert raised.value.errno == errno.EINVAL
    memsw.write_text(str(64 * MiB))
    limit.write_text(str(64 * MiB))
    # Values are rounded down to a page; "-1" means unlimited (memsw first when raising).
    memsw.write_text("-1")
    limit.write_text(str(10 * MiB + 100))
    assert read_int(limit) == 10 * MiB
    limit.write_text("-1")
    assert read_int(limit) == UNLIMITED
    # Suffixes are accepted, as memparse does.
    limit.write_text("16M")
    assert read_int(limit) == 16 * MiB


def test_over_the_limit_is_oom_killed_and_oom_control_counts_it(groups):
    memory = groups.make("memory")["memory"]
    (memory / "memory.limit_in_bytes").write_text(str(32 * MiB))
    (memory / "memory.memsw.limit_in_bytes").write_text(str(32 * MiB))
    child = spawn_in([memory], ALLOCATE + [str(200 * MiB)], stdout=subprocess.PIPE)
    out, _ = child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL and b"done" not in out
    control = oom_control(memory)
    assert control["oom_kill"] == 1 and control["under_oom"] == 0 and control["oom_kill_disable"] == 0
    # With memsw == limit the memsw counter is charged first and is the one that fails: memory.failcnt
    # stays 0, memory.memsw.failcnt rises.  oom_control's oom_kill is the reliable MLE signal.
    assert read_int(memory / "memory.failcnt") == 0
    assert read_int(memory / "memory.memsw.failcnt") > 0
    peak = read_int(memory / "memory.max_usage_in_bytes")
    assert 24 * MiB < peak <= 32 * MiB
    assert read_int(memory / "memory.memsw.max_usage_in_bytes") <= 32 * MiB
    # After the kill the group is empty and its usage has dropped.
    assert wait_until(lambda: not procs(memory))


def test_without_a_memsw_limit_the_program_swaps_instead_of_dying(groups):
    """The memory-plus-swap case: memory.limit_in_bytes alone does not bound a program when there is swap."""
    memory = groups.make("memory")["memory"]
    (memory / "memory.limit_in_bytes").write_text(str(32 * MiB))
    child = spawn_in([memory], ALLOCATE + [str(64 * MiB)], stdout=subprocess.PIPE)
    out, _ = child.communicate(timeout=300)
    assert child.returncode == 0 and b"done" in out
    assert oom_control(memory)["oom_kill"] == 0
    # Here the memory counter is the one that hits its limit (then reclaim swaps out): failcnt counts it.
    assert read_int(memory / "memory.failcnt") > 0 and read_int(memory / "memory.memsw.failcnt") == 0
    assert read_int(memory / "memory.max_usage_in_bytes") <= 32 * MiB
    assert read_int(memory / "memory.memsw.max_usage_in_bytes") > 60 * MiB  # the rest went to swap


def test_oom_kill_disable_leaves_the_program_hanging_under_oom(groups):
    memory = groups.make("memory")["memory"]
    (memory / "memory.limit_in_bytes").write_text(str(32 * MiB))
    (memory / "memory.memsw.limit_in_bytes").write_text(str(32 * MiB))
    (memory / "memory.oom_control").write_text("1")  # the user may set oom_kill_disable in its own child
    child = spawn_in([memory], ALLOCATE + [str(200 * MiB)], stdout=subprocess.PIPE)
    try:
        assert wait_until(lambda: oom_control(memory)["under_oom"] == 1, 60)
        assert child.poll() is None and oom_control(memory)["oom_kill"] == 0
    finally:
        child.kill()
        child.wait(timeout=60)
    assert oom_control(memory)["under_oom"] == 0


def test_max_usage_is_the_peak_and_can_be_reset(groups):
    memory = groups.make("memory")["memory"]
    child = spawn_in([memory], ALLOCATE + [str(48 * MiB)], stdout=subprocess.PIPE)
    child.communicate(timeout=120)
    assert child.returncode == 0
    peak = read_int(memory / "memory.max_usage_in_bytes")
    assert 48 * MiB <= peak < 200 * MiB
    # Usage is charged to the group even after its processes are gone (page cache): max_usage stays.
    (memory / "memory.max_usage_in_bytes").write_text("0")  # resets to the current usage
    assert read_int(memory / "memory.max_usage_in_bytes") < peak


# --- CPU, pids, freezer -----------------------------------------------------------------------------------------

def test_cpuacct_usage_counts_a_busy_loop_in_nanoseconds(groups):
    cpu = groups.make("cpu,cpuacct")["cpu,cpuacct"]
    busy = "import time\nwhile time.process_time() < 0.5: pass\n"
    child = spawn_in([cpu], python(busy))
    assert child.wait(timeout=120) == 0
    usage = read_int(cpu / "cpuacct.usage")
    assert 0.45e9 <= usage < 10e9
    user, system = read_int(cpu / "cpuacct.usage_user"), read_int(cpu / "cpuacct.usage_sys")
    # The user/system split comes from tick sampling (cpustat, like cpuacct.stat), not from the exact
    # runtime: it only roughly adds up to cpuacct.usage (under qemu TCG much of it lands in system).
    assert user > 0 and 0.5 * usage < user + system < 1.5 * usage, (usage, user, system)
    stat_lines = dict(line.split() for line in (cpu / "cpuacct.stat").read_text().splitlines())
    assert set(stat_lines) == {"user", "system"}  # in USER_HZ ticks


def test_pids_max_refuses_forks_and_pids_events_counts_it(groups):
    pids = groups.make("pids")["pids"]
    (pids / "pids.max").write_text("4")
    forker = ("import os, time\n"
              "made = refused = 0\n"
              "for _ in range(10):\n"
              "    try:\n"
              "        pid = os.fork()\n"
              "    except BlockingIOError:\n"
              "        refused += 1\n"
              "        continue\n"
              "    if pid == 0:\n"
              "        time.sleep(5); os._exit(0)\n"
              "    made += 1\n"
              "print(made, refused, flush=True)\n")
    child = spawn_in([pids], python(forker), stdout=subprocess.PIPE)
    out, _ = child.communicate(timeout=120)
    made, refused = map(int, out.split())
    assert made == 3 and refused == 7  # fork fails with EAGAIN past pids.max
    assert (pids / "pids.events").read_text() == "max 7\n"
    assert read_int(pids / "pids.peak") == 4
    assert (pids / "pids.max").read_text() == "4\n"
    (pids / "pids.max").write_text("max")
    assert (pids / "pids.max").read_text() == "max\n"


def test_freezer_freezes_and_thaws_from_the_user(groups):
    freezer = groups.make("freezer")["freezer"]
    counter = python("import sys, time\ni = 0\nwhile True:\n    i += 1\n    print(i, flush=True)\n    time.sleep(0.05)\n")
    child = spawn_in([freezer], counter, stdout=subprocess.PIPE)
    try:
        child.stdout.readline()
        (freezer / "freezer.state").write_text("FROZEN")
        assert wait_until(lambda: (freezer / "freezer.state").read_text() == "FROZEN\n", 20)
        assert (freezer / "freezer.self_freezing").read_text() == "1\n"
        out = child.stdout.fileno()
        os.set_blocking(out, False)
        time.sleep(0.3)
        try:
            os.read(out, 65536)  # what it printed before it froze
        except BlockingIOError:
            pass
        time.sleep(1)
        with pytest.raises(BlockingIOError):
            os.read(out, 65536)  # nothing while frozen
        os.set_blocking(out, True)
        (freezer / "freezer.state").write_text("THAWED")
        assert (freezer / "freezer.state").read_text() == "THAWED\n"
        assert child.stdout.readline()
    finally:
        child.kill()
        child.wait(timeout=60)


def test_kill_everything_is_freeze_kill_thaw(groups):
    """v1 has no cgroup.kill: freeze the group (no fork races), SIGKILL each pid of cgroup.procs, thaw."""
    made = groups.make("pids", "freezer")
    spreader = python("import os, time\nfor _ in range(5):\n    if os.fork() == 0:\n        os.setsid()\n"
                      "        time.sleep(600)\nprint('ready', flush=True)\ntime.sleep(600)\n")
    child = spawn_in(list(made.values()), spreader, stdout=subprocess.PIPE)
    assert child.stdout.readline() == b"ready\n"
    freezer = made["freezer"]
    assert len(procs(freezer)) == 6
    with pytest.raises(OSError) as raised:
        freezer.rmdir()
    assert raised.value.errno == errno.EBUSY
    (freezer / "freezer.state").write_text("FROZEN")
    assert wait_until(lambda: (freezer / "freezer.state").read_text() == "FROZEN\n", 20)
    for pid in procs(freezer):
        os.kill(pid, signal.SIGKILL)  # a SIGKILL is delivered to a frozen task once it thaws
    (freezer / "freezer.state").write_text("THAWED")
    child.wait(timeout=60)
    assert wait_until(lambda: not procs(freezer) and not procs(made["pids"]))
    freezer.rmdir()
    made["pids"].rmdir()


# --- Moving processes: who may write a pid where ----------------------------------------------------------------

def test_the_user_moves_its_own_processes_anywhere_it_can_write_cgroup_procs(roots, groups):
    """v1 checks only the writer's euid against the target's uid (and write permission on the file): no
    common-ancestor rule as in v2.  A process in init.scope, or in the delegated directory itself, moves to a
    child and back."""
    made = groups.make()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        for hierarchy, group in made.items():
            (group / "cgroup.procs").write_text(str(sleeper.pid))
            assert sleeper.pid in procs(group)
            (roots[hierarchy] / "cgroup.procs").write_text(str(sleeper.pid))  # into the delegated directory
            assert sleeper.pid in procs(roots[hierarchy])
            (group / "cgroup.procs").write_text(str(sleeper.pid))  # from the delegated directory to a child
            assert sleeper.pid in procs(group)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_another_users_process_cannot_be_moved(groups):
    group = groups.make("memory")["memory"]
    assert os.stat("/proc/1").st_uid == 0
    with pytest.raises(PermissionError):
        (group / "cgroup.procs").write_text("1")


def test_a_process_in_a_user_namespace_of_the_user_can_be_moved_and_can_move_itself(groups):
    """The euid rule compares kernel uids: a process inside `unshare -Ur` (uid 0 inside) is still the user's
    uid outside, so the user moves it; and it can write itself in through a descriptor opened outside
    (the file's opener's credentials count, f_cred), or by opening the file inside the namespace."""
    made = groups.make()
    inside = subprocess.Popen(["unshare", "-Ur", "sleep", "60"])
    try:
        assert wait_until(lambda: Path(f"/proc/{inside.pid}/cmdline").read_bytes().startswith(b"sleep"))
        for group in made.values():
            (group / "cgroup.procs").write_text(str(inside.pid))
            assert inside.pid in procs(group)
    finally:
        inside.kill()
        inside.wait()
    fds = [os.open(group / "cgroup.procs", os.O_WRONLY) for group in made.values()]
    try:
        joins = "; ".join(f"os.write({fd}, b'0')" for fd in fds)  # "0": the writing process itself
        check = python(f"import os; {joins}; print(open('/proc/self/cgroup').read(), flush=True)")
        done = subprocess.run(["unshare", "-Ur", *check], pass_fds=fds, capture_output=True, timeout=60)
    finally:
        for fd in fds:
            os.close(fd)
    assert done.returncode == 0, done.stderr
    for hierarchy, group in made.items():
        assert f":{hierarchy}:" in done.stdout.decode() and group.name in done.stdout.decode()
    opened_inside = python("import os, sys\nfor path in sys.argv[1:]:\n    open(path, 'w').write('0')\n")
    done = subprocess.run(["unshare", "-Ur", *opened_inside, *(str(g / "cgroup.procs") for g in made.values())],
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_rmdir_of_an_empty_child_works_and_of_a_busy_one_is_ebusy(groups):
    made = groups.make("memory", name="sandbox-rmdir")
    group = made["memory"]
    sleeper = spawn_in([group], ["sleep", "60"])
    try:
        with pytest.raises(OSError) as raised:
            group.rmdir()
        assert raised.value.errno == errno.EBUSY
    finally:
        sleeper.kill()
        sleeper.wait()
    assert wait_until(lambda: not procs(group))
    group.rmdir()
    assert not group.exists()


def test_a_memory_child_keeps_its_charge_after_its_processes_exit_but_rmdir_still_works(groups):
    """Page cache a dead process left stays charged to the group (usage_in_bytes > 0); rmdir is still allowed
    (the charge moves to the parent), so a v1 backend need not force_empty before rmdir."""
    group = groups.make("memory")["memory"]
    cache = Path(f"/tmp/sbx-v1-cache-{os.getpid()}")
    writer = spawn_in([group], ["dd", "if=/dev/zero", f"of={cache}", "bs=1M", "count=8"], stderr=subprocess.DEVNULL)
    try:
        assert writer.wait(timeout=60) == 0
        assert not procs(group)
        assert read_int(group / "memory.usage_in_bytes") >= 8 * MiB  # the tmpfs file's pages stay charged here
        group.rmdir()
    finally:
        cache.unlink()


# --- cgroup namespaces ------------------------------------------------------------------------------------------

def test_a_cgroup_namespace_made_after_joining_roots_every_v1_hierarchy_at_the_child(groups):
    made = groups.make()
    shown = subprocess.run(["unshare", "-Ur", "-C", "cat", "/proc/self/cgroup"], preexec_fn=_join(made),
                           capture_output=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    lines = dict(line.split(":", 2)[1:] for line in shown.stdout.decode().splitlines())
    for hierarchy in HIERARCHIES:
        assert lines[hierarchy] == "/", lines
    # Hierarchies the process was not moved in (name=systemd, cgroup2) are rooted at its cgroup there too.
    assert lines["name=systemd"] == "/" and lines[""] == "/"


def test_a_cgroup_namespace_is_no_boundary_in_v1(roots, groups):
    """v1 has no nsdelegate: a process inside a user and cgroup namespace that can reach a cgroup.procs its
    user owns (here the delegated directory's, through the VM's /sys/fs/cgroup) moves itself out of its
    cgroup, and so out of its limits.  A v1 box must never see such a file (no host /sys/fs/cgroup, no
    inherited descriptor)."""
    made = groups.make("memory")
    escape = f"echo 0 > {roots['memory']}/cgroup.procs && cat /proc/self/cgroup"
    shown = subprocess.run(["unshare", "-Ur", "-C", "sh", "-c", escape], preexec_fn=_join(made),
                           capture_output=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    lines = dict(line.split(":", 2)[1:] for line in shown.stdout.decode().splitlines())
    assert lines["memory"] == "/.."  # now above its namespace's root: out of the child


def test_inside_the_namespace_a_v1_hierarchy_can_be_mounted_and_shows_only_the_child(groups):
    made = groups.make()
    script = "mount -t cgroup -o memory cgroup /mnt && cat /mnt/memory.limit_in_bytes"
    (made["memory"] / "memory.limit_in_bytes").write_text(str(40 * MiB))
    shown = subprocess.run(["unshare", "-Urm", "-C", "sh", "-c", script], preexec_fn=_join(made), capture_output=True,
                           timeout=60)
    assert shown.returncode == 0, shown.stderr
    first = shown.stdout.decode().split()[0]
    assert int(first) == 40 * MiB  # the mount's root is the namespace's root: the child


def _join(made: dict[str, Path]):
    def join() -> None:
        for group in made.values():
            with open(group / "cgroup.procs", "w") as file:
                file.write(str(os.getpid()))
    return join


def test_kernel_release_is_recorded(roots):
    """Which kernel these facts were recorded on (Debian 12: 6.1)."""
    assert re.match(r"6\.1\.", os.uname().release), os.uname().release
