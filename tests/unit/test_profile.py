"""sandbox.profile: YAML -> frozen dataclasses, strict validation listing every problem."""
from __future__ import annotations

import dataclasses
import os

import pytest
import yaml

from sandbox._record import FrozenInstanceError
from sandbox.errors import ProfileError, SandboxError
from sandbox.profile import (
    Limits,
    MountEntry,
    Profile,
    SyscallRule,
    list_shipped,
    load_profile,
    load_syscall_groups,
)

M = 1 << 20


def _problems(path: str) -> list[str]:
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    error = info.value
    assert error.source == path
    assert error.exit_code == 125
    # Every problem is reported with the file it came from.
    for problem in error.problems:
        assert f"{path}: {problem}" in error.message
    return error.problems


# --- a valid profile ----------------------------------------------------------------------------


def test_minimal_profile_loads(minimal_profile_path):
    profile = load_profile(minimal_profile_path)
    assert isinstance(profile, Profile)
    assert profile.name == "minimal"
    assert profile.source == minimal_profile_path
    assert profile.description == "a test profile"
    assert profile.command == ("python3", "{script}")
    assert profile.limits == Limits(
        cpu_time=1.5, wall_time=3.0, memory=64 * M, pids=8, output=M, file_size=M, open_files=64,
        stack=8 * M, tmp_size=16 * M, shm_size=16 * M,
    )
    assert profile.net == "none"
    assert profile.env == (("PATH", "/usr/bin:/bin"), ("HOME", "/tmp"))
    assert profile.hostname == "sandbox"
    assert profile.uid == 1000 and profile.gid == 1000


def test_minimal_profile_mounts_in_order(minimal_profile_path):
    mounts = load_profile(minimal_profile_path).mounts
    assert mounts == (
        MountEntry("bind", "/usr", "/usr"),
        MountEntry("bind", "/lib64", "/lib64", optional=True),
        MountEntry("bind", "/data", "/usr/share", writable=True),
        MountEntry("proc", "/proc"),
        MountEntry("dev", "/dev"),
        MountEntry("tmpfs", "/tmp"),
        MountEntry("tmpfs", "/scratch", size=2 * M),
    )


def test_minimal_profile_seccomp(minimal_profile_path):
    seccomp = load_profile(minimal_profile_path).seccomp
    assert seccomp.default == "ENOSYS"
    base = load_syscall_groups()["base"]
    # The @base group is expanded in place, the conditional rule follows it.
    assert seccomp.allow[: len(base)] == base
    assert seccomp.allow[len(base):] == (SyscallRule("ioctl", 1, 0xFFFFFFFF, 0x5401),)
    assert seccomp.kill == (SyscallRule("ptrace"),)
    assert seccomp.eagain == ()


def test_eagain_rules_are_read_like_kill_rules(write_profile, minimal_profile_text):
    path = write_profile(minimal_profile_text.replace(
        "seccomp:\n", "seccomp:\n  eagain: [{clone: {arg: 0, masked_eq: [0x10000, 0x10000]}}]\n", 1))
    assert load_profile(path).seccomp.eagain == (SyscallRule("clone", 0, 0x10000, 0x10000),)


def test_profile_is_frozen(minimal_profile_path):
    profile = load_profile(minimal_profile_path)
    with pytest.raises(FrozenInstanceError):
        profile.net = "loopback"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        profile.limits.memory = 1  # type: ignore[misc]


def test_unlimited_removes_a_limit(profile_with):
    path = profile_with("limits: {memory: unlimited, cpu_time: 2}")
    limits = load_profile(path).limits
    assert limits.memory is None
    assert limits.cpu_time == 2.0
    assert limits.pids is None  # not named: no limit


@pytest.mark.parametrize(
    "extra, attribute, expected",
    [
        ("net: loopback", "net", "loopback"),
        ("hostname: judge", "hostname", "judge"),
        ("uid: 65534", "uid", 65534),
        ("gid: 4242", "gid", 4242),
        ("env: {N: 3}", "env", (("N", "3"),)),
        ("seccomp: {default: kill, allow: [read]}", "seccomp.default", "kill"),
        ("seccomp: {default: EPERM, allow: [read]}", "seccomp.default", "EPERM"),
        ("seccomp: {allow: [read]}", "seccomp.default", "ENOSYS"),
    ],
)
def test_optional_values(profile_with, extra, attribute, expected):
    profile = load_profile(profile_with(extra))
    value = profile
    for part in attribute.split("."):
        value = getattr(value, part)
    assert value == expected


