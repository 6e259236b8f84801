"""YAML profiles -> frozen dataclasses, validated strictly.  Pure; side: parent.

A profile is policy written by a trusted caller, so every mistake in it is
reported at once, naming the file, the key and what was expected, before any
process starts.  Unknown keys are errors: a typo must never weaken a box.
"""
from __future__ import annotations

import os
import stat
from typing import Any, Callable, Optional, Sequence

from ._record import dataclass
from .errors import ProfileError
from .hostpaths import PathError, resolve
from .limits import BY_NAME, TABLE, Limits

try:  # CPython's own SHA-256: importing hashlib loads OpenSSL (~4 ms of every CLI run)
    from _sha256 import sha256
except ImportError:  # pragma: no cover - other Pythons
    from hashlib import sha256
from .units import UnitError, parse_size

SHIPPED_DIR = "profiles"
GROUPS_FILE = "syscalls.yaml"

REQUIREMENTS = ("cgroup",)
NET_MODES = ("none", "loopback")
# How a host directory given as the work dir (--workdir) appears at /work: bound read-only, or
# under a writable overlay layer that is thrown away with the box (the host never changes).
WORKDIR_MODES = ("readonly", "overlay")
SECCOMP_DEFAULTS = ("ENOSYS", "EPERM", "kill")
SECCOMP_LISTS = ("allow", "kill", "eagain")  # each a list of rules: allowed, killed, failed with EAGAIN
ARG_CONDITIONS = ("eq32", "masked_eq")
MOUNT_KINDS = ("bind", "proc", "dev", "tmpfs")
MOUNT_KEYS = {
    "bind": {"bind", "to", "rw", "optional"},
    "proc": {"proc"},
    "dev": {"dev", "pts"},
    "tmpfs": {"tmpfs", "size"},
}
MERGED_KEYS = ("limits", "env")  # under extends: merged key by key; every other key is replaced
TOP_KEYS = {"description", "command", "limits", "net", "env", "mounts", "seccomp", "uid", "gid", "hostname", "require",
            "workdir", "rootfs", "cgroup_only", "generated", "rlimit_backstops"}
# Small files the box's root may be given, made from the plan (plan.generated_files): the box's own
# user and group (the caller's name), localhost and the box's hostname, name lookups in files only.
GENERATED_FILES = ("passwd", "group", "hosts", "nsswitch")


@dataclass(frozen=True)
class MountEntry:
    """One mount operation as the profile wrote it; plan.py turns these into MountOps."""

    kind: str
    target: str
    source: Optional[str] = None
    writable: bool = False
    optional: bool = False
    size: Optional[int] = None
    pts: bool = False  # dev: a devpts of the box's own at /dev/pts, /dev/ptmx its ptmx


@dataclass(frozen=True)
class SyscallRule:
    """Match a syscall by name, optionally only when (args[arg] & mask) == value."""

    name: str
    arg: Optional[int] = None
    mask: int = 0
    value: int = 0


@dataclass(frozen=True)
class SeccompPolicy:
    default: str
    allow: tuple[SyscallRule, ...]
    kill: tuple[SyscallRule, ...]
    eagain: tuple[SyscallRule, ...] = ()  # refused as a resource limit refuses: native's threads


@dataclass(frozen=True)
class Profile:
    name: str
    source: str
    description: str
    command: tuple[str, ...]
    limits: Limits
    net: str
    env: tuple[tuple[str, str], ...]
    mounts: tuple[MountEntry, ...]
    seccomp: SeccompPolicy
    uid: int
    gid: int
    hostname: str
    require: tuple[str, ...] = ()
    workdir: str = "readonly"  # one of WORKDIR_MODES
    rootfs: Optional[str] = None  # a root file system (a directory) instead of the host's: its binds are unused
    # Limits enforced only by a delegated cgroup: without one no rlimit stands in (ci: no RLIMIT_AS).
    cgroup_only: tuple[str, ...] = ()
    rlimit_backstops: bool = True  # the rlimits that only back the supervisor up (RLIMIT_CPU): ci leaves them off
    generated: tuple[str, ...] = ()  # of GENERATED_FILES: written into the box's root (not with rootfs)
    # Every file read to build it (the extends chain, the syscall groups), with the SHA-256 of
    # the bytes parsed.
    sources: tuple[tuple[str, str], ...] = ()


