"""Named sandboxes with their own cgroup: ps reads the cgroup, freeze and thaw stop and restart the
whole box, exec joins the box's cgroup, kill ends it."""
from __future__ import annotations

import json
import select
import signal
import subprocess
import time

import pytest

from vmbox import SANDBOX, sandbox

# A dozen CLI starts (each a Python start and import on 2 emulated CPUs, 10-50x slower than the host,
# more on a loaded machine) and 3 s of sleeps: the tier's 60 s default is met only by a quiet machine.
pytestmark = pytest.mark.timeout(600)

BURN = "import time\nprint('ready', flush=True)\nwhile True: pass\n"


@pytest.fixture(autouse=True)
def runtime_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SANDBOX_RUNTIME_DIR", str(tmp_path / "live"))


@pytest.fixture
def burner(tmp_path):
    program = tmp_path / "burn.py"
    program.write_text(BURN)
    process = subprocess.Popen([*SANDBOX, "run", "--name", "burner", "--cpu-time", "600", "--wall-time", "600",
                                str(program)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert select.select([process.stdout], [], [], 120)[0] and process.stdout.readline() == b"ready\n"
    yield process
    if process.poll() is None:
        sandbox("kill", "burner")
    process.communicate(timeout=120)


def row() -> dict:
    completed = sandbox("ps", "--json")
    assert completed.returncode == 0, completed.stderr
    (only,) = json.loads(completed.stdout)
    return only


def cpu_after(seconds: float) -> tuple[float, float]:
    before = row()["cpu_time"]
    time.sleep(seconds)
    return before, row()["cpu_time"]


def test_ps_reads_the_box_cgroup_and_freeze_stops_it_until_thawed(burner):
    first = row()
    assert (first["name"], first["measured_by"], first["state"]) == ("burner", "cgroup", "running")
    assert first["cgroup"] and first["pids"] >= 1 and first["memory"] > 0
    before, after = cpu_after(1.0)
    assert after > before  # burning
    assert sandbox("freeze", "burner").returncode == 0
    assert row()["state"] == "frozen"
    before, after = cpu_after(1.0)
    assert after == before  # not a microsecond while frozen
    exec_frozen = sandbox("exec", "burner", "--", "/bin/true")
    assert exec_frozen.returncode == 125 and b"frozen" in exec_frozen.stderr
    assert sandbox("thaw", "burner").returncode == 0
    assert row()["state"] == "running"
    before, after = cpu_after(1.0)
    assert after > before


def test_exec_joins_the_box_cgroup_and_kill_ends_the_box(burner):
    completed = sandbox("exec", "burner", "--", "/bin/sh", "-c", "cat /proc/self/cgroup")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.decode().splitlines()[0] == "0::/"  # its own cgroup namespace, rooted at the box's
    assert sandbox("kill", "burner").returncode == 0
    out, err = burner.communicate(timeout=120)
    assert burner.returncode == 128 + signal.SIGKILL, err
    assert json.loads(sandbox("ps", "--json").stdout) == []