# --- shipped profiles ---------------------------------------------------------------------------


def test_shipped_profiles_listed():
    shipped = list_shipped()
    assert {"py3", "sh", "c", "cpp", "native", "node"} <= set(shipped)
    assert "syscalls" not in shipped  # the groups file is not a profile


@pytest.mark.parametrize("name", list_shipped())
def test_shipped_profile_loads(name):
    profile = load_profile(name)
    assert profile.name == name
    assert os.path.isabs(profile.source) and os.path.isfile(profile.source)
    assert "{script}" in profile.command
    assert profile.limits.cpu_time and profile.limits.wall_time and profile.limits.memory
    assert profile.limits.pids and profile.limits.output
    assert profile.seccomp.default in ("ENOSYS", "EPERM", "kill")
    names = {rule.name for rule in profile.seccomp.allow}
    assert {"read", "write", "execve", "exit_group"} <= names
    assert "clone3" not in names  # must get ENOSYS so glibc falls back to clone
    kinds = {m.kind for m in profile.mounts}
    assert {"bind", "dev"} <= kinds  # /proc and /tmp only where the program needs them


def test_shipped_py3_values():
    profile = load_profile("py3")
    assert profile.command == ("python3", "{script}")
    assert profile.limits.memory == 512 * M
    assert profile.limits.cpu_time == 5.0


def test_shipped_profiles_never_allow_unconditional_ioctl_or_socket():
    for name in list_shipped():
        for rule in load_profile(name).seccomp.allow:
            if rule.name in ("ioctl", "socket", "clone"):
                assert rule.arg is not None, f"{name}: {rule.name} allowed without an argument filter"


def test_the_groups_file_is_not_a_profile():
    with pytest.raises(ProfileError, match="no such profile"):
        load_profile("syscalls")


# --- syscall groups -----------------------------------------------------------------------------


def test_shipped_syscall_groups():
    groups = load_syscall_groups()
    assert {"base", "terminal", "files-read", "files-write", "processes", "network", "spawn", "read-only-files",
            "threads"} <= set(groups)
    for name, rules in groups.items():
        assert rules, f"group {name} is empty"
        assert all(isinstance(r, SyscallRule) for r in rules)
    assert SyscallRule("read") in groups["base"]
    # Every ioctl allowed by @terminal compares exactly 32 bits of argument 1.
    ioctls = [r for r in groups["terminal"] if r.name == "ioctl"]
    assert ioctls and all(r.arg == 1 and r.mask == 0xFFFFFFFF for r in ioctls)
    assert 0x5401 in {r.value for r in ioctls}  # TCGETS
    assert 0x5412 not in {r.value for r in ioctls}  # TIOCSTI must never be allowed
    clone = [r for r in groups["processes"] if r.name == "clone"]
    assert clone == [SyscallRule("clone", 0, 0x7E020000, 0)]


def test_syscall_groups_are_cached():
    assert load_syscall_groups() is load_syscall_groups()


def test_custom_syscall_groups(write_profile):
    path = write_profile(
        """\
        groups:
          tiny:
            why: test
            syscalls: [read, {ioctl: {arg: 1, masked_eq: [0xff, 3]}}]
        """,
        "groups-ok.yaml",
    )
    assert load_syscall_groups(path) == {"tiny": (SyscallRule("read"), SyscallRule("ioctl", 1, 0xFF, 3))}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("groups: {g: {syscalls: [read]}}", "groups.g: expected exactly the keys why and syscalls"),
        ("groups: {g: {why: x, syscalls: read}}", "groups.g.syscalls: expected a list"),
        ("groups: [read]", "groups:"),
        ("nothing: here", "groups:"),
        ("groups: {g: {why: x, syscalls: ['@base']}}", "unknown syscall group"),
    ],
)
def test_bad_syscall_groups(write_profile, text, expected):
    path = write_profile(text, "groups.yaml")
    with pytest.raises(ProfileError) as info:
        load_syscall_groups(path)
    assert info.value.source == path
    assert any(expected in p for p in info.value.problems), info.value.problems


# --- missing files and bad YAML -----------------------------------------------------------------


