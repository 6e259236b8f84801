"""sandbox.seccomp.compile_filter: policy -> classic BPF bytes (compiling needs no privilege)."""
from __future__ import annotations

import os
import struct

import pytest

from sandbox.plan import seccomp_spec
from sandbox.profile import list_shipped, load_profile
from sandbox.seccomp import ArgCondition, SeccompRule, SeccompSpec, UnknownSyscall, compile_filter

BPF_INSN = 8  # struct sock_filter: u16 code, u8 jt, u8 jf, u32 k
BPF_RET = 0x06
SECCOMP_RET_ALLOW = 0x7FFF0000

def _spec(default="ENOSYS", allow=("read", "write", "exit_group"), kill=()):
    return SeccompSpec(default, tuple(SeccompRule(n) for n in allow), tuple(SeccompRule(n) for n in kill))


def _instructions(bpf: bytes) -> list[tuple[int, int, int, int]]:
    return [struct.unpack("=HBBI", bpf[i:i + BPF_INSN]) for i in range(0, len(bpf), BPF_INSN)]


@pytest.mark.parametrize("default", ["ENOSYS", "EPERM", "kill"])
def test_compiles_to_whole_instructions(default):
    bpf = compile_filter(_spec(default))
    assert isinstance(bpf, bytes)
    assert len(bpf) > 0
    assert len(bpf) % BPF_INSN == 0


def test_the_filter_has_an_allow_return():
    returns = {k for code, _, _, k in _instructions(compile_filter(_spec())) if code == BPF_RET}
    assert SECCOMP_RET_ALLOW in returns


def test_default_action_changes_the_filter():
    assert compile_filter(_spec("ENOSYS")) != compile_filter(_spec("kill"))
    assert compile_filter(_spec("ENOSYS")) != compile_filter(_spec("EPERM"))


def test_more_rules_more_code():
    small = compile_filter(_spec(allow=("read",)))
    large = compile_filter(_spec(allow=("read", "write", "openat", "close", "mmap")))
    assert len(large) > len(small)


def test_argument_conditions_and_kill_rules_compile():
    spec = SeccompSpec(
        "ENOSYS",
        (SeccompRule("read"), SeccompRule("ioctl", ArgCondition(1, 0xFFFFFFFF, 0x5401)),
         SeccompRule("clone", ArgCondition(0, 0x7E020000, 0))),
        (SeccompRule("ptrace"),),
    )
    bpf = compile_filter(spec)
    assert len(bpf) % BPF_INSN == 0
    assert len(bpf) > len(compile_filter(_spec(allow=("read",))))


@pytest.mark.parametrize("name", list_shipped())
def test_shipped_profiles_compile(name):
    bpf = compile_filter(seccomp_spec(load_profile(name)))
    assert bpf and len(bpf) % BPF_INSN == 0


def test_unknown_syscall_is_named():
    with pytest.raises(UnknownSyscall, match="no_such_syscall"):
        compile_filter(_spec(allow=("read", "no_such_syscall")))


def test_every_unknown_syscall_is_named():
    with pytest.raises(UnknownSyscall) as info:
        compile_filter(_spec(allow=("read", "bogus_one"), kill=("bogus_two",)))
    assert "bogus_one" in str(info.value) and "bogus_two" in str(info.value)
    assert "read" not in str(info.value).split(", ")


def test_unknown_syscall_is_a_value_error():
    assert issubclass(UnknownSyscall, ValueError)


def test_pyseccomp_is_imported_with_absolute_path_entries_only(monkeypatch, tmp_path):
    """Its find_library may run `gcc` from $PATH; an empty or relative entry means the working directory."""
    import sys

    from sandbox import seccomp

    seen = []

    class Recorder:
        def find_spec(self, name, path=None, target=None):  # noqa: ANN001
            if name == "pyseccomp":
                seen.append(os.environ["PATH"])
            return None

    monkeypatch.setenv("PATH", f":.:relative/bin:{tmp_path}:/usr/bin")
    monkeypatch.delitem(sys.modules, "pyseccomp", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Recorder(), *sys.meta_path])
    seccomp._pyseccomp()
    assert seen == [f"{tmp_path}:/usr/bin"]
    assert os.environ["PATH"] == f":.:relative/bin:{tmp_path}:/usr/bin"


def test_eagain_rules_fail_the_call_with_eagain():
    import errno

    from bpf import RET_ALLOW, errno_action, evaluate

    thread = ArgCondition(0, 0x10000, 0x10000)
    spec = SeccompSpec("ENOSYS", (SeccompRule("read"),), (SeccompRule("clone", ArgCondition(0, 0x10000, 0)),),
                       (SeccompRule("clone", thread),))
    bpf = compile_filter(spec)
    assert evaluate(bpf, "clone", 0x10000) == errno_action(errno.EAGAIN)
    assert evaluate(bpf, "clone", 0x11) != errno_action(errno.EAGAIN)
    assert evaluate(bpf, "read") == RET_ALLOW
