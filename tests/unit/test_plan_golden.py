"""make_plan pinned as data: profile + request + host side -> the plan as JSON, compared with a
stored golden file (tests/unit/golden/CASE.json), and make_plan shown to touch no file system.

make_plan is pure, so each case describes its host by hand (hostside.HostSide with made-up
identities): the goldens hold nothing of the machine they were made on.  The caller is uid/gid
1000/1000.  The host is a Debian 12 one with a merged /usr (/bin, /lib, ... are symlinks into
/usr) and no /usr/lib64.

A golden plan differs: read the diff.  If the change is meant (a profile or the planning changed
on purpose), write the goldens anew from the clone and review them in git before committing:

    SANDBOX_UPDATE_GOLDEN=1 python -m pytest tests/unit/test_plan_golden.py

(with the virtualenv's python, e.g. /opt/sandbox/venv/bin/python; scripts/as-test-user runs the
staged, read-only copy of the tree, which cannot be updated).  Golden files no case makes are
removed then too.
"""
from __future__ import annotations

import builtins
import dataclasses
import difflib
import enum
import io
import json
import os
import zlib
from pathlib import Path
from typing import Any, Optional

import pytest

from sandbox.cgroup import CONTROLLERS
from sandbox.errors import UsageError
from sandbox.hostside import HostObject, HostSide
from sandbox.plan import Bind, Plan, Request, make_plan, mount_points
from sandbox.profile import Profile, list_shipped, load_profile

GOLDEN = Path(__file__).parent / "golden"
UPDATE = "SANDBOX_UPDATE_GOLDEN"
UID = GID = 1000
M = 1 << 20
WIDTH = 240  # a JSON value that fits on a line this wide is written on one line (a mount, a rule)


def _object(path: str, is_dir: bool = False, link: Optional[str] = None) -> HostObject:
    """A made-up host object: the same identity for the same path on every machine."""
    return HostObject(path, (2049, zlib.crc32(path.encode())), is_dir, link)


def directory(path: str) -> HostObject:
    return _object(path, is_dir=True)


def file(path: str) -> HostObject:
    return _object(path)


def symlink(path: str, text: str) -> HostObject:
    return _object(path, link=text)


# What the shipped profiles' binds find on the made-up host (None: not there; all are optional).
HOST_BINDS: dict[str, Optional[HostObject]] = {
    "/usr": directory("/usr"),
    "/bin": symlink("/bin", "usr/bin"),
    "/sbin": symlink("/sbin", "usr/sbin"),
    "/lib": symlink("/lib", "usr/lib"),
    "/lib64": symlink("/lib64", "usr/lib64"),
    "/usr/lib64": None,
    "/usr/lib/x86_64-linux-gnu": directory("/usr/lib/x86_64-linux-gnu"),
    "/etc/alternatives": directory("/etc/alternatives"),
    "/etc/ld.so.cache": file("/etc/ld.so.cache"),
    "/etc/localtime": symlink("/etc/localtime", "/usr/share/zoneinfo/Etc/UTC"),
    "/etc/ssl/certs": directory("/etc/ssl/certs"),
    "/etc/ca-certificates.conf": file("/etc/ca-certificates.conf"),
    "/etc/ssl/openssl.cnf": None,
    "/etc/java-17-openjdk": directory("/etc/java-17-openjdk"),
}
IMAGE = "/srv/images/alpine"
FULL = frozenset(CONTROLLERS)


@dataclasses.dataclass(frozen=True)
class Case:
    profile: str
    request: Request
    host: dict[str, Any] = dataclasses.field(default_factory=dict)  # HostSide fields, but the profile's binds
    cgroup: frozenset[str] = frozenset()  # the delegated subtree's controllers; none: no cgroup


def _script_case(profile: str, script: str) -> Case:
    """A shipped profile's own use: the caller's script, nothing else."""
    return Case(profile, Request(script=script), {"script": file(script)})


