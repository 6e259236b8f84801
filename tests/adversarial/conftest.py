"""The adversarial corpus harness: plants targets on the host, runs each probe, checks the host.

Cases are data (cases/**/*.yaml plus a probe); see README.md.  Host cases run on
this machine as the unprivileged test user; `tier: vm` cases run in the cgroup v2 VM.
"""
from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import pytest
from planted import IN_VM, Targets

# The host side (host/) attacks the supervisor on this host, as a second local user or through
# per-user counts; the VM tier runs the corpus's `tier: vm` cases (whole-box cgroup limits).
collect_ignore = ["host"] if IN_VM else []

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from boxrun import mounts, our_processes, temp_entries  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    if os.geteuid() == 0:
        raise pytest.UsageError("the adversarial corpus must run as an unprivileged user; refusing to run as root")


def _listen_forever(server: socket.socket, name: str, accepted: list[str]) -> None:
    while True:
        try:
            connection, _ = server.accept()
        except OSError:
            return
        accepted.append(name)
        connection.close()


@pytest.fixture(scope="session")
def targets() -> Iterator[Targets]:
    directory = Path(tempfile.mkdtemp(prefix="sbx-canary-"))
    token = secrets.token_hex(16)
    canary = directory / "answer.txt"
    canary.write_text(f"hidden answer {token}\n")
    canary.chmod(0o600)
    sentinel = subprocess.Popen(["sleep", "3600"])
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    abstract_name = f"sbx-adversarial-{secrets.token_hex(4)}"
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind("\0" + abstract_name)
    unix_path = directory / "agent.sock"
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(unix_path))
    planted = Targets(directory, canary, token, sentinel, tcp, abstract_name, unix_path)
    for server, name in ((tcp, "tcp"), (abstract, "abstract"), (unix, "unix")):
        server.listen()
        threading.Thread(target=_listen_forever, args=(server, name, planted.accepted), daemon=True).start()
    try:
        yield planted
    finally:
        for server in (tcp, abstract, unix):
            server.close()
        sentinel.kill()
        sentinel.wait()
        for entry in directory.iterdir():
            entry.unlink()
        directory.rmdir()


@pytest.fixture(autouse=True)
def host_unchanged(targets: Targets):
    """After every case: the planted targets are untouched and nothing of the box is left."""
    before = (our_processes(), mounts(), temp_entries(), sorted(os.listdir(targets.directory)))
    yield
    assert targets.canary.read_text() == f"hidden answer {targets.token}\n", "the canary was changed"
    assert sorted(os.listdir(targets.directory)) == before[3], "the canary directory was changed"
    assert targets.sentinel.poll() is None, "the sentinel process was killed"
    assert targets.accepted == [], f"the box reached a host listener: {targets.accepted}"
    assert our_processes() - before[0] == set(), "processes left behind"
    assert mounts() == before[1], "host mount table changed"
    assert temp_entries() - before[2] == set(), "temp entries left behind"
    assert _box_cgroups() == [], "box cgroups left behind"


def _box_cgroups() -> list[str]:
    """In the VM tier: cgroups of boxes still present under the delegated subtree."""
    root = os.environ.get("SANDBOX_CGROUP_ROOT")
    if not root:
        return []
    return sorted(name for name in os.listdir(root) if name.startswith("sandbox-run-"))
