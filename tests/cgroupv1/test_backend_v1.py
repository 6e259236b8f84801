"""The sandbox on cgroup v1 (issue 20): the v2 tier's behaviours where v1 can express them, through
`sandbox run` with the v1 subtree delegated to the user (scripts/vm-guest's v1 mode), and nothing left.

Each test breaks a limit on purpose and reads what the result says; the run's cgroups are looked at
in every hierarchy while it runs.  --cgroup-root names the memory hierarchy's delegated directory
(the same path is used in the others), except where the discovery of the user's own cgroup is tested.
"""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from v1box import SANDBOX, MiB, box_processes, run_json, sandbox, wait_until

# CLI starts are Python starts on emulated CPUs, 10-50x slower than the host: generous timeouts.
pytestmark = pytest.mark.timeout(600)
V1_MEMORY = "cgroup v1 memory.limit_in_bytes (memory.memsw.limit_in_bytes too where swap is accounted)"


@pytest.fixture(autouse=True)
def explicit_root(roots, monkeypatch, tmp_path):
    """SANDBOX_CGROUP_ROOT: the memory hierarchy's delegated directory; each test's runtime dir its own."""
    monkeypatch.setenv("SANDBOX_CGROUP_ROOT", str(roots["memory"]))
    monkeypatch.setenv("SANDBOX_RUNTIME_DIR", str(tmp_path / "live"))
    yield
    assert wait_until(lambda: not box_processes()), f"processes left behind: {box_processes()}"
    assert all(run_cgroups(root) == [] for root in roots.values()), "run cgroups left behind"


