"""Runs through Celery and Redis (issue 19): many at once, errors whole, a worker killed mid-run.

The client is what a judge has: Celery alone, `send_task("sandbox.run", args=[spec])`.  The tests run in
this file's order: the worker killed mid-run comes last, and the workers after it are its survivor and
the one started in its place.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from conftest import VISIBILITY_TIMEOUT, Cluster, descendants
from boxrun import mounts, temp_entries


def echo(token: str, sleep: float = 0) -> dict:
    """A spec whose stdout is its own token (by argv, so no two specs are alike)."""
    script = f"sleep {sleep}; echo \"$1\"" if sleep else "echo \"$1\""
    return {"profile": "sh", "argv": ["/bin/sh", "-c", script, "sh", token], "limits": {"wall_time": "20s"}}


def test_500_runs_come_back_each_with_its_own_result(client):
    started = time.monotonic()
    sent = [(f"run-{i}-{os.urandom(4).hex()}", client.send_task("sandbox.run", args=[echo(f"run-{i}")]))
            for i in range(500)]
    for token, async_result in sent:
        result = async_result.get(timeout=120)
        assert result["verdict"] == "OK", result
        assert result["stdout"] == token.rsplit("-", 1)[0] + "\n", (token, result["stdout"])
    assert time.monotonic() - started < 100


def test_a_spec_error_arrives_as_its_usage_error(client):
    import sandbox.errors  # noqa: F401  (imported: Celery rebuilds the real class)
    from sandbox.errors import UsageError

    with pytest.raises(UsageError) as raised:
        client.send_task("sandbox.run", args=[{**echo("x"), "bogus": 1}]).get(timeout=30)
    assert "unknown key(s) bogus" in raised.value.message
    assert raised.value.to_dict()["error"] == "UsageError"


def test_a_program_not_found_arrives_as_exec_error_127(client):
    from sandbox.errors import ExecError

    with pytest.raises(ExecError) as raised:
        client.send_task("sandbox.run", args=[{"profile": "sh", "argv": ["no-such-program"]}]).get(timeout=30)
    assert raised.value.exit_code == 127 and raised.value.errno == 2
    assert "no-such-program" in raised.value.message


def test_a_client_with_celery_alone_gets_type_message_and_fields(cluster):
    """No sandbox imported: Celery makes a class of the same name; args are (message, to_dict())."""
    code = ("import sys; from celery import Celery; app = Celery(broker=sys.argv[1], backend=sys.argv[1]);\n"
            "try: app.send_task('sandbox.run', args=[{'profile': 'sh', 'argv': ['no-such-program']}]).get(timeout=30)\n"
            "except Exception as e: print(type(e).__name__, e.args[0] == e.args[1]['message'], "
            "e.args[1]['exit_code'], 'sandbox' in sys.modules)")
    shown = subprocess.run([sys.executable, "-c", code, cluster.url], capture_output=True, text=True, timeout=60)
    assert shown.stdout.split() == ["ExecError", "True", "127", "False"], shown.stderr


def test_a_group_runs_too(client):
    spec = {"group": [{"profile": "sh", "argv": ["/bin/sh", "-c", "echo ping"]},
                      {"profile": "sh", "argv": ["/bin/sh", "-c", "read x; echo got $x"]}],
            "pipes": [{"from": [0, 1], "to": [1, 0]}], "wall_time": "10s"}
    results = client.send_task("sandbox.run", args=[spec]).get(timeout=30)["results"]
    assert [r["verdict"] for r in results] == ["OK", "OK"] and results[1]["stdout"] == "got ping\n"


def test_a_big_file_travels_once_per_machine(cluster, client):
    """Put once (sandbox.put), named by sha256 in every spec, fetched from the broker once per worker."""
    import base64
    import hashlib

    data = os.urandom(2 << 20)
    digest = client.send_task("sandbox.put", args=[base64.b64encode(data).decode()]).get(timeout=30)
    assert digest == hashlib.sha256(data).hexdigest()
    spec = {"profile": "sh", "argv": ["/bin/sh", "-c", "wc -c < big"], "files": {"big": {"sha256": digest}}}
    results = [client.send_task("sandbox.run", args=[spec]) for _ in range(16)]
    assert [r.get(timeout=60)["stdout"].strip() for r in results] == [str(len(data))] * 16
    fetches = [worker.text().count(f"file {digest} fetched from the broker") for worker in cluster.workers]
    assert sum(fetches) >= 1 and all(n == 1 for n in fetches if n), fetches  # slots missing at once wait
    from sandbox.errors import UsageError

    with pytest.raises(UsageError, match="no file with sha256"):
        client.send_task("sandbox.run", args=[{**spec, "files": {"big": {"sha256": "0" * 64}}}]).get(timeout=30)


def test_a_batch_of_cases_with_a_checker_named_by_hash(client):
    """A problem's data and checker put once, a batch of cases judged by the checker on the worker."""
    import base64
    from pathlib import Path

    def put(data: bytes) -> str:
        return client.send_task("sandbox.put", args=[base64.b64encode(data).decode()]).get(timeout=30)

    checker = put((Path(__file__).resolve().parents[2] / "examples/judge/divide/checker.py").read_bytes())
    cases = [{"name": str(i), "stdin": {"sha256": put(f"{i} 7\n".encode())},
              "expected": {"sha256": put(f"{i / 7}\n".encode())}} for i in range(1, 6)]
    spec = {"profile": "py3", "argv": ["python3", "-c", "a, b = map(int, input().split()); print(round(a / b, 9))"],
            "cases": cases, "checker": {"name": "checker.py", "content": {"sha256": checker}}}
    result = client.send_task("sandbox.run", args=[spec]).get(timeout=120)
    assert result["verdict"] == "OK" and [c["verdict"] for c in result["cases"]] == ["OK"] * 5, result
    rounded = {**spec, "argv": ["python3", "-c", "a, b = map(int, input().split()); print(round(a / b, 2))"]}
    result = client.send_task("sandbox.run", args=[rounded]).get(timeout=120)
    assert result["verdict"] == "WA" and "checker: wrong answer" in result["cases"][0]["message"]


