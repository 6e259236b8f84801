"""Shared fixtures for the unit tests: pure modules only, no root, no namespaces."""
from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:
    from fake_manager import FakeManager

import pytest
import yaml

# A minimal profile that loads cleanly; tests append or replace keys to break it.
MINIMAL_PROFILE = """\
description: a test profile
command: [python3, "{script}"]
limits:
  cpu_time: 1.5s
  wall_time: 3s
  memory: 64M
  pids: 8
  output: 1M
  file_size: 1M
  open_files: 64
  stack: 8M
  tmp_size: 16M
net: none
env:
  PATH: /usr/bin:/bin
  HOME: /tmp
mounts:
  - bind: /usr
  - bind: /lib64
    optional: true
  - bind: /usr/share
    to: /data
    rw: true
  - proc: /proc
  - dev: /dev
  - tmpfs: /tmp
  - tmpfs: /scratch
    size: 2M
seccomp:
  default: ENOSYS
  allow: ["@base", {ioctl: {arg: 1, eq32: 0x5401}}]
  kill: [ptrace]
"""


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test its own disk cache (sandbox._cache), not the user's."""
    monkeypatch.setenv("SANDBOX_CACHE_DIR", str(tmp_path_factory.mktemp("cache") / "sandbox"))


@pytest.fixture
def write_profile(tmp_path: Path) -> Callable[..., str]:
    """write_profile(text, name="p") -> path of a YAML file holding `text` (dedented)."""

    def write(text: str, name: str = "p.yaml") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return str(path)

    return write


@pytest.fixture
def minimal_profile_text() -> str:
    return MINIMAL_PROFILE


@pytest.fixture
def minimal_profile_path(write_profile: Callable[..., str]) -> str:
    return write_profile(MINIMAL_PROFILE, "minimal.yaml")


@dataclass
class Ran:
    """What one CLI call did, as subprocess.CompletedProcess names it."""

    returncode: int
    stdout: str
    stderr: str


class _BoxStarted(BaseException):
    """Not an Exception: the CLI's handler for its own bugs must not turn it into one more error line."""


def _no_box(*_: object) -> None:
    raise _BoxStarted("a box was started in the test process: this case should have failed before")


@pytest.fixture
def run_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    """run_cli(*args) -> Ran: `sandbox ARGS` in tmp_path, in this process.  It never starts a box nor
    adopts a cgroup (that would move the test runner itself), and it must close what it opened."""
    from sandbox import _forkserver, cli, supervisor

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_forkserver, "fork_here", _no_box)
    monkeypatch.setattr(supervisor, "cgroup_subtree", lambda explicit, profile: None)

    def run(*args: str) -> Ran:
        capsys.readouterr()
        before = sorted(os.listdir("/proc/self/fd"))
        with pytest.raises(SystemExit) as ended:
            cli.main(list(args))
        out, err = capsys.readouterr()
        assert sorted(os.listdir("/proc/self/fd")) == before, "descriptors left open"
        return Ran(ended.value.code, out, err)

    return run


@pytest.fixture
def profile_with(write_profile, minimal_profile_text):
    """profile_with(extra) -> path of the minimal profile with `extra` YAML replacing top-level keys."""

    def write(extra: str) -> str:
        base = yaml.safe_load(minimal_profile_text)
        base.update(yaml.safe_load(extra))
        return write_profile(yaml.safe_dump(base))

    return write


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A runtime dir of our own ($XDG_RUNTIME_DIR), and no scope or root setting from the environment."""
    runtime = tmp_path / "run"
    runtime.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.delenv("SANDBOX_SYSTEMD_SCOPE", raising=False)
    monkeypatch.delenv("SANDBOX_CGROUP_ROOT", raising=False)
    return runtime


@pytest.fixture
def systemd_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runtime: Path) -> Iterator["FakeManager"]:
    """A pure cgroup v2 host as a plain user in a login session sees it: memory, pids and cpu offered; our
    own cgroup (a session scope) not ours to write; a stand-in user manager on the private socket."""
    from fake_manager import FakeManager
    from sandbox import cgroup, systemd

    mount = tmp_path / "cgroup"
    (mount / "user.slice" / "user-1000.slice" / "session-3.scope").mkdir(parents=True)
    (mount / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    monkeypatch.setattr(cgroup, "cgroup2_mount", lambda: str(mount))
    monkeypatch.setattr(cgroup, "find_delegation", lambda explicit, residents=(): None)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(systemd, "_in_users_slice", lambda: True)
    manager = FakeManager(runtime)
    yield manager
    manager.close()


def schema_validator(filename: str):  # type: ignore[no-untyped-def]
    """A validator for a JSON Schema shipped in sandbox/profiles/, checked to be a valid schema itself."""
    import json

    import jsonschema

    from sandbox.profile import shipped_profiles_dir

    with open(os.path.join(shipped_profiles_dir(), filename)) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)

