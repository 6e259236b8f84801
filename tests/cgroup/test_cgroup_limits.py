"""Every cgroup limit broken on purpose inside the VM, the numbers it reports, and a clean host after."""
from __future__ import annotations

import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from vmbox import SANDBOX, bare_cgroup_run, box_processes, run_cgroups, run_json, sandbox, wait_until

MiB = 1 << 20


def test_doctor_reports_the_delegated_controllers(cgroup_root):
    completed = sandbox("doctor")
    out = completed.stdout.decode()
    assert completed.returncode == 0, out
    line = next(l for l in out.splitlines() if "delegated subtree" in l)
    assert line.startswith("ok") and str(cgroup_root) in line
    assert all(c in line for c in ("memory", "pids", "cpu"))


def test_results_carry_cgroup_numbers_and_say_so(script):
    result = run_json(script("print(1)"))
    assert result["verdict"] == "OK"
    assert result["enforced_by"]["memory"] == "cgroup memory.max (swap off)"
    assert result["enforced_by"]["pids"] == "cgroup pids.max"
    assert result["enforced_by"]["cpu_time"].startswith("cgroup cpu.stat")
    assert result["memory_peak"] > 0 and result["pids_peak"] >= 1


def test_limits_are_written_before_the_program_runs(cgroup_root, script):
    program = script("import time; print('ready', flush=True); time.sleep(60)")
    box = subprocess.Popen([*SANDBOX, "run", "--memory", "48M", "--pids", "7", "--cpus", "0.5", program],
                           stdout=subprocess.PIPE)
    try:
        assert box.stdout.readline() == b"ready\n"
        (group,) = run_cgroups(cgroup_root)
        assert (group / "memory.max").read_text().strip() == str(48 * MiB)
        assert (group / "memory.swap.max").read_text().strip() == "0"
        assert (group / "pids.max").read_text().strip() == "7"
        assert (group / "cpu.max").read_text().split() == ["50000", "100000"]
        # Only the program is in the box's cgroup: the Python helpers are not charged.
        assert len((group / "cgroup.procs").read_text().split()) == 1
    finally:
        box.kill()
        box.wait()
    # The supervisor was SIGKILLed: the next run sweeps its cgroup.
    assert run_json(script("pass"))["verdict"] == "OK"


def test_memory_hog_gets_mle_with_oom_killed(script):
    result = run_json("--memory", "64M", script("""
        blocks = []
        while True:
            blocks.append(bytearray(4 << 20))
    """))
    assert result["verdict"] == "MLE" and result["limit"] == "memory"
    assert result["oom_killed"] is True
    assert result["memory_peak"] <= 64 * MiB


def test_a_multi_process_cpu_burner_gets_tle_from_the_box_total(script):
    result = run_json("--cpu-time", "1", "--wall-time", "60", script("""
        import os
        for _ in range(3):
            if os.fork() == 0:
                break
        while True:
            pass
    """))
    assert result["verdict"] == "TLE" and result["limit"] == "cpu_time"
    assert result["cpu_time"] >= 1.0
    assert result["user_time"] > 0 and result["system_time"] >= 0


def test_cpu_max_throttles(script):
    result = run_json("--cpus", "0.25", "--wall-time", "2", "--cpu-time", "60", script("""
        import os
        if os.fork():
            pass
        while True:
            pass
    """))
    assert result["verdict"] == "TLE" and result["limit"] == "wall_time"
    # Two burners for ~2 s of wall time, held to a quarter of one CPU.
    assert result["cpu_time"] < 0.25 * 2 * 1.5


def test_fork_bomb_stops_at_pids_max_and_the_host_is_fine(script):
    result = run_json("--pids", "16", "--wall-time", "5", script("""
        import os, time
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.01)
    """))
    assert result["verdict"] == "TLE"
    assert result["pids_peak"] == 16
    assert subprocess.run(["true"]).returncode == 0  # the host can still start processes


def test_wall_timeout_kills_every_process_with_cgroup_kill(script):
    result = run_json("--wall-time", "2", script("""
        import os, subprocess, time
        for _ in range(4):
            subprocess.Popen(["sleep", "300"], start_new_session=True)
        time.sleep(300)
    """))
    assert result["verdict"] == "TLE" and result["limit"] == "wall_time"
    assert wait_until(lambda: not box_processes())


def test_killing_the_supervisor_leaves_no_process_and_the_next_run_sweeps_its_cgroup(cgroup_root, script):
    program = script("""
        import subprocess, time
        subprocess.Popen(["sleep", "301"])
        print("ready", flush=True)
        time.sleep(300)
    """)
    box = subprocess.Popen([*SANDBOX, "run", "--wall-time", "120", program], stdout=subprocess.PIPE)
    assert box.stdout.readline() == b"ready\n"
    os.kill(box.pid, signal.SIGKILL)
    box.wait()
    assert wait_until(lambda: not box_processes()), box_processes()
    assert len(run_cgroups(cgroup_root)) == 1  # left by the dead supervisor ...
    assert run_json(script("pass"))["verdict"] == "OK"
    assert run_cgroups(cgroup_root) == []  # ... and swept by the next one


