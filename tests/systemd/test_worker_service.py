"""A judge worker as a system service: the shipped unit (contrib/systemd/sandbox-worker.service), run as the
lingering user with Delegate=yes against a redis-server of this test's own, takes runs from a Celery client
and gives every box a cgroup of its own below the service's; `systemctl stop` leaves nothing behind.

Everything happens in the module's fixture (as in test_service.py): the tier's autouse check after every
test wants no process of the user and no sandbox-* cgroup, and the worker service is both until stopped."""
from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from machine import CGROUP, PREFIX, TIMEOUT, USER, install_unit, nothing_left, remove_unit, root, wait_until

NAME = "sandbox-worker.service"
SERVICE_CGROUP = CGROUP / "system.slice" / NAME
RUN_PREFIX = "sandbox-run-"  # sandbox.cgroup.RUN_PREFIX: a box's cgroup

HOG = "x = bytearray(200 << 20); print(len(x))"
SPIN = "while True: pass"
SLEEP = "import time; time.sleep(45); print('slept')"  # long enough for two to overlap under TCG


def journal() -> str:
    return subprocess.run(["journalctl", "--no-pager", "-n", "200", "-u", NAME], capture_output=True, text=True,
                          timeout=120).stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def result_of(pending: Any) -> dict:
    """The task's result, failing at once (with the journal) should the worker stop meanwhile."""
    deadline = time.monotonic() + TIMEOUT
    while not pending.ready():
        active = subprocess.run(["systemctl", "is-active", "--quiet", NAME]).returncode == 0
        assert active and time.monotonic() < deadline, f"the worker is {'up' if active else 'down'}\n{journal()}"
        time.sleep(1)
    return pending.get(timeout=60)  # type: ignore[no-any-return]


def box_cgroups() -> dict[str, list[str]]:
    """The boxes' cgroups below the service's that hold processes now, with those processes."""
    found = {}
    try:
        for entry in SERVICE_CGROUP.iterdir():
            if entry.name.startswith(RUN_PREFIX):
                procs = (entry / "cgroup.procs").read_text().split()
                if procs:
                    found[entry.name] = procs
    except OSError:  # a box's cgroup removed while we looked
        pass
    return found


@pytest.fixture(scope="module")
def redis_url():
    """A redis-server of this test's own (root's, on a free loopback port, no persistence): the broker."""
    from redis import Redis

    port = free_port()
    directory = tempfile.mkdtemp(prefix="worker-redis-")
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", directory],
                              stdout=open(os.path.join(directory, "redis.log"), "wb"), stderr=subprocess.STDOUT)
    try:
        client = Redis(host="127.0.0.1", port=port, socket_connect_timeout=5)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except Exception:
                return server.poll() is not None  # died: stop waiting, the assert says so
        assert wait_until(answers, 120) and server.poll() is None, "redis-server did not start"
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(60)
        subprocess.run(["rm", "-rf", directory])