CASES: dict[str, Case] = {
    **{f"{name}-script": _script_case(name, script) for name, script in {
        "c": "/home/judge/main.c", "cpp": "/home/judge/main.cpp", "native": "/home/judge/main",
        "node": "/home/judge/main.js", "py3": "/home/judge/main.py", "sh": "/home/judge/main.sh",
        "ci": "/home/judge/run-tests.sh", "java": "/home/judge/Main.java", "javac": "/home/judge/Main.java",
        "go": "/home/judge/main.go", "go-native": "/home/judge/main", "rust": "/home/judge/main.rs",
        "pypy3": "/home/judge/main.py"}.items()},
    "py3-script-cgroup": Case("py3", Request(script="/home/judge/main.py", script_args=("in.txt", "a b")),
                              {"script": file("/home/judge/main.py")}, cgroup=FULL),
    "sh-program": Case("sh", Request(program=("/bin/echo", "hi"))),
    "py3-workdir": Case("py3", Request(script="/home/judge/project/src/main.py", workdir="/home/judge/project"),
                        {"workdir": directory("/home/judge/project"),
                         "script": file("/home/judge/project/src/main.py")}),
    "sh-binds": Case("sh", Request(program=("ls", "/srv/data", "/out"),  # ro at its own path; rw, target normalised
                                   binds=(Bind("/srv/data", ""), Bind("/home/judge/out", "/out/", writable=True))),
                     {"binds": (directory("/srv/data"), directory("/home/judge/out"))}),
    "py3-files-collect": Case("py3", Request(script="/home/judge/main.py", collect=("output.txt", "log/run.log"),
                                             files=(("input.txt", 0o644, b"1 2\n"), ("bin/tool", 0o755, b"#!\n"))),
                              {"script": file("/home/judge/main.py")}),
    "py3-collect-limit": Case("py3", Request(program=("python3", "-c", "pass"), collect=("out",), collect_limit=4096)),
    "sh-rootfs": Case("sh", Request(program=("/bin/sh", "-c", "ls /mnt/data"), rootfs=IMAGE,
                                    binds=(Bind("/srv/data", "/mnt/data"), Bind("/srv/cache", "/var/cache"))),
                      {"binds": (directory("/srv/data"), directory("/srv/cache")), "rootfs": directory(IMAGE),
                       "image": (directory(f"{IMAGE}/bin"), directory(f"{IMAGE}/etc"),
                                 symlink(f"{IMAGE}/lib64", "lib"), directory(f"{IMAGE}/mnt"),
                                 directory(f"{IMAGE}/usr"), directory(f"{IMAGE}/var")),
                       "image_dirs": frozenset({"/var/cache"})}),  # /mnt has no data directory: left out
    "ci-workdir-overlay": Case("ci", Request(script="/home/judge/project/ci.sh", workdir="/home/judge/project"),
                               {"workdir": directory("/home/judge/project"),
                                "script": file("/home/judge/project/ci.sh")}),
    "ci-at-host-path": Case("ci", Request(script="/home/judge/project/ci.sh", workdir="/home/judge/project",
                                          at_host_path=True),
                            {"workdir": directory("/home/judge/project"), "script": file("/home/judge/project/ci.sh")}),
    "sh-overlay-kept-at-host-path": Case("sh", Request(program=("make",), at_host_path=True,
                                                       overlay=("/home/judge/project", "/home/judge/layer")),
                                         {"overlay_lower": directory("/home/judge/project"),
                                          "overlay_upper": directory("/home/judge/layer")}),
    "sh-overlay-kept": Case("sh", Request(program=("make",), overlay=("/home/judge/project", "/home/judge/layer")),
                            {"overlay_lower": directory("/home/judge/project"),
                             "overlay_upper": directory("/home/judge/layer")}),
    "py3-env": Case("py3", Request(program=("python3",), env=(("PATH", "/opt/bin"), ("EXTRA", "1")))),
    "py3-limits": Case("py3", Request(program=("python3",), limits={"memory": 32 * M, "cpu_time": 0.25, "pids": 3,
                                                                   "wall_time": None})),
    "py3-limits-cgroup": Case("py3", Request(program=("python3",), limits={"memory": 32 * M, "cpus": 1.5}),
                              cgroup=FULL),
    # Subtrees with only some controllers (systemd's Delegate= without cpu, or with pids alone): the box's
    # cgroup holds what its controllers can, the other limits are what they are without a cgroup.
    "py3-limits-cgroup-no-cpu": Case("py3", Request(program=("python3",), limits={"memory": 32 * M, "cpus": 1.5}),
                                     cgroup=frozenset({"memory", "pids"})),
    "py3-limits-cgroup-pids-only": Case("py3", Request(program=("python3",), limits={"memory": 32 * M, "cpus": 1.5}),
                                        cgroup=frozenset({"pids"})),
    "sh-net-loopback": Case("sh", Request(program=("nc", "-l", "127.0.0.1", "8080"), net="loopback")),
}