def test_unknown_shipped_profile_lists_the_shipped_ones():
    with pytest.raises(ProfileError) as info:
        load_profile("no-such-profile")
    assert "no-such-profile" in info.value.message
    assert "py3" in info.value.message and "sh" in info.value.message


@pytest.mark.parametrize("relative", ["missing.yaml", "missing.yml", "sub/missing"])
def test_missing_profile_file(tmp_path, relative):
    path = str(tmp_path / relative)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.source == path
    assert "no such profile file" in info.value.message
    assert path in info.value.message


def test_a_directory_or_a_fifo_is_not_a_profile_file_and_nothing_waits(tmp_path):
    (tmp_path / "dir.yaml").mkdir()
    os.mkfifo(tmp_path / "fifo.yaml")
    for name in ("dir.yaml", "fifo.yaml"):
        with pytest.raises(ProfileError, match="not a regular file"):
            load_profile(str(tmp_path / name))


def test_invalid_yaml_names_file_and_line(write_profile):
    path = write_profile("description: x\nlimits: [1, 2\nnet: none\n")
    problems = _problems(path)
    assert len(problems) == 1
    assert "not valid YAML" in problems[0]
    assert problems[0].startswith("line ")


@pytest.mark.parametrize("text", ["", "- a list\n- not a mapping\n", "just a string\n", "42\n"])
def test_top_level_must_be_a_mapping(write_profile, text):
    problems = _problems(write_profile(text))
    assert problems == ["expected a mapping of profile keys at the top level"]


def test_profile_error_is_a_sandbox_error():
    assert issubclass(ProfileError, SandboxError)


# --- strict validation: one problem each --------------------------------------------------------


