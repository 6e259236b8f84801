"""The box ends at its deadline whatever the consumer of its output does (security review item 8).

A reader that does not read (a pipe nobody drains, a stopped `cat`, a terminal nobody reads)
must not hold up the supervisor's wall-time limit.  Each test keeps its reader stalled while it
watches /proc for the box's processes (`yes stalled-reader`, `sleep 29.5`: names nothing else of
the test user has) and asserts that they are gone *while the reader is still stalled*; only then
does it read.  No speed is asserted: the stall lasts up to STALL seconds, and ends as soon as the
box is gone, which takes ~2 s (the wall time) unless the box waits for its reader, in which case
it lives until `sleep 29.5` ends, longer than STALL.  (Reproducer 06 times its whole pipeline,
which includes its reader's own `sleep 12`; this measures the box's life instead.)
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional

import pytest
from boxrun import SANDBOX

STALL = 25.0   # seconds the reader stalls at most; the box's `sleep` would outlive it by 4.5 s
APPEAR = 30.0  # generous: the CLI's start on a loaded machine


def box_processes() -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != os.getuid():
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if cmdline.startswith(b"yes\0stalled-reader") or cmdline == b"sleep\x0029.5\x00":
            found.add(int(entry))
    return found


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def command(result: Path, stream: str) -> list[str]:
    redirect = " >&2" if stream == "stderr" else ""
    return [*SANDBOX, "run", "--profile", "sh", "--wall-time", "2", "--result", str(result), "--",
            "/bin/sh", "-c", f"yes stalled-reader{redirect} & exec sleep 29.5"]


def check_box_ends_while_stalled(start: Callable[[], subprocess.Popen], release: Callable[[], None],
                                 result: Path) -> None:
    cli: Optional[subprocess.Popen] = None
    try:
        cli = start()
        assert wait_for(lambda: bool(box_processes()), APPEAR), "the box never started"
        ended_while_stalled = wait_for(lambda: not box_processes(), STALL)
    finally:
        release()
        if cli is not None:
            cli.wait(timeout=60)
    assert ended_while_stalled, "the box outlived its wall time while the reader stalled"
    document = json.loads(result.read_text())
    assert (document["verdict"], document["limit"]) == ("TLE", "wall_time")
    assert document["wall_time"] < STALL


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_a_pipe_nobody_reads(tmp_path, stream):
    result = tmp_path / "result.json"
    cli: list[subprocess.Popen] = []
    received = bytearray()

    def start() -> subprocess.Popen:
        pipes = {stream: subprocess.PIPE}
        cli.append(subprocess.Popen(command(result, stream), stdin=subprocess.DEVNULL,
                                    stdout=pipes.get("stdout", subprocess.DEVNULL),
                                    stderr=pipes.get("stderr", subprocess.DEVNULL)))
        return cli[0]

    def release() -> None:  # read at last, everything, so the CLI can end
        if cli:
            reader = cli[0].stdout if stream == "stdout" else cli[0].stderr
            assert reader is not None
            received.extend(reader.read())

    check_box_ends_while_stalled(start, release, result)
    assert received.startswith(b"stalled-reader\n")  # what the box wrote before its end still arrives


def test_a_stopped_cat(tmp_path):
    result = tmp_path / "result.json"
    cat = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    os.kill(cat.pid, signal.SIGSTOP)

    def start() -> subprocess.Popen:
        assert cat.stdin is not None
        started = subprocess.Popen(command(result, "stdout"), stdin=subprocess.DEVNULL, stdout=cat.stdin,
                                   stderr=subprocess.DEVNULL)
        cat.stdin.close()  # the CLI holds the only write end: cat ends when the CLI does
        return started

    def release() -> None:
        os.kill(cat.pid, signal.SIGCONT)

    try:
        check_box_ends_while_stalled(start, release, result)
    finally:
        os.kill(cat.pid, signal.SIGCONT)
        cat.wait(timeout=60)


def test_a_terminal_nobody_reads(tmp_path):
    """The CLI's stdout is a terminal whose other side is not read (as after XOFF, or a stuck emulator)."""
    result = tmp_path / "result.json"
    master, slave = os.openpty()
    cli: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        cli.append(subprocess.Popen(command(result, "stdout"), stdin=subprocess.DEVNULL, stdout=slave,
                                    stderr=subprocess.DEVNULL))
        os.close(slave)
        return cli[0]

    def release() -> None:
        while cli and cli[0].poll() is None:
            try:
                os.read(master, 1 << 16)
            except OSError:  # EIO: the CLI has closed its side
                break

    try:
        check_box_ends_while_stalled(start, release, result)
    finally:
        os.close(master)