_profiles: dict[str, Profile] = {}


def profile_of(case: Case) -> Profile:
    if case.profile not in _profiles:
        _profiles[case.profile] = load_profile(case.profile)
    return _profiles[case.profile]


def host_of(case: Case, profile: Profile) -> HostSide:
    """The case's host: what it names, and what the profile's binds find (none with an image)."""
    binds = {} if case.host.get("rootfs") else {
        entry.source: HOST_BINDS[entry.source] for entry in profile.mounts if entry.kind == "bind" and entry.source}
    return HostSide(profile_binds=binds, **case.host)


def plan_of(case: Case) -> Plan:
    profile = profile_of(case)
    return make_plan(profile, case.request, host_of(case, profile), UID, GID, cgroup=case.cgroup)


def as_json(value: Any, indent: int = 0) -> str:
    """JSON that diffs well: a value on one line when it fits, else one item per line."""
    flat = json.dumps(value)
    if indent + len(flat) <= WIDTH or not isinstance(value, (list, tuple, dict)) or not value:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(key)}: {as_json(item, indent + 2)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    return "[\n" + ",\n".join(pad + as_json(item, indent + 2) for item in value) + "\n" + " " * indent + "]"


def plain(value: Any) -> Any:
    """The plan's enums as their values (a limits.Mechanism's is the text a result's enforced_by shows)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def golden_text(plan: Plan) -> str:
    return as_json(plain(dataclasses.asdict(plan))) + "\n"


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_plan_is_the_golden_one(name):
    made = golden_text(plan_of(CASES[name]))
    path = GOLDEN / f"{name}.json"
    if os.environ.get(UPDATE) == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(made)
        return
    if not path.exists():
        pytest.fail(f"no golden plan {path}: write it with {UPDATE}=1 (see this module's docstring)", pytrace=False)
    stored = path.read_text()
    if made != stored:
        diff = "".join(difflib.unified_diff(stored.splitlines(keepends=True), made.splitlines(keepends=True),
                                            f"golden/{name}.json", f"made now: {name}"))
        pytest.fail(f"the plan of case {name} is not the golden one:\n{diff}\nIf the change is meant: "
                    f"{UPDATE}=1 python -m pytest tests/unit/test_plan_golden.py, then review git diff", pytrace=False)


def test_every_golden_file_has_a_case():
    stale = sorted({path.stem for path in GOLDEN.glob("*.json")} - set(CASES))
    if os.environ.get(UPDATE) == "1":
        for name in stale:
            (GOLDEN / f"{name}.json").unlink()
        return
    assert stale == [], f"golden files no case makes (remove them, or run with {UPDATE}=1)"


def test_every_shipped_profile_has_a_golden_case():
    assert set(list_shipped()) <= {case.profile for case in CASES.values()}


def test_a_golden_plan_holds_nothing_of_this_machine():
    """The identities are the made-up ones; no inode number of a real path, no uid but 1000."""
    text = "".join(golden_text(plan_of(case)) for case in CASES.values())
    real = os.stat("/usr")
    assert f"[{real.st_dev}, {real.st_ino}]" not in text
    plan = plan_of(CASES["sh-binds"])
    assert [op.identity for op in plan.mounts if op.target == "/out"] == [directory("/home/judge/out").identity]
    assert (plan.ids.outside_uid, plan.ids.outside_gid) == (UID, GID)


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_image_is_asked_about_every_mount_point_of_a_plan(name):
    """hostlookup checks an image for real directories at mount_points() only; a mount of the plan
    outside them would leave the image's entry above it out for nothing."""
    case = CASES[name]
    profile = profile_of(case)
    host = dataclasses.replace(host_of(case, profile), image=())  # the plan's own mounts only
    plan = make_plan(profile, case.request, host, UID, GID, cgroup=case.cgroup)
    work = host.workdir or host.overlay_lower
    assert {op.target for op in plan.mounts} <= mount_points(profile, case.request, host.binds, host.script, work)


# --- errors: the same words, found without looking at the host -----------------------------------

ERRORS = {
    "files with /work a host directory bound read-write": (
        Case("sh", Request(program=("true",), collect=("a",), binds=(Bind("/home/judge/out", "/work", True),)),
             {"binds": (directory("/home/judge/out"),)}),
        "files and collect need a work dir of the box's own; /work is a host directory bound read-write"),
    "script outside the work dir": (
        Case("py3", Request(script="/home/judge/main.py", workdir="/home/judge/project"),
             {"workdir": directory("/home/judge/project"), "script": file("/home/judge/main.py")}),
        "/home/judge/main.py: the script must be inside the work directory /home/judge/project"),
    "a relative bind target": (
        Case("sh", Request(program=("true",), binds=(Bind("/srv/data", "data"),)),
             {"binds": (directory("/srv/data"),)}),
        "--bind /srv/data:data: the target must be an absolute path"),
    "/work twice": (
        Case("sh", Request(program=("true",), workdir="/home/judge/project", binds=(Bind("/srv/data", "/work"),)),
             {"workdir": directory("/home/judge/project"), "binds": (directory("/srv/data"),)}),
        "/work is given twice (--workdir, --overlay, or a --bind/--bind-rw to /work); give one"),
    "at its host path without a work dir": (
        Case("sh", Request(program=("true",), at_host_path=True)),
        "--at-host-path shows the work dir at its own path: give --workdir DIR or --overlay DIR"),
    "at its host path above /work": (
        Case("sh", Request(program=("true",), workdir="/", at_host_path=True), {"workdir": directory("/")}),
        "--at-host-path: the work dir / cannot be shown at its own path (it would hide the box's root or /work)"),
    "at its host path, and a bind to /work": (
        Case("sh", Request(program=("true",), workdir="/home/judge/project", at_host_path=True,
                           binds=(Bind("/srv/data", "/work"),)),
             {"workdir": directory("/home/judge/project"), "binds": (directory("/srv/data"),)}),
        "--at-host-path makes /work a symlink to the work dir /home/judge/project; bind nothing to /work"),
    "nothing to run": (Case("sh", Request()), "nothing to run: give a script, or -- PROGRAM [ARGS]"),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_a_request_that_does_not_hold_together_is_refused_in_the_same_words(name):
    case, message = ERRORS[name]
    with pytest.raises(UsageError) as refused:
        plan_of(case)
    assert str(refused.value) == message


def test_a_host_side_without_a_path_the_request_names_is_a_bug_not_a_usage_error():
    case = Case("sh", Request(program=("true",), workdir="/home/judge/project"))
    with pytest.raises(LookupError, match="--workdir"):
        plan_of(case)


# --- purity --------------------------------------------------------------------------------------

# Every way to the file system (and to this process's identity) make_plan could take.
FILE_SYSTEM = ([(os, name) for name in ("stat", "lstat", "fstat", "open", "listdir", "scandir", "readlink", "mkdir",
                                        "access", "getcwd", "getuid", "geteuid", "getgid")]
               + [(os.path, name) for name in ("realpath", "exists", "lexists", "isdir", "isfile", "islink")]
               + [(builtins, "open"), (io, "open")])


def test_make_plan_touches_no_file_system(monkeypatch):
    cases = list(CASES.values()) + [case for case, _ in ERRORS.values()]
    for case in cases:
        profile_of(case)  # loading a profile reads files: before the doors close
    touched: list[str] = []

    def refused(name: str):
        def call(*args: object, **kwargs: object) -> None:
            touched.append(f"{name}{args}")
            raise AssertionError(f"make_plan touched the file system: {name}{args}")
        return call

    expected = [_outcome(case) for case in cases]
    with monkeypatch.context() as closed:
        for module, name in FILE_SYSTEM:
            closed.setattr(module, name, refused(f"{module.__name__}.{name}"))
        outcomes = [_outcome(case) for case in cases]
    assert touched == []
    assert outcomes == expected


def _outcome(case: Case) -> object:
    try:
        return plan_of(case)
    except UsageError as e:
        return str(e)