@pytest.mark.parametrize(
    "extra, key, fragment",
    [
        ("colour: blue", "colour", "unknown key"),
        ("limits: {memroy: 64M}", "limits.memroy", "unknown limit"),
        ("limits: {memory: 12Q}", "limits.memory", "12Q"),
        ("limits: {cpu_time: fast}", "limits.cpu_time", "fast"),
        ("limits: {wall_time: -1}", "limits.wall_time", "at least 0"),
        ("limits: {pids: 0}", "limits.pids", "0 is no limit: write unlimited"),
        ("limits: {open_files: many}", "limits.open_files", "many"),
        ("limits: {tmp_size: 1X}", "limits.tmp_size", "1X"),
        ("limits: [1, 2]", "limits", "mapping"),
        ("net: host", "net", "none, loopback"),
        ("uid: 0", "uid", "non-zero"),
        ("gid: -5", "gid", "non-zero"),
        ("uid: root", "uid", "non-zero"),
        ("description: [a]", "description", "expected a str"),
        ("hostname: 7", "hostname", "expected a str"),
        ("command: python3", "command", "list of strings"),
        ("command: [python3, 3]", "command", "list of strings"),
        ("env: [PATH]", "env", "mapping"),
        ("env: {'A=B': x}", "env.A=B", "NAME without '='"),
        ("env: {A: [x]}", "env.A", "string value"),
        ("env: {A: null}", "env.A", "string value"),
        ("mounts: {bind: /usr}", "mounts", "list of operations"),
        ("mounts: [{bind: usr}]", "mounts[0].bind", "absolute path"),
        ("mounts: [{bind: /usr, to: usr}]", "mounts[0].to", "absolute path"),
        ("mounts: [{bind: /usr, rw: yes-please}]", "mounts[0]", "true or false"),
        ("mounts: [{bind: /usr, optional: 1}]", "mounts[0]", "true or false"),
        ("mounts: [{bind: /usr, size: 1M}]", "mounts[0]", "unknown key 'size'"),
        ("mounts: [{proc: /proc, rw: true}]", "mounts[0]", "unknown key 'rw'"),
        ("mounts: [{tmpfs: /tmp, size: 12Q}]", "mounts[0].size", "12Q"),
        ("mounts: [{tmpfs: relative}]", "mounts[0].tmpfs", "absolute path"),
        ("mounts: [{overlay: /x}]", "mounts[0]", "exactly one of"),
        ("mounts: [{bind: /a, tmpfs: /b}]", "mounts[0]", "exactly one of"),
        ("mounts: [/usr]", "mounts[0]", "exactly one of"),
        ("seccomp: [read]", "seccomp", "mapping"),
        ("seccomp: {default: ALLOW, allow: [read]}", "seccomp.default", "ALLOW"),
        ("seccomp: {allow: [read], deny: [write]}", "seccomp.deny", "unknown key"),
        ("seccomp: {allow: read}", "seccomp.allow", "list"),
        ("seccomp: {allow: ['@nope']}", "seccomp.allow[0]", "unknown syscall group '@nope'"),
        ("seccomp: {allow: [read], kill: ['@bogus']}", "seccomp.kill[0]", "unknown syscall group '@bogus'"),
        ("seccomp: {allow: [read], eagain: clone}", "seccomp.eagain", "list"),
        ("seccomp: {allow: [read], eagain: [{clone: {arg: 0, eq32: x}}]}", "seccomp.eagain[0].clone.eq32", "integer"),
        ("seccomp: {allow: [read, 7]}", "seccomp.allow[1]", "expected a syscall name"),
        ("seccomp: {allow: [{ioctl: {arg: 1, eq32: x}}]}", "seccomp.allow[0].ioctl.eq32", "integer"),
        ("seccomp: {allow: [{ioctl: {arg: 1, eq64: 3}}]}", "seccomp.allow[0].ioctl.eq64", "eq32, masked_eq"),
        ("seccomp: {allow: [{ioctl: {arg: 6, eq32: 3}}]}", "seccomp.allow[0].ioctl.arg", "0-5"),
        ("seccomp: {allow: [{ioctl: {arg: -1, eq32: 3}}]}", "seccomp.allow[0].ioctl.arg", "0-5"),
        ("seccomp: {allow: [{ioctl: {eq32: 3}}]}", "seccomp.allow[0].ioctl", "arg: N"),
        ("seccomp: {allow: [{ioctl: {arg: 1}}]}", "seccomp.allow[0].ioctl", "arg: N"),
        ("seccomp: {allow: [{ioctl: {arg: 1, eq32: 3, masked_eq: [1, 1]}}]}", "seccomp.allow[0].ioctl", "arg: N"),
        ("seccomp: {allow: [{ioctl: 3}]}", "seccomp.allow[0].ioctl", "arg: N"),
        ("seccomp: {allow: [{ioctl: {arg: 1, masked_eq: [1, 2, 3]}}]}", "seccomp.allow[0].ioctl.masked_eq", "integer"),
        ("seccomp: {allow: [{ioctl: {arg: 1, masked_eq: 5}}]}", "seccomp.allow[0].ioctl.masked_eq", "integer"),
        ("seccomp: {allow: [{a: {arg: 1, eq32: 1}, b: {arg: 1, eq32: 1}}]}", "seccomp.allow[0]", "expected a syscall"),
    ],
)
def test_single_problem_names_the_key(profile_with, extra, key, fragment):
    path = profile_with(extra)
    problems = _problems(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{key}: ") or problems[0].startswith(f"{key} "), problems[0]
    assert fragment in problems[0], problems[0]


def test_seccomp_is_required(write_profile, minimal_profile_text):
    data = yaml.safe_load(minimal_profile_text)
    del data["seccomp"]
    problems = _problems(write_profile(yaml.safe_dump(data)))
    assert len(problems) == 1 and problems[0].startswith("seccomp:")


def test_unknown_group_lists_the_known_ones(profile_with):
    problems = _problems(profile_with("seccomp: {allow: ['@nope']}"))
    assert "base" in problems[0] and "terminal" in problems[0]


def test_every_problem_is_listed(write_profile):
    path = write_profile(
        """\
        colour: blue
        flavour: mint
        limits: {memory: 12Q, cpu_time: soon, bogus: 1}
        net: host
        uid: 0
        mounts: [{bind: relative}, {tmpfs: /tmp, size: huge}]
        seccomp:
          default: ALLOW
          allow: ["@nope", {ioctl: {arg: 9, eq32: 1}}]
        """
    )
    problems = _problems(path)
    keys = [p.split(": ", 1)[0] for p in problems]
    assert sorted(keys) == sorted(
        [
            "colour", "flavour", "limits.memory", "limits.cpu_time", "limits.bogus", "net", "uid",
            "mounts[0].bind", "mounts[1].size", "seccomp.default", "seccomp.allow[0]", "seccomp.allow[1].ioctl.arg",
        ]
    )
    # The message is one line holding every problem, each prefixed by the file.
    error_message = "; ".join(f"{path}: {p}" for p in problems)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.message == error_message
    assert "\n" not in info.value.message


# --- argument conditions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "condition, expected",
    [
        ("{arg: 1, eq32: 0x5401}", SyscallRule("ioctl", 1, 0xFFFFFFFF, 0x5401)),
        ("{arg: 0, eq32: 0}", SyscallRule("ioctl", 0, 0xFFFFFFFF, 0)),
        ("{arg: 5, eq32: 7}", SyscallRule("ioctl", 5, 0xFFFFFFFF, 7)),
        # Only the low 32 bits count: the kernel reads int arguments as 32 bits.
        ("{arg: 1, eq32: -1}", SyscallRule("ioctl", 1, 0xFFFFFFFF, 0xFFFFFFFF)),
        ("{arg: 1, eq32: 0x100005401}", SyscallRule("ioctl", 1, 0xFFFFFFFF, 0x5401)),
        ("{arg: 0, masked_eq: [0x7e020000, 0]}", SyscallRule("ioctl", 0, 0x7E020000, 0)),
        ("{arg: 2, masked_eq: [0xff, 0x10]}", SyscallRule("ioctl", 2, 0xFF, 0x10)),
    ],
)
def test_argument_conditions(profile_with, condition, expected):
    path = profile_with(f"seccomp: {{allow: [{{ioctl: {condition}}}]}}")
    assert load_profile(path).seccomp.allow == (expected,)


