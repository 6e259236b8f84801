"""The queue tier: `sandbox worker` on a real Redis (Debian's redis-server), as an unprivileged user.

The fixture starts its own redis-server on a free loopback port (no persistence, its own directory; the
host's redis service is never used) and two workers as separate processes, standing in for two machines.
Everything is stopped and removed after the tier: no process, temp directory or redis left.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from boxrun import mounts, our_processes, temp_entries  # noqa: E402

CONCURRENCY = 2
VISIBILITY_TIMEOUT = 5  # seconds: a killed worker's jobs run again within about 6 s


def pytest_configure(config: pytest.Config) -> None:
    if os.geteuid() == 0:
        raise pytest.UsageError("the queue tier must run as an unprivileged user (scripts/test does this)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def descendants(pid: int) -> set[tuple[int, str]]:
    """Every process below pid, with its start time (a pid used again later is another process)."""
    found: set[tuple[int, str]] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            with open(f"/proc/{parent}/task/{parent}/children") as f:
                children = [int(c) for c in f.read().split()]
        except OSError:
            continue
        for child in children:
            found.add((child, start_time(child)))
            todo.append(child)
    return found


def start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return ""


class Worker:
    """`sandbox worker --broker URL --concurrency 2` as a process of its own, its log in a file."""

    def __init__(self, url: str, log: Path) -> None:
        """Each with a cache directory of its own, as on a machine of its own (files by content)."""
        self.log = log
        env = {**os.environ, "XDG_CACHE_HOME": str(log.with_suffix(".cache"))}
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sandbox", "worker", "--broker", url, "--concurrency", str(CONCURRENCY),
                 "--visibility-timeout", str(VISIBILITY_TIMEOUT)], stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 30
        while " ready." not in self.text():
            assert self.process.poll() is None, f"the worker exited: {self.text()}"
            assert time.monotonic() < deadline, f"the worker did not start: {self.text()}"
            time.sleep(0.1)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        """A warm shutdown (SIGTERM: the runs in hand finish), SIGKILL if that takes too long."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


class Cluster:
    """One redis-server and the workers, all of this test user's, in one temp directory."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="sandbox-queue-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)], stdout=open(self.dir / "redis.log", "wb"), stderr=subprocess.STDOUT)
        self._wait_for_redis()
        self.workers: list[Worker] = []

    def _wait_for_redis(self) -> None:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                    connection.sendall(b"PING\r\n")
                    if connection.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            assert self.redis.poll() is None and time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def start_worker(self, name: Optional[str] = None) -> Worker:
        worker = Worker(self.url, self.dir / f"{name or 'worker%d' % len(self.workers)}.log")
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.redis.terminate()
        self.redis.wait(15)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    before = (our_processes(), mounts(), temp_entries())
    cluster = Cluster()
    try:
        cluster.start_worker("a")
        cluster.start_worker("b")
        yield cluster
    finally:
        cluster.close()
    time.sleep(0.5)  # the last pool processes are reaped by their parent's exit
    assert our_processes() - before[0] == set(), "processes left behind"
    assert mounts() == before[1], "host mount table changed"
    assert temp_entries() - before[2] == set(), "temp entries left behind in /tmp"


@pytest.fixture(scope="session")
def client(cluster: Cluster):  # type: ignore[no-untyped-def]
    """What a judge needs: Celery, the URL, send_task("sandbox.run")."""
    from celery import Celery

    app = Celery(broker=cluster.url, backend=cluster.url, set_as_current=False)
    yield app
    app.close()
