"""The registry of named boxes against another local user (issue 12, item 2; ../shared/security 04).

An entry names a box's init by pid and start time, and `sandbox kill NAME` signals that
process: an entry the rival could slip into the caller's registry would point the
caller's own commands at any process of the caller's.  Here a process of the caller's
(a `sleep`, the sentinel) stands for the process the rival wants killed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rival import as_rival, flipping, rival_directory

from sandbox.live import registry
from sandbox.cgroup import process_start_time

SANDBOX = [sys.executable, "-m", "sandbox"]
RUNS = 60


def forged_entry(pid: int) -> str:
    """A registry entry for a box "web" whose init is the process pid (any process of the caller's)."""
    box = registry.LiveBox(name="web", id="forged", pid=pid, start=process_start_time(pid) or "", profile="sh",
                           command=("forged",), started=0.0, cgroup=None,
                           confinement=registry.Confinement("/", (), (), b"\x06\x00\x00\x00\x00\x00\xff\x7f"))
    return json.dumps(registry._to_json(box))


def sandbox(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([*SANDBOX, *args], env=env, capture_output=True, text=True, timeout=120)


def test_a_registry_the_rival_swaps_for_its_own_is_never_read() -> None:
    sentinel = subprocess.Popen(["sleep", "600"])
    try:
        with rival_directory(0o1777) as shared:
            env = {**os.environ, registry.RUNTIME_DIR_ENV: str(shared / "live")}
            assert json.loads(sandbox("ps", "--json", env=env).stdout) == []  # makes the caller's registry
            as_rival("mkdir", "-m", "755", str(shared / "fake"))  # readable: the rival wants it read
            as_rival("sh", "-c", f"cat > {shared}/fake/web.json && chmod 644 {shared}/fake/web.json",
                     input=forged_entry(sentinel.pid).encode())
            as_rival("ln", "-s", str(shared / "fake"), str(shared / "evil"))
            try:
                with flipping(shared, "live", "evil"):
                    for run in range(RUNS):
                        listed = sandbox("ps", "--json", env=env)
                        killed = sandbox("kill", "web", env=env)
                        assert sentinel.poll() is None, f"run {run}: the rival's entry made `sandbox kill` kill it"
                        if listed.returncode == 0:
                            assert json.loads(listed.stdout) == [], f"run {run}: the rival's entry was listed"
                        else:  # the swapped-in symlink, refused
                            assert listed.returncode == 125 and "mode 0700" in listed.stderr, listed.stderr
                        assert killed.returncode == 125 and len(killed.stderr.splitlines()) == 1, killed.stderr
            finally:
                for name in ("live", "evil"):
                    path = shared / name
                    if path.is_dir() and not path.is_symlink() and path.stat().st_uid == os.getuid():
                        path.rmdir()
    finally:
        sentinel.kill()
        sentinel.wait()


def test_the_rivals_forged_entry_for_a_box_of_the_caller_gives_it_nothing(tmp_path: Path) -> None:
    """04_foreign_registry: in its own registry the rival may name the caller's box; ps shows it (the
    rival's own listing), and exec, freeze and kill are refused by the kernel: the box runs on."""
    env = {**os.environ, registry.RUNTIME_DIR_ENV: str(tmp_path / "live")}
    box = subprocess.Popen([*SANDBOX, "run", "--name", "web", "--profile", "sh", "--", "/bin/sleep", "600"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            live = json.loads(sandbox("ps", "--json", env=env).stdout)
            if live:
                break
            assert box.poll() is None, box.stderr.read() if box.stderr else ""
        (init,) = [row["pid"] for row in live]
        with rival_directory(0o700) as theirs:
            rival_env = ["env", f"{registry.RUNTIME_DIR_ENV}={theirs}/live"]
            as_rival("mkdir", "-m", "700", f"{theirs}/live")
            as_rival("sh", "-c", f"cat > {theirs}/live/web.json", input=forged_entry(init).encode())
            for verb in (["exec", "web", "--", "/bin/id"], ["freeze", "web"], ["kill", "web"]):
                completed = as_rival(*rival_env, *SANDBOX, *verb, check=False)
                assert completed.returncode == 125 and len(completed.stderr.splitlines()) == 1, completed.stderr
                assert b"internal error" not in completed.stderr, completed.stderr
            ours = as_rival("env", f"{registry.RUNTIME_DIR_ENV}={env[registry.RUNTIME_DIR_ENV]}", *SANDBOX, "ps",
                            check=False)
            assert ours.returncode == 125 and len(ours.stderr.splitlines()) == 1, ours.stderr  # not theirs to read
        assert box.poll() is None, "the rival ended the caller's box"
        assert [row["name"] for row in json.loads(sandbox("ps", "--json", env=env).stdout)] == ["web"]
    finally:
        sandbox("kill", "web", env=env)
        box.wait(timeout=60)
