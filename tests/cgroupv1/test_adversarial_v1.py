"""Adversarial probes of the cgroup v1 backend (a red-team pass): a boxed program trying to escape or raise its v1 limits,
to make the supervisor misjudge, or to survive its kill; each test fails if the box wins."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_backend_v1 import explicit_root  # noqa: F401  (autouse: the explicit root, nothing left after)
from test_backend_v1 import run_cgroups, script
from v1box import SANDBOX, MiB, box_processes, run_json, sandbox, wait_until

pytestmark = pytest.mark.timeout(600)

# Looks for any way to a cgroup file: descriptors (its own, the init's, any visible process's),
# a cgroup file system anywhere in its view, a mount or a new namespace.  Prints a JSON report.
PROBE = r'''
import ctypes, errno, json, os
found = {"fds": {}, "other_fds": {}, "writable": [], "cgroupfs": [], "calls": {}}
for fd in os.listdir("/proc/self/fd"):
    try:
        found["fds"][fd] = os.readlink(f"/proc/self/fd/{fd}")
    except OSError as e:
        found["fds"][fd] = f"error {e.errno}"
for pid in os.listdir("/proc"):
    if not pid.isdigit() or int(pid) == os.getpid():
        continue
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            found["other_fds"][f"{pid}/{fd}"] = target
            if target.startswith(("pipe:", "socket:", "/dev/")):
                continue
            try:
                os.close(os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY))
                found["writable"].append(f"/proc/{pid}/fd/{fd} -> {target}")
            except OSError:
                pass
    except OSError:
        pass
for line in open("/proc/self/mountinfo"):
    if " - cgroup" in line:
        found["cgroupfs"].append(line.strip())
for top in os.listdir("/"):
    if top in ("proc", "usr", "dev") or os.path.islink("/" + top) or top.startswith("lib"):
        continue
    for base, dirs, files in os.walk("/" + top):
        for name in files:
            if name in ("cgroup.procs", "tasks", "memory.limit_in_bytes", "pids.max", "freezer.state"):
                path = os.path.join(base, name)
                if os.access(path, os.W_OK):
                    found["writable"].append(path)
libc = ctypes.CDLL(None, use_errno=True)
os.makedirs("/tmp/cg", exist_ok=True)
def call(name, *args):
    r = getattr(libc, name)(*args)
    found["calls"][name + str(args[:1])] = "ok" if r == 0 else errno.errorcode.get(ctypes.get_errno(), "?")
call("mount", b"cgroup", b"/tmp/cg", b"cgroup", 0, b"memory")
call("unshare", 0x10000000)   # CLONE_NEWUSER
call("unshare", 0x02000000)   # CLONE_NEWCGROUP
print("REPORT " + json.dumps(found), flush=True)
'''


def _report(output: bytes) -> dict:
    for line in output.decode(errors="replace").splitlines():
        if line.startswith("REPORT "):
            return json.loads(line[len("REPORT "):])
    raise AssertionError(f"no report: {output!r}")


def _no_way_out(report: dict) -> None:
    assert report["writable"] == [], report
    assert report["cgroupfs"] == [], report
    assert not any("cgroup" in target for target in report["fds"].values()), report
    assert not any("cgroup" in target for target in report["other_fds"].values()), report
    assert all(result != "ok" for result in report["calls"].values()), report


@pytest.mark.parametrize("profile", ["py3", "ci"])
def test_red_the_program_reaches_no_cgroup_file(tmp_path, profile):
    if profile == "py3":
        program = script(tmp_path, PROBE, "probe.py")
    else:
        program = script(tmp_path, "python3 - <<'EOF'\n" + PROBE + "\nEOF\n", "probe.sh")
    completed = sandbox("run", "--profile", profile, "--wall-time", "200", "--cpu-time", "100", program)
    _no_way_out(_report(completed.stdout + completed.stderr))


def test_red_exec_into_a_named_box_reaches_no_cgroup_file(tmp_path):
    program = script(tmp_path, "import time; print('ready', flush=True); time.sleep(300)")
    box = subprocess.Popen([*SANDBOX, "run", "--name", "red", "--profile", "ci", "--wall-time", "300",
                            "--", "python3", "-c", "import time; print('ready', flush=True); time.sleep(300)"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert select.select([box.stdout], [], [], 240)[0] and box.stdout.readline() == b"ready\n"
        # a second exec'd process stays while the probe looks at it
        holder = subprocess.Popen([*SANDBOX, "exec", "red", "--", "sleep", "120"])
        time.sleep(5)
        completed = sandbox("exec", "red", "--", "python3", "-c", PROBE)
        _no_way_out(_report(completed.stdout + completed.stderr))
        holder.kill()
        holder.wait()
        assert sandbox("kill", "red").returncode == 0
        box.communicate(timeout=240)
    finally:
        if box.poll() is None:
            box.kill()
            box.wait()


def test_red_a_child_oom_killed_while_main_exits_0_is_mle(tmp_path):
    result = run_json("--memory", "48M", "--wall-time", "120", script(tmp_path, """
        import os
        pid = os.fork()
        if pid == 0:
            blocks = []
            while True:
                blocks.append(bytearray(b"\\x01") * (1 << 20))
        os.waitpid(pid, 0)
        print("main is fine")
    """))
    assert result["verdict"] == "MLE" and result["oom_killed"] is True, result


def test_red_oom_kills_do_not_carry_to_the_next_run(tmp_path):
    first = run_json("--memory", "48M", "--wall-time", "120",
                     script(tmp_path, "b = [bytearray(b'1') * (1 << 20) for _ in range(200)]", "hog.py"))
    assert first["verdict"] == "MLE", first
    second = run_json("--memory", "48M", script(tmp_path, "pass", "ok.py"))
    assert second["verdict"] == "OK" and second["oom_killed"] is False, second


def test_red_a_fork_storm_at_its_wall_time_leaves_nothing(roots, tmp_path):
    result = run_json("--pids", "unlimited", "--wall-time", "6", "--cpu-time", "300", "--memory", "256M",
                      script(tmp_path, """
        import os
        while True:
            try:
                if os.fork() == 0:
                    os.fork()
            except OSError:
                pass
    """))
    assert result["verdict"] in ("TLE", "MLE"), result
    assert wait_until(lambda: not box_processes(), 60), box_processes()


def test_red_a_frozen_box_is_killed(tmp_path):
    program = script(tmp_path, """
        import subprocess, time
        for _ in range(3):
            subprocess.Popen(["sleep", "30"])
        print('ready', flush=True)
        while True: pass
    """, "burn.py")
    box = subprocess.Popen([*SANDBOX, "run", "--name", "frozen", "--wall-time", "600", "--cpu-time", "600", program],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert select.select([box.stdout], [], [], 240)[0] and box.stdout.readline() == b"ready\n"
        assert sandbox("freeze", "frozen").returncode == 0
        killed = sandbox("kill", "frozen")
        assert killed.returncode == 0, killed.stderr
        box.communicate(timeout=120)
        assert box.returncode == 128 + signal.SIGKILL
    finally:
        if box.poll() is None:
            box.kill()
            box.wait()


def test_red_concurrent_runs_share_nothing_and_leave_nothing(roots, tmp_path):
    results: list[dict] = []
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            results.append(run_json("--memory", "64M", script(tmp_path, f"print({i})", f"p{i}.py")))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert [r["verdict"] for r in results] == ["OK"] * 4, results


def test_red_supervisor_killed_while_a_fork_storm_runs_leaves_no_process(roots, tmp_path):
    program = script(tmp_path, """
        import os
        print("ready", flush=True)
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """)
    box = subprocess.Popen([*SANDBOX, "run", "--pids", "64", "--wall-time", "200", program], stdout=subprocess.PIPE)
    assert select.select([box.stdout], [], [], 240)[0] and box.stdout.readline() == b"ready\n"
    time.sleep(2)
    os.kill(box.pid, signal.SIGKILL)
    box.wait()
    assert wait_until(lambda: not any("prog.py" in p for p in _user_cmdlines()), 60), _user_cmdlines()
    assert run_json(script(tmp_path, "pass", "next.py"))["verdict"] == "OK"


def _user_cmdlines() -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != os.getuid():
                continue
            found.append(Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return found


def test_red_a_frozen_box_whose_supervisor_is_killed_leaves_no_process(roots, tmp_path):
    """v1's freezer holds a SIGKILLed task until thawed: the init's death (its supervisor's) must not
    leave the frozen program behind until some later run sweeps."""
    program = script(tmp_path, """
        import subprocess, time
        subprocess.Popen(["sleep", "30"])
        print("ready", flush=True)
        time.sleep(300)
    """)
    box = subprocess.Popen([*SANDBOX, "run", "--name", "iced", "--wall-time", "200", program], stdout=subprocess.PIPE)
    assert select.select([box.stdout], [], [], 240)[0] and box.stdout.readline() == b"ready\n"
    assert sandbox("freeze", "iced").returncode == 0
    os.kill(box.pid, signal.SIGKILL)
    box.wait()
    gone = wait_until(lambda: not any("prog.py" in p or "sleep 30" in p for p in _user_cmdlines()), 60)
    left = [p for p in _user_cmdlines() if "prog.py" in p or "sleep 30" in p]
    run_json(script(tmp_path, "pass", "next.py"))  # sweeps (thaws and kills) for the fixture's check
    assert gone, f"frozen box processes outlived their supervisor: {left}"
