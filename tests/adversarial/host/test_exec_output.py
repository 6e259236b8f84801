"""`sandbox exec` into a box whose program attacks the command's output (security review item 7).

The program runs as the same uid as the command and can open its stdout through /proc/PID/fd/1:
it held it open (exec returned only when the box ended) and flooded it (130 MB through a box with
--output 1K).
"""
from __future__ import annotations

import os
import signal
import textwrap
import time
from pathlib import Path

import pytest
from boxrun import named, runtime_dir, sandbox  # noqa: F401 - fixtures


@pytest.fixture
def grabber(tmp_path: Path) -> str:
    path = tmp_path / "grab.py"
    path.write_text(textwrap.dedent(GRABBER))
    return str(path)


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


def test_exec_returns_when_its_command_ends_though_the_box_holds_its_output(named, grabber):
    """Security review item 7: the box's program holds the command's stdout (through /proc/PID/fd/1);
    exec must not wait for it (the box runs for another minute), only drain what the pipe holds."""
    named("holder", "--profile", "py3", grabber, "hold")
    completed = sandbox("exec", "holder", "--", "/bin/sh", "-c", f"{UNTIL_GRABBED}; echo done", timeout=30)
    assert (completed.returncode, completed.stdout, completed.stderr) == (0, b"done\n", b"")


def test_exec_obeys_the_boxs_output_limit(named, grabber):
    """Security review item 7: 130 MB came through a box with --output 1K.  Beyond the box's limit
    the command is killed and exec ends as `sandbox run` does for OLE: one line, 128+SIGKILL."""
    named("flooder", "--profile", "py3", "--output", "1K", grabber, "flood")
    completed = sandbox("exec", "flooder", "--", "/bin/sh", "-c", f"{UNTIL_GRABBED}; exec sleep 29.5", timeout=30)
    assert completed.returncode == 128 + signal.SIGKILL, completed.stderr
    assert len(completed.stdout) <= 1024 and completed.stdout.startswith(b"FROM-THE-BOX")
    assert completed.stderr.count(b"\n") == 1 and b"OLE: output limit exceeded" in completed.stderr
    deadline = time.monotonic() + 20  # generous: the command dies with its helper, at once but for the load
    while host_processes(b"sleep\x0029.5\x00") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not host_processes(b"sleep\x0029.5\x00"), "the command outlived exec"