# --- extends ---------------------------------------------------------------------------------------


def test_extends_a_shipped_profile_merging_limits_and_env(write_profile):
    from sandbox.profile import load_profile

    base = load_profile("sh")
    child = load_profile(write_profile("""
        extends: sh
        description: sh with less memory
        limits: {memory: 32M}
        env: {LANG: C.UTF-8}
    """, "small.yaml"))
    assert child.name == "small" and child.description == "sh with less memory"
    assert child.limits.memory == 32 << 20 and child.limits.cpu_time == base.limits.cpu_time
    assert dict(child.env) == {**dict(base.env), "LANG": "C.UTF-8"}
    assert child.mounts == base.mounts and child.seccomp == base.seccomp
    assert [path for path, _ in child.sources][:2] == [child.source, base.source]  # then the groups file


def test_extends_a_file_next_to_it_and_replaces_lists(write_profile, minimal_profile_text):
    from sandbox.profile import load_profile

    write_profile(minimal_profile_text, "parent.yaml")
    child = load_profile(write_profile("extends: parent.yaml\nmounts: [{proc: /proc}]\n", "child.yaml"))
    assert [m.kind for m in child.mounts] == ["proc"]
    assert child.limits.pids == 8


def test_an_extends_cycle_is_named(write_profile):
    from sandbox.profile import load_profile

    write_profile("extends: b.yaml\n", "a.yaml")
    path = write_profile("extends: a.yaml\n", "b.yaml")
    with pytest.raises(ProfileError, match=r"cycle: .*b.yaml -> .*a.yaml -> .*b.yaml"):
        load_profile(path)


def test_extending_a_missing_profile_says_extends(write_profile):
    from sandbox.profile import load_profile

    with pytest.raises(ProfileError, match="extends: .*no such profile"):
        load_profile(write_profile("extends: nonesuch\n", "orphan.yaml"))


def test_the_cache_rereads_what_a_profile_extends(write_profile, minimal_profile_text, monkeypatch, tmp_path):
    from sandbox import _cache

    monkeypatch.setenv(_cache.CACHE_DIR_ENV, str(tmp_path / "cache"))
    parent = write_profile(minimal_profile_text, "parent.yaml")
    child = write_profile("extends: parent.yaml\n", "child.yaml")
    assert _cache.load_profile(child).limits.memory == 64 << 20
    with open(parent, "w") as f:
        f.write(minimal_profile_text.replace("memory: 64M", "memory: 48M"))
    assert _cache.load_profile(child).limits.memory == 48 << 20


def test_rlimit_backstops_is_true_unless_a_profile_says_false(profile_with, minimal_profile_path):
    assert load_profile(minimal_profile_path).rlimit_backstops is True
    assert load_profile(profile_with("rlimit_backstops: false")).rlimit_backstops is False
    assert _problems(profile_with("rlimit_backstops: sometimes")) == [
        "rlimit_backstops: expected true or false, got 'sometimes'"]