def script(tmp_path: Path, source: str, name: str = "prog.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return str(path)


def run_cgroups(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("sandbox-run-*") if p.is_dir())


def test_doctor_explains_the_v1_host(roots):
    completed = sandbox("doctor")
    out = completed.stdout.decode()
    line = next(l for l in out.splitlines() if "cgroup v1 subtree" in l)
    assert line.startswith("ok") and str(roots["memory"]) in line, out
    assert "memory plus swap limited" in line


def test_results_carry_v1_numbers_and_say_so(tmp_path):
    result = run_json("--cpus", "1", script(tmp_path, "print(sum(range(10**6)))"))
    assert result["verdict"] == "OK", result
    assert result["enforced_by"]["memory"] == V1_MEMORY
    assert result["enforced_by"]["pids"] == "cgroup v1 pids.max"
    assert result["enforced_by"]["cpu_time"] == "cgroup v1 cpuacct.usage (whole box, watched by the supervisor)"
    assert result["enforced_by"]["cpus"].startswith("not enforced: no cpu quota on cgroup v1")
    assert result["memory_peak"] > 0 and result["cpu_time"] > 0


def test_limits_are_in_every_hierarchy_before_the_program_runs_and_only_it_is_inside(roots, tmp_path):
    program = script(tmp_path, "import time; print('ready', flush=True); time.sleep(300)")
    box = subprocess.Popen([*SANDBOX, "run", "--memory", "48M", "--pids", "7", "--wall-time", "120", program],
                           stdout=subprocess.PIPE)
    try:
        assert select.select([box.stdout], [], [], 240)[0] and box.stdout.readline() == b"ready\n"
        groups = {hierarchy: run_cgroups(root) for hierarchy, root in roots.items()}
        assert all(len(found) == 1 for found in groups.values()), groups
        memory, pids = groups["memory"][0], groups["pids"][0]
        assert (memory / "memory.limit_in_bytes").read_text().strip() == str(48 * MiB)
        assert (memory / "memory.memsw.limit_in_bytes").read_text().strip() == str(48 * MiB)
        assert (pids / "pids.max").read_text().strip() == "7"
        members = {hierarchy: found[0].joinpath("cgroup.procs").read_text().split() for hierarchy, found in groups.items()}
        assert all(len(pids_in) == 1 for pids_in in members.values()), members  # the program, no helper of ours
        assert len(set(map(tuple, members.values()))) == 1  # the same process in every hierarchy
    finally:
        box.kill()
        box.wait()
    assert run_json(script(tmp_path, "pass", "next.py"))["verdict"] == "OK"  # sweeps the killed run's cgroups


def test_memory_plus_swap_hog_gets_mle_although_the_machine_has_swap(tmp_path):
    """The VM has swap (zram): memory.limit_in_bytes alone would let the program swap on; memsw stops it."""
    assert len(Path("/proc/swaps").read_text().splitlines()) > 1, "the v1 VM should have swap"
    result = run_json("--memory", "64M", "--wall-time", "120", script(tmp_path, """
        blocks = []
        while True:
            blocks.append(bytearray(b"\\x01") * (4 << 20))
    """))
    assert result["verdict"] == "MLE" and result["limit"] == "memory", result
    assert result["oom_killed"] is True
    assert result["memory_peak"] <= 64 * MiB


def test_touching_100_mib_reports_100_mib(tmp_path):
    baseline = run_json(script(tmp_path, "pass", "base.py"))["memory_peak"]
    result = run_json("--memory", "256M", script(tmp_path, """
        data = bytearray(100 << 20)
        for i in range(0, len(data), 4096):
            data[i] = 1
    """))
    assert result["verdict"] == "OK", result
    assert abs((result["memory_peak"] - baseline) - 100 * MiB) <= 0.05 * 100 * MiB, (result["memory_peak"], baseline)


def test_a_multi_process_cpu_burner_gets_tle_from_the_box_total(tmp_path):
    result = run_json("--cpu-time", "1", "--wall-time", "120", script(tmp_path, """
        import os
        for _ in range(3):
            if os.fork() == 0:
                break
        while True:
            pass
    """))
    assert result["verdict"] == "TLE" and result["limit"] == "cpu_time", result
    assert result["cpu_time"] >= 1.0 and result["user_time"] > 0


def test_fork_bomb_stops_at_pids_max_and_the_host_is_fine(tmp_path):
    result = run_json("--pids", "16", "--wall-time", "10", "--cpu-time", "120", script(tmp_path, """
        import os, time
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.01)
    """))
    assert result["verdict"] == "TLE" and result["limit"] == "wall_time", result
    assert result["pids_peak"] in (None, 16)  # pids.peak only where the kernel has it
    assert subprocess.run(["true"]).returncode == 0


def test_wall_timeout_kills_every_process_of_the_box_without_cgroup_kill(tmp_path):
    result = run_json("--wall-time", "3", script(tmp_path, """
        import subprocess, time
        for _ in range(4):
            subprocess.Popen(["sleep", "300"], start_new_session=True)
        time.sleep(300)
    """))
    assert result["verdict"] == "TLE" and result["limit"] == "wall_time", result
    assert wait_until(lambda: not box_processes())


def test_killing_the_supervisor_leaves_no_process_and_the_next_run_sweeps(roots, tmp_path):
    program = script(tmp_path, """
        import subprocess, time
        subprocess.Popen(["sleep", "301"])
        print("ready", flush=True)
        time.sleep(300)
    """)
    box = subprocess.Popen([*SANDBOX, "run", "--wall-time", "200", program], stdout=subprocess.PIPE)
    assert select.select([box.stdout], [], [], 240)[0] and box.stdout.readline() == b"ready\n"
    os.kill(box.pid, signal.SIGKILL)
    box.wait()
    assert wait_until(lambda: not box_processes(), 60), box_processes()
    assert all(len(run_cgroups(root)) == 1 for root in roots.values())  # left by the dead supervisor ...
    assert run_json(script(tmp_path, "pass", "next.py"))["verdict"] == "OK"
    assert all(run_cgroups(root) == [] for root in roots.values())  # ... and swept by the next one


def test_concurrent_runs_each_get_their_own_limits(tmp_path):
    program = script(tmp_path, """
        data = bytearray(40 << 20)
        for i in range(0, len(data), 4096):
            data[i] = 1
        print("done")
    """)

    def one(index: int) -> tuple[int, dict]:
        return index, run_json("--memory", "24M" if index % 2 else "128M", "--wall-time", "200", program, timeout=400)

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(one, range(6)))
    for index, result in results:
        assert result["verdict"] == ("MLE" if index % 2 else "OK"), (index, result["verdict"], result["message"])
        assert result["limits"]["memory"] == (24 if index % 2 else 128) * MiB


def test_a_profile_that_requires_cgroups_runs_on_v1(tmp_path):
    import yaml
    from sandbox.profile import load_profile

    source = yaml.safe_load(open(load_profile("py3").source))
    source["require"] = ["cgroup"]
    (tmp_path / "strict.yaml").write_text(yaml.safe_dump(source))
    result = run_json("--profile", str(tmp_path / "strict.yaml"), script(tmp_path, "print('strict')"))
    assert result["verdict"] == "OK" and result["stdout"] == "strict\n", result
    assert result["enforced_by"]["memory"] == V1_MEMORY