def shipped_profiles_dir() -> str:
    """The profiles shipped inside the package (next to this module; importlib.resources is slow to import)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), SHIPPED_DIR)


def list_shipped() -> list[str]:
    return sorted(f[:-5] for f in os.listdir(shipped_profiles_dir()) if f.endswith(".yaml") and f != GROUPS_FILE)


def resolve_profile_path(name_or_path: str) -> str:
    """A shipped profile name (py3) or a path to a YAML file."""
    if os.sep in name_or_path or name_or_path.endswith((".yaml", ".yml")):
        if not os.path.isfile(name_or_path):
            raise ProfileError(name_or_path, ["not a regular file" if os.path.lexists(name_or_path)
                                              else "no such profile file"])
        return name_or_path
    path = os.path.join(shipped_profiles_dir(), name_or_path + ".yaml")
    if name_or_path == GROUPS_FILE[:-5] or not os.path.isfile(path):
        raise ProfileError(name_or_path, [f"no such profile; shipped profiles: {', '.join(list_shipped())}"])
    return path


def digest(data: bytes) -> str:
    return sha256(data).hexdigest()


# How a file's bytes become its YAML document: (path, the bytes, their digest) -> the document.
# The disk cache (sandbox._cache) passes one that remembers documents by digest, so a cached
# profile is validated by the same code as a fresh one.
Parse = Callable[[str, bytes, str], Any]


def parse_yaml(path: str, raw: bytes, raw_digest: str = "") -> Any:
    """The YAML document in raw, the bytes of the file at path (named in errors); a Parse, so it is
    given the bytes' digest too, which only a caching Parse needs."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's loader is ten times faster
    try:
        return yaml.load(raw.decode("utf-8"), Loader=loader)
    except UnicodeDecodeError:
        raise ProfileError(path, ["not UTF-8 text"]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise ProfileError(path, [f"{where}not valid YAML: {getattr(e, 'problem', e)}"]) from None


def _read_yaml(path: str, read: Optional[list[tuple[str, str]]] = None, parse: Optional[Parse] = None) -> Any:
    """Parse one YAML file; `read` collects (path, digest of the bytes parsed).  The file is found
    as every host path is (hostpaths: no symlink someone else could have made), without waiting
    on a FIFO, and must be a regular file."""
    try:
        found = resolve(path, "profile", os.O_RDONLY | os.O_NONBLOCK)
    except PathError as e:
        raise ProfileError(path, [f"cannot read: {e.reason}"]) from None
    with os.fdopen(found.fd, "rb") as f:
        if not stat.S_ISREG(found.info.st_mode):
            raise ProfileError(path, ["cannot read: not a regular file"])
        raw = f.read()
    raw_digest = digest(raw)
    if read is not None:
        read.append((path, raw_digest))
    return (parse or parse_yaml)(path, raw, raw_digest)


_groups_cache: dict[str, tuple[dict[str, tuple[SyscallRule, ...]], tuple[str, str]]] = {}


def load_syscall_groups(path: Optional[str] = None) -> dict[str, tuple[SyscallRule, ...]]:
    """The named syscall groups ("@base", ...) that profiles allow by name; parsed once."""
    return _syscall_groups(path)[0]


def _syscall_groups(
    path: Optional[str] = None, parse: Optional[Parse] = None
) -> tuple[dict[str, tuple[SyscallRule, ...]], tuple[str, str]]:
    """The groups, and (path, digest) of the file they came from."""
    path = path or os.path.join(shipped_profiles_dir(), GROUPS_FILE)
    if path in _groups_cache:
        return _groups_cache[path]
    read: list[tuple[str, str]] = []
    data = _read_yaml(path, read, parse)
    problems: list[str] = []
    groups: dict[str, tuple[SyscallRule, ...]] = {}
    if not isinstance(data, dict) or not isinstance(data.get("groups"), dict):
        raise ProfileError(path, ["groups: expected a mapping of group name -> {why, syscalls}"])
    for name, body in data["groups"].items():
        where = f"groups.{name}"
        if not isinstance(body, dict) or set(body) != {"why", "syscalls"}:
            problems.append(f"{where}: expected exactly the keys why and syscalls")
            continue
        if not isinstance(body["syscalls"], list):
            problems.append(f"{where}.syscalls: expected a list")
            continue
        groups[name] = tuple(_parse_rules(body["syscalls"], f"{where}.syscalls", problems, {}))
    if problems:
        raise ProfileError(path, problems)
    _groups_cache[path] = (groups, read[0])
    return _groups_cache[path]


def _parse_rules(
    items: list[Any], where: str, problems: list[str], groups: dict[str, tuple[SyscallRule, ...]]
) -> list[SyscallRule]:
    """Syscall names, "@group" references, or {name: {arg: N, eq32: V | masked_eq: [MASK, V]}}."""
    rules: list[SyscallRule] = []
    for index, item in enumerate(items):
        here = f"{where}[{index}]"
        if isinstance(item, str) and item.startswith("@"):
            if item[1:] not in groups:
                problems.append(f"{here}: unknown syscall group {item!r}; known: {', '.join(sorted(groups))}")
            else:
                rules.extend(groups[item[1:]])
        elif isinstance(item, str):
            rules.append(SyscallRule(item))
        elif isinstance(item, dict) and len(item) == 1:
            (name, condition), = item.items()
            rule = _parse_condition(name, condition, here, problems)
            if rule:
                rules.append(rule)
        else:
            problems.append(f"{here}: expected a syscall name, @group or {{name: {{arg: N, eq32: VALUE}}}}")
    return rules


def _parse_condition(name: str, condition: Any, where: str, problems: list[str]) -> Optional[SyscallRule]:
    if not isinstance(condition, dict) or "arg" not in condition or len(condition) != 2:
        problems.append(f"{where}.{name}: expected {{arg: N, eq32: VALUE}} or {{arg: N, masked_eq: [MASK, VALUE]}}")
        return None
    arg = condition["arg"]
    (kind, operand), = ((k, v) for k, v in condition.items() if k != "arg")
    if isinstance(arg, bool) or not isinstance(arg, int) or not 0 <= arg <= 5:
        problems.append(f"{where}.{name}.arg: expected an argument index 0-5, got {arg!r}")
        return None
    if isinstance(operand, bool) or (isinstance(operand, list) and any(isinstance(v, bool) for v in operand)):
        problems.append(f"{where}.{name}.{kind}: expected integers, got {operand!r}")
        return None
    if kind == "eq32" and isinstance(operand, int):
        # The kernel reads int arguments as 32 bits: compare only those, so junk in the
        # high half cannot slip a value past the filter.
        return SyscallRule(name, arg, 0xFFFFFFFF, operand & 0xFFFFFFFF)
    if kind == "masked_eq" and isinstance(operand, list) and len(operand) == 2 and all(isinstance(v, int) for v in operand):
        return SyscallRule(name, arg, operand[0], operand[1])
    problems.append(f"{where}.{name}.{kind}: expected one of {', '.join(ARG_CONDITIONS)} with integer operands")
    return None


def load_profile(name_or_path: str, parse: Optional[Parse] = None) -> Profile:
    """Load and validate a profile; raises ProfileError listing every problem.  `parse` turns each
    file read into its document (default: parse_yaml)."""
    path = resolve_profile_path(name_or_path)
    read: list[tuple[str, str]] = []
    data = _read_with_parents(path, (), read, parse)
    groups, groups_source = _syscall_groups(None, parse)
    problems: list[str] = []
    for key in sorted(set(data) - TOP_KEYS):
        problems.append(f"{key}: unknown key; expected one of {', '.join(sorted(TOP_KEYS))}")
    name = os.path.splitext(os.path.basename(path))[0]
    profile = Profile(
        name=name,
        source=path,
        description=_expect(data, "description", str, "", problems),
        command=tuple(_string_list(data.get("command", []), "command", problems)),
        limits=_parse_limits(data.get("limits", {}), problems),
        net=_parse_choice(data, "net", NET_MODES, "none", problems),
        env=tuple(_parse_env(data.get("env", {}), problems)),
        mounts=tuple(_parse_mounts(data.get("mounts", []), problems)),
        seccomp=_parse_seccomp(data.get("seccomp"), groups, problems),
        uid=_parse_id(data, "uid", problems),
        gid=_parse_id(data, "gid", problems),
        hostname=_expect(data, "hostname", str, "sandbox", problems),
        require=tuple(_parse_require(data.get("require", []), problems)),
        workdir=_parse_choice(data, "workdir", WORKDIR_MODES, "readonly", problems),
        rootfs=_parse_rootfs(data.get("rootfs"), problems),
        cgroup_only=tuple(_parse_cgroup_only(data.get("cgroup_only", []), problems)),
        rlimit_backstops=_parse_backstops(data.get("rlimit_backstops", True), problems),
        generated=tuple(_parse_generated(data.get("generated", []), problems)),
        sources=tuple(read) + (groups_source,),
    )
    if problems:
        raise ProfileError(path, problems)
    return profile


def _read_with_parents(
    path: str, children: tuple[str, ...], read: list[tuple[str, str]], parse: Optional[Parse] = None
) -> dict[str, Any]:
    """A profile's keys with those of the profiles it extends underneath.

    `extends: NAME` names a shipped profile, `extends: FILE.yaml` a file next to this one.
    The child's keys replace the parent's, except limits and env, which merge key by key.
    """
    if path in children:
        raise ProfileError(path, ["extends: a cycle: " + " -> ".join(children + (path,))])
    data = _read_yaml(path, read, parse)
    if not isinstance(data, dict):
        raise ProfileError(path, ["expected a mapping of profile keys at the top level"])
    parent_name = data.pop("extends", None)
    if parent_name is None:
        return data
    if not isinstance(parent_name, str) or not parent_name:
        raise ProfileError(path, [f"extends: expected a profile name or a file, got {parent_name!r}"])
    if os.sep in parent_name or parent_name.endswith((".yaml", ".yml")):
        parent_name = os.path.join(os.path.dirname(path), parent_name)
    try:
        parent_path = resolve_profile_path(parent_name)
    except ProfileError as e:
        raise ProfileError(path, [f"extends: {e.message}"]) from None
    parent = _read_with_parents(parent_path, children + (path,), read, parse)
    merged = {**parent, **data}
    for key in MERGED_KEYS:
        if isinstance(parent.get(key), dict) and isinstance(data.get(key), dict):
            merged[key] = {**parent[key], **data[key]}
    return merged


def _expect(data: dict[str, Any], key: str, kind: type, default: Any, problems: list[str]) -> Any:
    value = data.get(key, default)
    if not isinstance(value, kind):
        problems.append(f"{key}: expected a {kind.__name__}, got {value!r}")
        return default
    return value


def _string_list(value: Any, where: str, problems: list[str]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{where}: expected a list of strings, got {value!r}")
        return []
    return value


def _choices(value: Any, where: str, what: str, known: Sequence[str], problems: list[str]) -> list[str]:
    """A list of names each of which must be one of `known`."""
    items = _string_list(value, where, problems)
    for item in items:
        if item not in known:
            problems.append(f"{where}: unknown {what} {item!r}; expected some of {', '.join(known)}")
    return items


def _parse_require(value: Any, problems: list[str]) -> list[str]:
    """Protections the profile refuses to run without (fail closed instead of a weaker box)."""
    return _choices(value, "require", "requirement", REQUIREMENTS, problems)


def _parse_backstops(value: Any, problems: list[str]) -> bool:
    if not isinstance(value, bool):
        problems.append(f"rlimit_backstops: expected true or false, got {value!r}")
        return True
    return value


def _parse_cgroup_only(value: Any, problems: list[str]) -> list[str]:
    """Limits the profile enforces by a cgroup or not at all: each must have a cgroup file."""
    items = _string_list(value, "cgroup_only", problems)
    for item in items:
        if item not in BY_NAME or BY_NAME[item].cgroup is None:
            known = ", ".join(limit.name for limit in TABLE if limit.cgroup is not None)
            problems.append(f"cgroup_only: {item!r} is not a limit a cgroup enforces; expected some of {known}")
    return items


def _parse_generated(value: Any, problems: list[str]) -> list[str]:
    return _choices(value, "generated", "file", GENERATED_FILES, problems)


def _parse_rootfs(value: Any, problems: list[str]) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str) or not os.path.isabs(value):
        problems.append(f"rootfs: expected the absolute path of a directory, got {value!r}")
        return None
    return value


def _parse_choice(data: dict[str, Any], key: str, choices: tuple[str, ...], default: str, problems: list[str]) -> str:
    value = data.get(key, default)
    if value not in choices:
        problems.append(f"{key}: expected one of {', '.join(choices)}, got {value!r}")
        return default
    return value


def _parse_id(data: dict[str, Any], key: str, problems: list[str]) -> int:
    value = data.get(key, 1000)
    # A non-zero id inside means execve leaves the program no capabilities.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**32 - 1:
        problems.append(f"{key}: expected a non-zero id inside the box, got {value!r}")
        return 1000
    return value


def _parse_limits(value: Any, problems: list[str]) -> Limits:
    if not isinstance(value, dict):
        problems.append(f"limits: expected a mapping, got {value!r}")
        return Limits()
    parsed: dict[str, object] = {}
    for key, raw in value.items():
        limit = BY_NAME.get(key)
        if limit is None:
            problems.append(f"limits.{key}: unknown limit; expected one of {', '.join(BY_NAME)}")
            continue
        try:
            parsed[key] = limit.parse(raw)
        except UnitError as e:
            problems.append(f"limits.{key}: {e}")
    defaults = {limit.name: limit.default for limit in TABLE if limit.default is not None and limit.name not in value}
    return Limits(**defaults, **parsed)  # type: ignore[arg-type]


def _parse_env(value: Any, problems: list[str]) -> list[tuple[str, str]]:
    if not isinstance(value, dict):
        problems.append(f"env: expected a mapping of NAME: value, got {value!r}")
        return []
    pairs = []
    for key, raw in value.items():
        if not isinstance(key, str) or not key or "=" in key or isinstance(raw, bool) or not isinstance(raw, (str, int)):
            problems.append(f"env.{key}: expected a NAME without '=' and a string value (quote yes/no/true/false)")
            continue
        pairs.append((key, str(raw)))
    return pairs


def _parse_mounts(value: Any, problems: list[str]) -> list[MountEntry]:
    if not isinstance(value, list):
        problems.append(f"mounts: expected a list of operations, got {value!r}")
        return []
    entries = []
    for index, item in enumerate(value):
        where = f"mounts[{index}]"
        kinds = [k for k in MOUNT_KINDS if isinstance(item, dict) and k in item]
        if len(kinds) != 1:
            problems.append(f"{where}: expected exactly one of {', '.join(MOUNT_KINDS)}")
            continue
        kind = kinds[0]
        extra = set(item) - MOUNT_KEYS[kind]
        if extra:
            problems.append(f"{where}: unknown key {sorted(extra)[0]!r} for {kind}; allowed: {', '.join(sorted(MOUNT_KEYS[kind]))}")
            continue
        path = item[kind]
        if not isinstance(path, str) or not os.path.isabs(path):
            problems.append(f"{where}.{kind}: expected an absolute path, got {path!r}")
            continue
        if kind == "bind":
            target = item.get("to", path)
            if not isinstance(target, str) or not os.path.isabs(target):
                problems.append(f"{where}.to: expected an absolute path, got {target!r}")
                continue
            if not isinstance(item.get("rw", False), bool) or not isinstance(item.get("optional", False), bool):
                problems.append(f"{where}: rw and optional must be true or false")
                continue
            entries.append(MountEntry("bind", target, path, item.get("rw", False), item.get("optional", False)))
        elif kind == "tmpfs":
            try:
                size = parse_size(item["size"]) if "size" in item else None
            except UnitError as e:
                problems.append(f"{where}.size: {e}")
                continue
            entries.append(MountEntry("tmpfs", path, size=size))
        elif kind == "dev":
            if not isinstance(item.get("pts", False), bool):
                problems.append(f"{where}.pts: expected true or false")
                continue
            entries.append(MountEntry("dev", path, pts=item.get("pts", False)))
        else:
            entries.append(MountEntry(kind, path))
    return entries


def _parse_seccomp(value: Any, groups: dict[str, tuple[SyscallRule, ...]], problems: list[str]) -> SeccompPolicy:
    if not isinstance(value, dict):
        problems.append("seccomp: expected a mapping with default, allow and optionally kill and eagain")
        return SeccompPolicy("ENOSYS", (), ())
    for key in sorted(set(value) - {"default", *SECCOMP_LISTS}):
        problems.append(f"seccomp.{key}: unknown key; expected default, {', '.join(SECCOMP_LISTS)}")
    default = value.get("default", "ENOSYS")
    if default not in SECCOMP_DEFAULTS:
        problems.append(f"seccomp.default: expected one of {', '.join(SECCOMP_DEFAULTS)}, got {default!r}")
    rules = {}
    for key in SECCOMP_LISTS:
        items = value.get(key, [])
        if not isinstance(items, list):
            problems.append(f"seccomp.{key}: expected a list of syscall names or @groups")
            items = []
        rules[key] = tuple(_parse_rules(items, f"seccomp.{key}", problems, groups))
    return SeccompPolicy(default, rules["allow"], rules["kill"], rules["eagain"])
