"""Named, running sandboxes: sandbox run --name, ps, exec, kill (freeze and thaw need cgroups: VM tier)."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest
from boxrun import SANDBOX, sandbox

WAIT_FOR_FLAG = "echo ready; while [ ! -e /tmp/flag ]; do sleep 0.05; done; echo seen flag"


@pytest.fixture(autouse=True)
def runtime_dir(tmp_path, monkeypatch) -> Path:
    """A registry of our own, so nothing here sees another test's boxes."""
    path = tmp_path / "live"
    monkeypatch.setenv("SANDBOX_RUNTIME_DIR", str(path))
    return path


class NamedRun:
    """`sandbox run --name NAME ...` in the background, ready once its program printed a line and
    its entry is listed (the program may print before the supervisor has read its STARTED record)."""

    def __init__(self, name: str, *args: str) -> None:
        self.name = name
        self.process = subprocess.Popen([*SANDBOX, "run", "--name", name, "--wall-time", "60", *args],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 30)
        assert ready, "the named run did not start"
        self.first_line = self.process.stdout.readline()
        entry = Path(os.environ["SANDBOX_RUNTIME_DIR"]) / f"{name}.json"
        deadline = time.monotonic() + 30
        while not entry.exists() and self.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)

    def finish(self) -> tuple[int, bytes, bytes]:
        out, err = self.process.communicate(timeout=30)
        return self.process.returncode, out, err

    def close(self) -> None:
        """End the box the way a user would (its init reaps it all before the run ends)."""
        if self.process.poll() is None:
            sandbox("kill", self.name)
        self.process.communicate(timeout=30)


@pytest.fixture
def named():
    runs: list[NamedRun] = []

    def start(name: str, *args: str) -> NamedRun:
        runs.append(NamedRun(name, *args))
        return runs[-1]

    yield start
    for run in runs:
        run.close()


def ps() -> list[dict]:
    completed = sandbox("ps", "--json")
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_a_named_run_is_listed_and_exec_runs_inside_it(named, runtime_dir):
    run = named("judge-1", "--profile", "sh", "--", "/bin/sh", "-c", WAIT_FOR_FLAG)
    assert run.first_line == b"ready\n"
    (row,) = ps()
    assert (row["name"], row["profile"], row["state"], row["measured_by"]) == ("judge-1", "sh", "running", "proc")
    with open(f"/proc/{row['pid']}/cmdline", "rb") as f:
        assert f.read().startswith(b"sandbox-init")  # the box's init, by the pid we can signal
    assert row["pids"] >= 2 and row["memory"] > 0  # the init and the shell, at least
    assert row["command"] == ["/bin/sh", "-c", WAIT_FOR_FLAG]
    completed = sandbox("exec", "judge-1", "--", "/bin/sh", "-c", "touch /tmp/flag; echo done")
    assert (completed.returncode, completed.stdout) == (0, b"done\n")  # the program's own /tmp: same mounts
    code, out, _ = run.finish()
    assert (code, out) == (0, b"seen flag\n")
    assert ps() == [] and list(runtime_dir.iterdir()) == []


def test_exec_gets_exactly_the_programs_confinement(named):
    named("box", "--profile", "sh", "--open-files", "77", "--env", "GIVEN=1", "--", "/bin/sh", "-c", WAIT_FOR_FLAG)
    completed = sandbox("exec", "--env", "EXTRA=2", "box", "--", "/bin/sh", "-c", """
        grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status
        echo "uid $(id -u) host $(hostname) nofile $(ulimit -n) pid1 $(cat /proc/1/cmdline)"
        env | sort | tr '\\n' ' '; echo
        echo "net $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' \\n')"
        python3 -c 'import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); libc.unshare(0x10000000); print(os.strerror(ctypes.get_errno()))'""")
    text = completed.stdout.decode()
    assert completed.returncode == 0, text + completed.stderr.decode()
    assert "CapEff:\t0000000000000000" in text and "CapBnd:\t0000000000000000" in text
    assert "NoNewPrivs:\t1" in text and "Seccomp:\t2" in text
    assert "uid 1000 host sandbox nofile 77 pid1 sandbox-init" in text
    assert "GIVEN=1" in text and "EXTRA=2" in text and "HOME=/tmp" in text
    assert "Function not implemented" in text  # the program's filter: no new user namespace
    assert "net lo\n" in text  # its network namespace: loopback only