def test_the_user_s_own_delegated_cgroup_is_found_without_configuration(roots, tmp_path, monkeypatch):
    monkeypatch.delenv("SANDBOX_CGROUP_ROOT")
    result = run_json("--memory", "32M", script(tmp_path, "blocks = [bytearray(b'1') * (1 << 20) for _ in range(64)]"))
    assert result["verdict"] == "MLE" and result["enforced_by"]["memory"] == V1_MEMORY, result


def test_a_named_box_is_frozen_and_thawed_by_the_freezer_and_killed(tmp_path):
    program = script(tmp_path, "print('ready', flush=True)\nwhile True: pass\n", "burn.py")
    box = subprocess.Popen([*SANDBOX, "run", "--name", "burner", "--cpu-time", "600", "--wall-time", "600", program],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert select.select([box.stdout], [], [], 240)[0] and box.stdout.readline() == b"ready\n"

        def row() -> dict:
            (only,) = json.loads(sandbox("ps", "--json").stdout)
            return only

        assert row()["measured_by"] == "cgroup" and row()["state"] == "running"
        assert sandbox("freeze", "burner").returncode == 0
        assert row()["state"] == "frozen"
        before = row()["cpu_time"]
        time.sleep(1.0)
        assert row()["cpu_time"] == before  # not a nanosecond while frozen
        assert sandbox("thaw", "burner").returncode == 0
        time.sleep(1.0)
        assert row()["state"] == "running" and row()["cpu_time"] > before
        joined = sandbox("exec", "burner", "--", "/bin/cat", "/proc/self/cgroup")
        assert joined.returncode == 0, joined.stderr
        lines = dict(line.split(":", 2)[1:] for line in joined.stdout.decode().splitlines())
        assert lines.get("memory") == "/" and lines.get("pids") == "/", lines  # rooted at the box's own
        assert sandbox("kill", "burner").returncode == 0
        box.communicate(timeout=240)
        assert box.returncode == 128 + signal.SIGKILL
    finally:
        if box.poll() is None:
            box.kill()
            box.wait()


def test_python_print_peak_is_within_1_mib_of_bare_python(roots, tmp_path):
    """The helpers are not charged: a boxed `print(1)` peaks where bare Python does, alone in a fresh v1
    memory cgroup (memsw: memory plus swap, as the box's peak is read)."""
    program = script(tmp_path, "print(1)")
    run_json(program)  # warm the page cache for both: the first reader of a file is charged for it
    group = roots["memory"] / "bare-print"
    group.mkdir()
    try:
        subprocess.run(["sh", "-c", f'echo $$ > "{group}/cgroup.procs" && exec "$@"', "sh", "/usr/bin/python3", program],
                       check=True, capture_output=True, timeout=120)
        bare = int((group / "memory.memsw.max_usage_in_bytes").read_text())
    finally:
        wait_until(lambda: not (group / "cgroup.procs").read_text().split())
        group.rmdir()
    boxed = run_json(program)
    assert boxed["verdict"] == "OK"
    assert abs(boxed["memory_peak"] - bare) <= 1 * MiB, (boxed["memory_peak"], bare)


def test_the_jvm_runs_under_a_v1_memory_limit_that_rlimit_as_could_never_give(tmp_path):
    """A real runtime: JDK 17 needs 691M of address space to start under RLIMIT_AS; v1's limit counts
    memory used, so it starts in 128M, and a heap grown past the limit is MLE by the OOM killer."""
    from sandbox import load_profile

    source = Path(__file__).resolve().parents[1] / "programs" / "Allocate.java"
    (tmp_path / "Main.java").write_text(source.read_text())
    built = sandbox("run", "--profile", "javac", "--cpu-time", "400s", "--wall-time", "500s",
                    "--bind-rw", f"{tmp_path}:/work", str(tmp_path / "Main.java"), timeout=600)
    assert (built.returncode, built.stderr) == (0, b""), built.stderr

    def java(megabytes: int) -> dict:
        return run_json("--profile", "java", "--memory", "128M", "--cpu-time", "60s", "--wall-time", "120s",
                        "--bind", f"{tmp_path}:/work", "--", *load_profile("java").command[:-1], "Main",
                        str(megabytes), timeout=300)

    fits = java(16)
    assert (fits["verdict"], fits["stdout"]) == ("OK", "allocated 16\n"), fits["stderr"]
    assert fits["enforced_by"]["memory"] == V1_MEMORY and fits["memory_peak"] < 128 * MiB
    grown = java(200)
    assert (grown["verdict"], grown["limit"], grown["oom_killed"]) == ("MLE", "memory", True), grown["stderr"]