def test_python_print_peak_is_within_1_mib_of_bare_python(cgroup_root, script):
    program = script("print(1)")
    run_json(program)  # warm the page cache for both: the first reader of a file is charged for it
    bare = bare_cgroup_run(cgroup_root, ["/usr/bin/python3", program], "bare-print")  # as the box runs it
    boxed = run_json(program)
    assert boxed["verdict"] == "OK"
    assert abs(boxed["memory_peak"] - bare["memory_peak"]) <= 1 * MiB, (boxed["memory_peak"], bare)


def test_touching_100_mib_reports_100_mib(cgroup_root, script):
    program = script("""
        data = bytearray(100 << 20)
        for i in range(0, len(data), 4096):
            data[i] = 1
    """)
    baseline = run_json(script("pass"))["memory_peak"]
    result = run_json("--memory", "256M", program)
    assert result["verdict"] == "OK"
    assert abs((result["memory_peak"] - baseline) - 100 * MiB) <= 0.03 * 100 * MiB, (result["memory_peak"], baseline)


@pytest.mark.timeout(600)  # 40 Python interpreters on 2 emulated CPUs
def test_20_concurrent_runs_each_get_their_own_limits(script):
    program = script("""
        data = bytearray(40 << 20)
        for i in range(0, len(data), 4096):
            data[i] = 1
        print("done")
    """)

    def one(index: int) -> tuple[int, dict]:
        memory = "24M" if index % 2 else "128M"
        return index, run_json("--memory", memory, "--wall-time", "100", program, timeout=300)

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(one, range(20)))
    for index, result in results:
        expected = "MLE" if index % 2 else "OK"
        assert result["verdict"] == expected, (index, result["verdict"], result["message"])
        assert result["limits"]["memory"] == (24 if index % 2 else 128) * MiB


def test_a_profile_that_requires_cgroups_runs_here(tmp_path, script):
    import yaml
    from sandbox.profile import load_profile

    source = yaml.safe_load(open(load_profile("py3").source))
    source["require"] = ["cgroup"]
    (tmp_path / "strict.yaml").write_text(yaml.safe_dump(source))
    result = run_json("--profile", str(tmp_path / "strict.yaml"), script("print('strict')"))
    assert result["verdict"] == "OK" and result["stdout"] == "strict\n"


def test_own_delegated_scope_is_found_without_configuration(cgroup_root, script):
    """As under `systemd-run --user --scope -p Delegate=yes`: the supervisor alone in a delegated cgroup."""
    scope = cgroup_root / "test-scope.scope"
    scope.mkdir()
    try:
        env = {k: v for k, v in os.environ.items() if k != "SANDBOX_CGROUP_ROOT"}
        completed = subprocess.run(
            ["sh", "-c", f'echo $$ > "{scope}/cgroup.procs" && exec "$@"', "sh", *SANDBOX, "run", "--json",
             "--memory", "32M", script("print('scoped')")],
            capture_output=True, env=env, timeout=120)
        import json
        result = json.loads(completed.stdout)
        assert result["verdict"] == "OK" and result["enforced_by"]["memory"].startswith("cgroup")
        # The supervisor moved itself into a leaf so controllers could be enabled in the scope.
        assert "memory" in (scope / "cgroup.subtree_control").read_text()
    finally:
        for leaf in scope.iterdir():
            if leaf.is_dir():
                wait_until(lambda: "populated 0" in (leaf / "cgroup.events").read_text())
                leaf.rmdir()
        scope.rmdir()


def test_a_subtree_without_the_cpu_controller_is_used_for_what_it_has(cgroup_root, script):
    """systemd's Delegate= without cpu (issue 16): memory and pids are still the cgroup's, CPU time is
    cpu.stat's (a core file), and cpus says it is not enforced rather than falling back to rlimits."""
    partial = cgroup_root / "test-partial"
    partial.mkdir()
    boxes = partial / "boxes"
    try:
        (partial / "cgroup.subtree_control").write_text("+memory +pids")
        boxes.mkdir()
        assert sorted((boxes / "cgroup.controllers").read_text().split()) == ["memory", "pids"]
        result = run_json("--cgroup-root", str(boxes), "--memory", "64M", "--cpus", "0.5",
                          script("x = sum(range(3_000_000)); print('done')"))
        assert result["verdict"] == "OK" and result["stdout"] == "done\n"
        assert result["enforced_by"]["memory"] == "cgroup memory.max (swap off)"
        assert result["enforced_by"]["pids"] == "cgroup pids.max"
        assert result["enforced_by"]["cpu_time"].startswith("cgroup cpu.stat")
        assert result["enforced_by"]["cpus"] == ("not enforced: the cpu controller is not delegated to the "
                                                 "cgroup v2 subtree (cpu.max)")
        assert result["cpu_time"] > 0 and result["memory_peak"] > 0
        hog = run_json("--cgroup-root", str(boxes), "--memory", "64M", script("""
            blocks = []
            while True:
                blocks.append(bytearray(4 << 20))
        """))
        assert hog["verdict"] == "MLE" and hog["oom_killed"] is True
        assert run_cgroups(boxes) == []
    finally:
        for group in (boxes, partial):
            if group.exists():
                group.rmdir()