def _boxes_running(pid: int) -> bool:
    """A program of a run (a `sleep` in a box) is running below the worker."""
    for child, _ in descendants(pid):
        try:
            with open(f"/proc/{child}/comm") as f:
                if f.read().strip() == "sleep":
                    return True
        except OSError:
            continue
    return False


def test_a_worker_killed_mid_run_loses_nothing_and_leaves_nothing(cluster: Cluster, client):
    victim, survivor = cluster.workers[0], cluster.workers[1]
    mount_table, temps = mounts(), temp_entries()
    sent = [(f"job-{i}", client.send_task("sandbox.run", args=[echo(f"job-{i}", sleep=1)])) for i in range(16)]
    deadline = time.monotonic() + 30
    while not _boxes_running(victim.process.pid):
        assert time.monotonic() < deadline, "the victim never ran a job"
        time.sleep(0.05)
    below = descendants(victim.process.pid)
    os.kill(victim.process.pid, signal.SIGKILL)
    victim.process.wait(10)
    for token, async_result in sent:
        result = async_result.get(timeout=90)
        assert result["verdict"] == "OK" and result["stdout"] == token + "\n", (token, result)
    # The jobs the victim had taken and not finished ran again on the survivor.
    taken = set(re.findall(r"Task sandbox.run\[([0-9a-f-]+)\] received", victim.text()))
    finished = set(re.findall(r"Task sandbox.run\[([0-9a-f-]+)\] (?:succeeded|raised)", victim.text()))
    lost = taken - finished
    assert lost, "the victim was killed with no job in hand"
    # (a job whose result the victim stored just before it died runs again all the same: it was not acknowledged)
    deadline = time.monotonic() + 3 * VISIBILITY_TIMEOUT + 15
    while not lost <= set(re.findall(r"Task sandbox.run\[([0-9a-f-]+)\] succeeded", survivor.text())):
        assert time.monotonic() < deadline, (f"jobs the victim held never ran again: {lost}",
                                             [line for line in (victim.text() + "\n" + survivor.text()).splitlines()
                                              if any(task in line for task in lost)])
        time.sleep(0.2)
    # Nothing of the killed worker is left: its pool processes, fork servers, inits and programs.
    time.sleep(0.5)
    assert {(pid, start) for pid, start in below if start_time_now(pid) == start} == set()
    assert mounts() == mount_table and temp_entries() <= temps
    # A worker started in its place takes runs as before.
    cluster.start_worker("a-again")
    again = [client.send_task("sandbox.run", args=[echo(f"again-{i}")]) for i in range(20)]
    assert [r.get(timeout=60)["stdout"] for r in again] == [f"again-{i}\n" for i in range(20)]


def start_time_now(pid: int) -> str:
    from conftest import start_time

    return start_time(pid)
