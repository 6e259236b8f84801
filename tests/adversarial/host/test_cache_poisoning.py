"""The disk cache against another local user (issue 12, item 5; ../shared/security 03_cache_swap.sh).

The caller's cache sits under a directory the rival owns (XDG_CACHE_HOME in a 1777
directory of theirs).  The rival computes the entries a run of the caller will look
for (the keys depend only on the installed code and the profile), poisons them, and
swaps the caller's cache directory for its own while the caller runs: a pickle that
would write a marker file as the caller, or forged entries (the profile with an extra
variable and a syscall more, a filter that allows everything).  No run may read them:
the marker never appears and every run is confined by the real policy.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from rival import as_rival, flipping, rival_directory

SANDBOX = [sys.executable, "-m", "sandbox"]
RUNS = 40
# keyctl (250) is allowed by no shipped profile: ENOSYS (38) from the filter; FORGED is set by no profile.
PROBE = ("import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); libc.syscall(250, 0xdead); "
         "print(ctypes.get_errno(), os.environ.get('FORGED'))")
GENUINE = "38 None\n"

# Run by the rival over a directory of genuine entries: poisons each in place.  It knows both formats
# of the cache, the pickles of old and today's "KEY SHA256\n" + payload (JSON documents, BPF bytes).
POISON = r'''
import dataclasses, hashlib, json, os, pickle, sys
directory, kind, marker = sys.argv[1:4]
ALLOW_ALL = b"\x06\x00\x00\x00\x00\x00\xff\x7f"  # BPF: return SECCOMP_RET_ALLOW

class Marker:
    def __reduce__(self):
        return (open, (marker, "w"))

def forge_document(document):
    if "groups" in document:
        document["groups"]["base"]["syscalls"].append("keyctl")
    else:
        document.setdefault("env", {})["FORGED"] = "1"
    return document

poisoned = 0
for name in os.listdir(directory):
    path = os.path.join(directory, name)
    with open(path, "rb") as f:
        data = f.read()
    if kind == "pickle":
        new = pickle.dumps((name, Marker()))
    elif data[:1] == b"\x80":  # a pickle of (key, value): the rival's own file, safe for it to load
        key, value = pickle.loads(data)
        if isinstance(value, bytes):
            value = ALLOW_ALL
        else:
            value = dataclasses.replace(value, env=value.env + (("FORGED", "1"),))
        new = pickle.dumps((key, value))
    else:
        header, _, payload = data.partition(b"\n")
        try:
            payload = json.dumps(forge_document(json.loads(payload))).encode()
        except ValueError:
            payload = ALLOW_ALL
        new = header.split(b" ")[0] + b" " + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
    with open(path, "wb") as f:
        f.write(new)
    os.chmod(path, 0o644)
    poisoned += 1
print(poisoned)
'''


def probe(env: dict[str, str], marker: Path) -> dict:
    """The probe's result, once it is clear that the run did not run the rival's code."""
    completed = subprocess.run([*SANDBOX, "run", "--profile", "py3", "--json", "--", "/usr/bin/python3", "-c", PROBE],
                               env=env, capture_output=True, timeout=120)
    assert not marker.exists(), "the rival's pickle ran as the caller"
    try:
        return json.loads(completed.stdout)
    except ValueError:
        raise AssertionError(f"no result (exit {completed.returncode}): {completed.stderr.decode()}") from None


def poisoned_entries(directory: Path, kind: str, marker: Path) -> None:
    """As the rival: the entries a run of the caller looks for, computed as the caller would, then poisoned."""
    as_rival("mkdir", "-m", "755", str(directory))
    as_rival("env", f"SANDBOX_CACHE_DIR={directory}", *SANDBOX, "run", "--profile", "py3", "--", "/bin/true")
    poisoned = int(as_rival(sys.executable, "-c", POISON, str(directory), kind, str(marker)).stdout)
    assert poisoned >= 2, "the rival found no entries to poison"


def caller_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SANDBOX_CACHE_DIR", "XDG_CACHE_HOME")}
    return {**env, **extra}


def remove_our_own(*candidates: Path) -> None:
    """Our cache directory, wherever the flipping left it (the rival cannot remove it)."""
    for path in candidates:
        if path.is_dir() and not path.is_symlink() and path.stat().st_uid == os.getuid():
            shutil.rmtree(path)


@pytest.mark.parametrize("kind, shape", [("pickle", "symlink"), ("forged", "symlink"), ("forged", "directory")])
def test_a_cache_dir_the_rival_swaps_for_its_own_is_never_read(kind: str, shape: str, tmp_path: Path) -> None:
    marker = tmp_path / "poisoned-cache-ran"
    with rival_directory(0o1777) as shared:
        poisoned_entries(shared / "poison", kind, marker)
        if shape == "symlink":
            as_rival("ln", "-s", str(shared / "poison"), str(shared / "evil"))
        else:
            as_rival("mv", str(shared / "poison"), str(shared / "evil"))
        env = caller_env(XDG_CACHE_HOME=str(shared))
        try:
            genuine = probe(env, marker)  # makes the caller's cache, shared/sandbox, and fills it
            assert (genuine["stdout"], (shared / "sandbox").stat().st_uid) == (GENUINE, os.getuid())
            with flipping(shared, "sandbox", "evil"):
                for run in range(RUNS):
                    result = probe(env, marker)
                    assert (result["stdout"], result["limits"]) == (GENUINE, genuine["limits"]), \
                        f"run {run}: confined by the rival's entries"
        finally:
            remove_our_own(shared / "sandbox", shared / "evil")


@pytest.mark.parametrize("kind", ["pickle", "forged"])
def test_entries_the_rival_left_in_a_cache_that_was_open_to_it_are_not_read(kind: str, tmp_path: Path) -> None:
    """A cache directory that once let others write (made by hand, a careless umask) and was then
    closed to them: what they left in it is theirs, not the caller's, and is never read."""
    marker = tmp_path / "poisoned-cache-ran"
    home = Path(tempfile.mkdtemp(prefix="sbx-victim-"))
    try:
        home.chmod(0o755)
        cache = home / "cache"
        cache.mkdir()
        cache.chmod(0o777)
        with rival_directory() as rival:
            poisoned_entries(rival / "poison", kind, marker)
            as_rival("sh", "-c", f'cp "{rival}"/poison/* "{cache}"/')
        cache.chmod(0o700)
        assert {entry.stat().st_uid for entry in cache.iterdir()} - {os.getuid()}, "the rival's entries are there"
        result = probe(caller_env(SANDBOX_CACHE_DIR=str(cache)), marker)
        assert result["stdout"] == GENUINE, "confined by the rival's entries"
    finally:
        shutil.rmtree(home)