def test_exec_passes_the_commands_exit_code_and_errors(named):
    named("codes", "--profile", "sh", "--", "/bin/sh", "-c", WAIT_FOR_FLAG)
    assert sandbox("exec", "codes", "--", "/bin/sh", "-c", "exit 7").returncode == 7
    assert sandbox("exec", "codes", "--", "/bin/sh", "-c", "kill -TERM $$").returncode == 128 + signal.SIGTERM
    missing = sandbox("exec", "codes", "--", "/no/such/program")
    assert missing.returncode == 127 and missing.stderr.decode().count("\n") == 1
    assert sandbox("exec", "codes", "--", "/bin/sh", "-c", "cat").returncode == 0  # our stdin (empty) reaches it


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


GRABBER = """
import os, sys, time
flood = sys.argv[1] == "flood"
held = {os.getpid(), 1}
print("ready", flush=True)
while True:  # every newcomer's stdout (a `sandbox exec` command's, same uid): held open, flooded if asked
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in held:
            continue
        try:
            fd = os.open(f"/proc/{entry}/fd/1", os.O_WRONLY)
        except OSError:
            continue
        held.add(int(entry))
        open(f"/tmp/grabbed-{entry}", "w").close()
        try:
            for _ in range(2000 if flood else 0):
                os.write(fd, b"FROM-THE-BOX " * 5000 + b"\\n")  # 64 KB a line, ~130 MB
        except OSError:
            pass
    time.sleep(0.01)
"""
UNTIL_GRABBED = "while [ ! -e /tmp/grabbed-$$ ]; do sleep 0.05; done"


def host_processes(cmdline: bytes) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == os.getuid():
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if f.read() == cmdline:
                        found.add(int(entry))
        except OSError:
            continue
    return found


def test_exec_returns_when_its_command_ends_though_the_box_holds_its_output(named, script):
    """Security review item 7: the box's program holds the command's stdout (through /proc/PID/fd/1);
    exec must not wait for it (the box runs for another minute), only drain what the pipe holds."""
    named("holder", "--profile", "py3", script(GRABBER), "hold")
    completed = sandbox("exec", "holder", "--", "/bin/sh", "-c", f"{UNTIL_GRABBED}; echo done", timeout=30)
    assert (completed.returncode, completed.stdout, completed.stderr) == (0, b"done\n", b"")


def test_exec_obeys_the_boxs_output_limit(named, script):
    """Security review item 7: 130 MB came through a box with --output 1K.  Beyond the box's limit
    the command is killed and exec ends as `sandbox run` does for OLE: one line, 128+SIGKILL."""
    named("flooder", "--profile", "py3", "--output", "1K", script(GRABBER), "flood")
    completed = sandbox("exec", "flooder", "--", "/bin/sh", "-c", f"{UNTIL_GRABBED}; exec sleep 29.5", timeout=30)
    assert completed.returncode == 128 + signal.SIGKILL, completed.stderr
    assert len(completed.stdout) <= 1024 and completed.stdout.startswith(b"FROM-THE-BOX")
    assert completed.stderr.count(b"\n") == 1 and b"OLE: output limit exceeded" in completed.stderr
    deadline = time.monotonic() + 20  # generous: the command dies with its helper, at once but for the load
    while host_processes(b"sleep\x0029.5\x00") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not host_processes(b"sleep\x0029.5\x00"), "the command outlived exec"
