"""How the systemd tier acts on its VM: as the lingering user in a login session, or as root."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Callable

USER = os.environ.get("SANDBOX_VM_USER", "sandbox-user")
PREFIX = os.environ.get("SANDBOX_PREFIX", "/opt/sandbox")
CGROUP = Path("/sys/fs/cgroup")
TIMEOUT = 600  # one command under TCG on a loaded machine: a Python start alone can take seconds


def as_user(command: str, timeout: float = TIMEOUT, env: str = "") -> subprocess.CompletedProcess:
    """COMMAND (a shell line) in a fresh login session of the user: `su -l`, as the contract says."""
    line = f"{env} {command}" if env else command
    return subprocess.run(["su", "-l", USER, "-c", line], capture_output=True, text=True, timeout=timeout)


def sandbox_json(*args: str, env: str = "") -> dict:
    """`sandbox run ARGS --json` as the user, in a login session, with no other flag; the result."""
    completed = as_user(shlex.join(["sandbox", "run", "--json", *args]), env=env)
    assert completed.stdout.strip(), completed.stderr
    try:
        return json.loads(completed.stdout)
    except ValueError:
        raise AssertionError(f"not JSON: {completed.stdout!r} {completed.stderr!r}") from None


def root(*argv: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    completed = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    assert completed.returncode == 0, (argv, completed.stdout, completed.stderr)
    return completed


HARNESS_UNIT = "sandbox-vm-boot.service"  # the VM's own unit running this tier (scripts/vm-systemd-setup)


def sandbox_cgroups() -> list[Path]:
    """Every cgroup of ours anywhere on the machine: scopes, supervisor leaves, boxes, the judge service;
    not the unit this tier itself runs in."""
    found = []
    for parent, dirs, _ in os.walk(CGROUP):  # os.walk skips what vanishes under it (a session's scope ending)
        found += [Path(parent, d) for d in dirs if d.startswith("sandbox-") and d != HARNESS_UNIT]
    return sorted(found)


def user_processes() -> list[str]:
    """The user's processes but its manager's (systemd --user and its (sd-pam) helper)."""
    out = subprocess.run(["ps", "-u", USER, "-o", "pid=,args="], capture_output=True, text=True).stdout
    return [line.strip() for line in out.splitlines()
            if line.strip() and "systemd --user" not in line and "(sd-pam)" not in line]


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    """systemd collects an empty scope asynchronously: give it time, under TCG a lot of it."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def nothing_left() -> tuple[list[Path], list[str]]:
    wait_until(lambda: not sandbox_cgroups() and not user_processes())
    return sandbox_cgroups(), user_processes()


SRC = Path(__file__).resolve().parents[2]
UNITS = Path("/etc/systemd/system")


def install_unit(name: str, exec_start: str, *extra: str) -> None:
    """contrib/systemd/NAME as shipped, and a drop-in with only what this VM needs: its user, Restart=no
    (a failing service shows as one), the test's ExecStart and any `extra` lines; then daemon-reload."""
    (UNITS / name).write_text((SRC / "contrib/systemd" / name).read_text())
    drop_in = UNITS / f"{name}.d" / "test.conf"
    drop_in.parent.mkdir(parents=True, exist_ok=True)
    drop_in.write_text("\n".join(["[Service]", f"User={USER}", f"Group={USER}", "Restart=no", *extra,
                                   "ExecStart=", f"ExecStart={exec_start}", ""]))
    root("systemctl", "daemon-reload")


def remove_unit(name: str) -> None:
    """install_unit undone (the service stopped first by the caller)."""
    (UNITS / name).unlink()
    (UNITS / f"{name}.d" / "test.conf").unlink()
    (UNITS / f"{name}.d").rmdir()
    root("systemctl", "daemon-reload")
