"""Red-team reproducers for the automatic systemd scope (a fork server killed from outside; a system
service's boxes leaving the service's cgroup)."""
from __future__ import annotations

import json
import shlex
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from machine import PREFIX, TIMEOUT, USER, as_user, root, user_processes

KILLED_SERVER = """
import json, os, signal, time
from sandbox import Sandbox
with Sandbox("py3") as box:
    first = box.run(["/usr/bin/python3", "-c", "print(1)"]).verdict.value
    old_scope = box.cgroup_root
    os.kill(box._server._server.pid, signal.SIGKILL)  # the fork server killed from outside (OOM killer, an admin)
    deadline = time.monotonic() + 60
    while os.path.exists(old_scope) and time.monotonic() < deadline:
        time.sleep(0.2)  # systemd collects the emptied scope
    try:
        second = box.run(["/usr/bin/python3", "-c", "print(2)"]).verdict.value
    except Exception as e:
        second = f"{type(e).__name__}: {e}"
print(json.dumps({"first": first, "second": second, "scope_gone": not os.path.exists(old_scope)}))
"""


def test_a_run_after_the_fork_server_was_killed_from_outside_still_runs():
    """ForkServer.spawn promises one fresh start when the server died; with a scope per server the run's
    cgroup root was taken from the dead server's (collected) scope before spawn restarted it."""
    done = as_user(f"python3 -c {shlex.quote(KILLED_SERVER)}")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["first"] == "OK", report
    assert report["second"] == "OK", report


UNIT = Path("/etc/systemd/system/sbx-red-plain.service")
SCRIPT = Path("/var/tmp/sbx-red-plain.sh")
OUT = Path("/var/tmp/sbx-red-plain.out")


def test_a_system_service_without_delegation_keeps_its_boxes_in_its_own_cgroup():
    """A plain system service (no Delegate=) of a lingering user, capped by the admin at TasksMax=20:
    its boxes must not leave the service's cgroup for the user manager's, escaping that cap."""
    OUT.unlink(missing_ok=True)
    box_program = "for i in $(seq 40); do sleep 30 & done; sleep 2; ls /proc | grep -c '^[0-9]'"
    line = shlex.join([f"{PREFIX}/venv/bin/sandbox", "run", "--json", "--profile", "sh", "--pids", "200",
                       "--", "/bin/sh", "-c", box_program])
    SCRIPT.write_text(f"{line} > {OUT}.json 2>&1 & sleep 4; echo cli: $(cat /proc/$!/cgroup) > {OUT}.cli; wait\n"
                      f"cat {OUT}.json {OUT}.cli > {OUT}\n")
    SCRIPT.chmod(0o755)
    UNIT.write_text(textwrap.dedent(f"""\
        [Service]
        Type=oneshot
        User={USER}
        TasksMax=20
        ExecStart=/bin/sh {SCRIPT}
        """))
    root("systemctl", "daemon-reload")
    try:
        started = subprocess.run(["systemctl", "start", "sbx-red-plain.service"], capture_output=True, text=True,
                                 timeout=TIMEOUT)
        journal = subprocess.run(["journalctl", "--no-pager", "-u", "sbx-red-plain.service"],
                                 capture_output=True, text=True, timeout=120).stdout
        assert OUT.exists(), f"{started.stderr}\n{journal}"
        text = OUT.read_text()
    finally:
        UNIT.unlink()
        root("systemctl", "daemon-reload")
    result, _ = json.JSONDecoder().raw_decode(text[text.index("{"):])
    assert "user@" not in text.split("cli:")[-1], text  # the CLI (and so its boxes) stayed in the service
    assert "cgroup" not in result["enforced_by"]["pids"], text  # no delegated cgroup is the service's own
    counted = (result["stdout"] or "").split()  # with the cap held, the count itself may find no process to run
    assert not counted or int(counted[-1]) <= 20, text  # the admin's TasksMax=20 on the service held


KILLED_MID_BATCH = """
import json, os, signal, time
from sandbox import Sandbox, Case
from sandbox import supervisor
with Sandbox("py3") as box:
    real = supervisor.run_prepared
    count = {"n": 0}
    def run_prepared(*a, **kw):
        count["n"] += 1
        if count["n"] == 2:  # the fork server killed from outside between two cases of a batch
            scope = box.cgroup_root
            os.kill(box._server._server.pid, signal.SIGKILL)
            deadline = time.monotonic() + 60
            while os.path.exists(scope) and time.monotonic() < deadline:
                time.sleep(0.2)
        return real(*a, **kw)
    supervisor.run_prepared = run_prepared
    try:
        verdicts = [r.verdict.value for r in box.run_cases(["/bin/cat"], [Case(str(i), b"x", b"x") for i in range(3)])]
    except Exception as e:
        verdicts = f"{type(e).__name__}: {e}"
print(json.dumps({"verdicts": verdicts}))
"""


def test_a_batch_of_cases_survives_its_fork_server_being_killed_between_cases():
    done = as_user(f"python3 -c {shlex.quote(KILLED_MID_BATCH)}")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verdicts"] == ["OK", "OK", "OK"], done.stdout


STOPPED_UNIT = Path("/etc/systemd/system/sbx-red-stopped.service")


def test_stopping_a_system_service_ends_the_sandbox_run_it_started():
    """`systemctl stop` kills what is in the service's cgroup (and its main process, here a shell wrapping the
    run, as service scripts do); a `sandbox run` (CLI) that moved itself into a scope of the user manager is
    not there, so it and its box must not outlive the service."""
    STOPPED_UNIT.write_text(textwrap.dedent(f"""\
        [Service]
        User={USER}
        ExecStart=/bin/sh -c '{PREFIX}/venv/bin/sandbox run --profile sh --wall-time 900 -- /bin/sleep 900; echo ended'
        """))
    root("systemctl", "daemon-reload")
    try:
        root("systemctl", "start", "sbx-red-stopped.service")
        deadline = time.monotonic() + 120
        while "sleep 900" not in " ".join(user_processes()) and time.monotonic() < deadline:
            time.sleep(0.5)
        root("systemctl", "stop", "sbx-red-stopped.service")
        time.sleep(5)
        left = [p for p in user_processes() if "sleep 900" in p or "sandbox run" in p]
        where = subprocess.run(["sh", "-c", "for p in $(pgrep -u %s -f 'sleep 900'); do cat /proc/$p/cgroup; done"
                                % USER], capture_output=True, text=True).stdout
    finally:
        subprocess.run(["pkill", "-KILL", "-u", USER, "-f", "sleep 900|sandbox run"])
        STOPPED_UNIT.unlink()
        root("systemctl", "daemon-reload")
    assert left == [], f"outlived the stopped service: {left} in {where}"


def test_a_cli_killed_at_any_moment_of_asking_for_its_scope_leaves_nothing():
    """SIGKILL at staggered moments around StartTransientUnit and the move: the fixture checks no scope, cgroup
    or process is left."""
    as_user("for d in 0 0.05 0.1 0.2 0.3 0.5 0.8 1.2 2; do sandbox run --profile sh -- /bin/sleep 100 & "
            "sleep $d; kill -KILL $!; wait $! 2>/dev/null; done; sleep 1", timeout=600)
