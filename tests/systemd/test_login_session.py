"""A plain user in a login session on a systemd host, with no flag at all: every run goes into a
transient delegated scope of the user's manager, so its limits and numbers are the cgroup's
(issue 16's contract, word for word where it gives the words)."""
from __future__ import annotations

import json
import re
import shlex

import pytest
from machine import USER, as_user, sandbox_cgroups, sandbox_json

HOG = "x = bytearray(200 << 20); print(len(x))"


def test_a_plain_run_is_limited_by_cgroup_with_no_flag():
    result = sandbox_json("--profile", "py3", "--", "/usr/bin/python3", "-c", "print(1)")
    assert result["verdict"] == "OK" and result["stdout"] == "1\n"
    assert "cgroup" in result["enforced_by"]["memory"]
    assert "cgroup" in result["enforced_by"]["cpu_time"] and "cgroup" in result["enforced_by"]["pids"]
    assert result["memory_peak"] is not None and result["memory_peak"] > 0


def test_a_program_over_its_memory_gets_mle_from_the_cgroup():
    result = sandbox_json("--profile", "py3", "--memory", "64M", "--", "/usr/bin/python3", "-c", HOG)
    assert result["verdict"] == "MLE", result
    assert "memory.max" in result["enforced_by"]["memory"]


def test_a_busy_program_gets_tle_from_the_cgroups_cpu_time():
    result = sandbox_json("--profile", "py3", "--cpu-time", "1", "--wall-time", "120",
                          "--", "/usr/bin/python3", "-c", "while True: pass")
    assert result["verdict"] == "TLE", result
    assert "cpu.stat" in result["enforced_by"]["cpu_time"]
    assert 1.0 <= result["cpu_time"] < 3.0


def test_the_run_goes_into_a_scope_of_the_user_manager_and_the_shell_stays_in_its_session():
    shown = as_user("cat /proc/self/cgroup; sandbox run --name probe --profile sh -- /bin/sleep 300 >/dev/null & "
                    "until sandbox ps 2>/dev/null | grep -q probe; do sleep 0.2; done; "
                    "find /sys/fs/cgroup -name 'sandbox-*.scope' -type d; sandbox kill probe; wait; "
                    "cat /proc/self/cgroup")
    lines = shown.stdout.split()
    assert re.search(r"/session-\w+\.scope$", lines[0]), shown
    scopes = [line for line in lines if line.endswith(".scope") and "/sandbox-" in line]
    assert len(scopes) == 1 and "/user@" in scopes[0], shown
    assert lines[-1] == lines[0], shown  # the shell's own cgroup is untouched


def test_exec_and_kill_reach_a_box_in_a_scope_from_the_shells_session():
    shown = as_user("sandbox run --name probe --profile sh -- /bin/sleep 300 >/dev/null 2>&1 & run=$!; "
                    "until sandbox ps 2>/dev/null | grep -q probe; do sleep 0.2; done; "
                    "sandbox exec probe -- /bin/sh -c 'echo inside; cat /proc/self/cgroup'; echo exec=$?; "
                    "sandbox kill probe; wait $run; echo run=$?")
    assert "inside\n0::/\nexec=0" in shown.stdout, shown  # in the box's cgroup (its namespace's root)
    assert "run=137" in shown.stdout, shown


@pytest.mark.parametrize("opt_out", ["--no-systemd-scope", "SANDBOX_SYSTEMD_SCOPE=0"])
def test_opting_out_keeps_rlimits(opt_out):
    flag, env = (opt_out, "") if opt_out.startswith("--") else ("", opt_out)
    args = ["--profile", "py3", *([flag] if flag else []), "--", "/usr/bin/python3", "-c", "print(1)"]
    result = sandbox_json(*args, env=env)
    assert result["verdict"] == "OK"
    assert "RLIMIT_AS" in result["enforced_by"]["memory"], result["enforced_by"]


def test_doctor_names_the_managers_delegated_controllers():
    doctor = as_user("sandbox doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    line = next(l for l in doctor.stdout.splitlines() if l.startswith("ok   systemd user manager:"))
    assert "user@" in line and all(c in line for c in ("memory", "pids", "cpu")), doctor.stdout


API_JUDGE = """
import json
from sandbox import Sandbox
with Sandbox("py3") as box:
    mle = box.run(["/usr/bin/python3", "-c", "x = bytearray(200 << 20)"], memory="64M")
    ok = box.run(["/usr/bin/python3", "-c", "print(2)"])
    root = box.cgroup_root
print(json.dumps({"mle": mle.verdict.value, "mle_by": mle.enforced_by["memory"], "ok": ok.verdict.value,
                  "root": root, "mine": open("/proc/self/cgroup").read().strip()}))
"""


def test_the_api_started_from_a_shell_gets_cgroups_too():
    done = as_user(f"python3 -c {shlex.quote(API_JUDGE)}")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["mle"] == "MLE" and "memory.max" in report["mle_by"] and report["ok"] == "OK", report
    assert "/sandbox-" in report["root"] and report["root"].endswith(".scope"), report  # the fork server's scope
    assert "session-" in report["mine"], report  # the judge itself stayed in its session


def test_a_cli_killed_mid_run_leaves_no_box_and_no_scope():
    as_user("sandbox run --profile sh -- /bin/sleep 1000 & sleep 8; pkill -KILL -u $(id -u) -f 'sandbox run'; "
            "sleep 1", timeout=600)
    # the fixture's check: the scope is collected, the box's processes are gone


def test_the_user_is_who_the_contract_names():
    assert as_user("id -un").stdout.strip() == USER
    assert sandbox_cgroups() == []
