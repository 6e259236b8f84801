"""Named, running sandboxes: sandbox run --name, ps, exec, kill (freeze and thaw need cgroups: VM tier)."""
from __future__ import annotations

import json
import os
import signal
import time

import pytest
from boxrun import named, runtime_dir, sandbox  # noqa: F401 - fixtures

WAIT_FOR_FLAG = "echo ready; while [ ! -e /tmp/flag ]; do sleep 0.05; done; echo seen flag"


def ps() -> list[dict]:
    completed = sandbox("ps", "--json")
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_kill_ends_the_run_and_removes_its_entry(named, runtime_dir):
    run = named("doomed", "--profile", "sh", "--", "/bin/sh", "-c", WAIT_FOR_FLAG)
    completed = sandbox("kill", "doomed")
    assert completed.returncode == 0, completed.stderr
    code, out, _ = run.finish()
    assert code == 128 + signal.SIGKILL and b"seen flag" not in out  # reported as killed, as a run ended by us
    assert ps() == [] and list(runtime_dir.iterdir()) == []


def test_an_entry_left_by_a_killed_supervisor_is_never_listed_and_is_removed(named, runtime_dir):
    run = named("orphan", "--profile", "sh", "--", "/bin/sh", "-c", WAIT_FOR_FLAG)
    assert [p.name for p in runtime_dir.iterdir()] == ["orphan.json"]
    (row,) = ps()
    run.process.send_signal(signal.SIGKILL)
    run.process.wait()
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{row['pid']}/cmdline") and time.monotonic() < deadline:
        time.sleep(0.05)  # the init dies with its parent (and is reaped by whoever adopts it)
    assert ps() == []
    assert list(runtime_dir.iterdir()) == []
    assert sandbox("exec", "orphan", "--", "/bin/true").returncode == 125


def test_a_running_name_cannot_be_taken_twice(named):
    named("twice", "--profile", "sh", "--", "/bin/sh", "-c", WAIT_FOR_FLAG)
    second = sandbox("run", "--name", "twice", "--profile", "sh", "--", "/bin/true")
    assert second.returncode == 125 and b"twice" in second.stderr and second.stderr.count(b"\n") == 1


@pytest.mark.parametrize("args, words", [
    (["exec", "nobody", "--", "/bin/true"], "no running sandbox named 'nobody'"),
    (["freeze", "nobody"], "no running sandbox named 'nobody'"),
    (["run", "--name", "../evil", "--profile", "sh", "--", "/bin/true"], "--name '../evil'"),
    (["exec", "nobody"], "expected NAME -- PROGRAM"),
])
def test_user_errors_are_one_line(args, words):
    completed = sandbox(*args)
    assert completed.returncode == 125
    assert words in completed.stderr.decode() and completed.stderr.count(b"\n") == 1


def test_freeze_without_a_cgroup_says_what_it_needs(named):
    named("cold", "--profile", "sh", "--", "/bin/sh", "-c", WAIT_FOR_FLAG)
    completed = sandbox("freeze", "cold")
    assert completed.returncode == 125 and b"cgroup.freeze" in completed.stderr
    assert [row["state"] for row in ps()] == ["running"]


def test_the_api_names_a_run_too(runtime_dir):
    from concurrent.futures import ThreadPoolExecutor

    from sandbox import Sandbox

    with Sandbox("sh") as box, ThreadPoolExecutor(1) as pool:
        future = pool.submit(box.run, ["/bin/sh", "-c", WAIT_FOR_FLAG], name="from-api", wall_time=60)
        deadline = time.monotonic() + 30
        while not ps() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [row["name"] for row in ps()] == ["from-api"]
        assert sandbox("exec", "from-api", "--", "/bin/touch", "/tmp/flag").returncode == 0
        result = future.result(timeout=30)
    assert result.stdout == b"ready\nseen flag\n" and list(runtime_dir.iterdir()) == []