@pytest.fixture(scope="module")
def worker(redis_url):
    """Starts the shipped unit, sends it runs as a Celery client, stops it; what was seen on the way."""
    from celery import Celery

    install_unit(NAME, f"{PREFIX}/venv/bin/sandbox worker --broker ${{SANDBOX_BROKER}}",
                 f"Environment=SANDBOX_BROKER={redis_url}")
    app = Celery(broker=redis_url, backend=redis_url, set_as_current=False)
    app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                    result_accept_content=["json"])
    seen: dict[str, Any] = {}
    try:
        root("systemctl", "start", NAME)
        send = lambda spec: app.send_task("sandbox.run", args=[spec])  # noqa: E731
        seen["ok"] = result_of(send({"profile": "py3", "argv": ["python3", "-c", "print(6 * 7)"]}))
        seen["mle"] = result_of(send({"profile": "py3", "argv": ["python3", "-c", HOG], "limits": {"memory": "64M"}}))
        seen["tle"] = result_of(send({"profile": "py3", "argv": ["python3", "-c", SPIN],
                                      "limits": {"cpu_time": "1s", "wall_time": "60s"}}))
        seen["group"] = result_of(send({"group": [{"profile": "py3", "argv": ["python3", "-c", "print(1)"]},
                                                  {"profile": "py3", "argv": ["python3", "-c", "print(2)"]}],
                                        "wall_time": "300s"}))
        # Two at once (one per slot: the VM has 2 cores): each in a cgroup of its own, seen from outside.
        sleepers = [send({"profile": "py3", "argv": ["python3", "-c", SLEEP], "limits": {"wall_time": "300s"}})
                    for _ in range(2)]
        seen["boxes"] = {}

        def two_at_once() -> bool:
            now = box_cgroups()
            if len(now) >= len(seen["boxes"]):
                seen["boxes"] = now
            return len(now) >= 2 or all(s.ready() for s in sleepers)
        wait_until(two_at_once, TIMEOUT)
        seen["sleepers"] = [result_of(s) for s in sleepers]
        main_pid = root("systemctl", "show", "-P", "MainPID", NAME).stdout.strip()
        seen["main_cgroup"] = Path(f"/proc/{main_pid}/cgroup").read_text().strip()
        seen["service_cgroup_owner"] = SERVICE_CGROUP.stat().st_uid
        seen["journal"] = journal()
        root("systemctl", "stop", NAME)
        shown = root("systemctl", "show", "-p", "ActiveState", "-p", "Result", NAME).stdout
        seen["state_after_stop"] = dict(line.split("=", 1) for line in shown.split())
        seen["left"] = nothing_left()
        seen["service_cgroup_left"] = SERVICE_CGROUP.exists()
        yield seen
    finally:
        subprocess.run(["systemctl", "stop", NAME], capture_output=True, timeout=TIMEOUT)
        remove_unit(NAME)
        subprocess.run(["systemctl", "reset-failed", NAME], capture_output=True)


def test_runs_from_the_queue_come_back_right(worker):
    ok = worker["ok"]
    assert ok["verdict"] == "OK" and ok["stdout"] == "42\n" and ok["exit_code"] == 0, ok
    assert [s["verdict"] for s in worker["sleepers"]] == ["OK", "OK"], worker["sleepers"]
    assert all(s["stdout"] == "slept\n" for s in worker["sleepers"]), worker["sleepers"]


def test_every_box_had_a_cgroup_of_its_own_mle_and_tle_by_cgroup(worker):
    mle, tle, ok = worker["mle"], worker["tle"], worker["ok"]
    group = worker["group"]["results"]
    assert [(r["verdict"], r["stdout"]) for r in group] == [("OK", "1\n"), ("OK", "2\n")], group
    for result in (ok, *worker["sleepers"], *group):
        assert "cgroup" in result["enforced_by"]["memory"] and "cgroup" in result["enforced_by"]["pids"], \
            (result["enforced_by"], worker["journal"])
        assert result["memory_peak"] is not None and result["memory_peak"] > 0, result
    assert mle["verdict"] == "MLE" and "memory.max" in mle["enforced_by"]["memory"], (mle, worker["journal"])
    assert mle["oom_killed"] is True and mle["memory_peak"] <= 64 << 20, mle  # memory.peak, capped by memory.max
    assert tle["verdict"] == "TLE" and "cpu.stat" in tle["enforced_by"]["cpu_time"], tle


def test_two_runs_at_once_were_two_cgroups_below_the_services(worker):
    # the delegated cgroup is the user's, and the two sleepers sat in two box cgroups of it at once
    assert worker["service_cgroup_owner"] == int(subprocess.run(["id", "-u", USER], capture_output=True,
                                                                text=True).stdout)
    boxes = worker["boxes"]
    assert len(boxes) >= 2, (boxes, worker["journal"])
    assert len(set(sum(boxes.values(), []))) == sum(len(p) for p in boxes.values()), boxes  # no process in two
    # the worker itself moved out of the service's cgroup into a leaf (the no-internal-process rule)
    assert worker["main_cgroup"].startswith(f"0::/system.slice/{NAME}/sandbox-supervisor-"), worker["main_cgroup"]


def test_systemctl_stop_leaves_nothing(worker):
    # a warm shutdown: SIGTERM, and the worker exited by itself, cleanly (not killed after TimeoutStopSec)
    assert worker["state_after_stop"] == {"ActiveState": "inactive", "Result": "success"}, worker["state_after_stop"]
    cgroups, processes = worker["left"]
    assert cgroups == [] and processes == [], (cgroups, processes)
    assert not worker["service_cgroup_left"]
