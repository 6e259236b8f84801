"""seccomp-bpf: an allowlist compiled once in the parent, loaded last in the child.  Side: both.

compile_filter() (parent) turns the policy into classic BPF with libseccomp
(through pyseccomp); the target installs those bytes as the last step before
execve (_lastmile.c), so the child needs neither libseccomp nor the policy.  Calls not allowed
get the default action: ERRNO(ENOSYS) so glibc falls back (clone3 -> clone) and a
test can tell "filtered" from "refused by the kernel".  A profile may also name calls
that fail with EAGAIN, as a resource limit refuses them (native's threads: pthread_create
fails as it does under a process limit, whether its stack fit under RLIMIT_AS or not, so
the verdict does not depend on the memory limit).  Calls of another
architecture (i386 `int 0x80`, x32) kill the process.  Man pages: seccomp(2),
seccomp_rule_add(3), seccomp_export_bpf(3).
"""
from __future__ import annotations

import errno
import os
from typing import Optional

from ._record import dataclass


@dataclass(frozen=True)
class ArgCondition:
    """(args[index] & mask) == value."""

    index: int
    mask: int
    value: int


@dataclass(frozen=True)
class SeccompRule:
    syscall: str
    condition: Optional[ArgCondition] = None


@dataclass(frozen=True)
class SeccompSpec:
    default: str  # "ENOSYS", "EPERM" or "kill"
    allow: tuple[SeccompRule, ...]
    kill: tuple[SeccompRule, ...]
    eagain: tuple[SeccompRule, ...] = ()  # fail with EAGAIN, as a process limit would


class UnknownSyscall(ValueError):
    """A rule names a syscall libseccomp does not know on this architecture."""


def _pyseccomp():  # type: ignore[no-untyped-def]
    """pyseccomp, imported with only the absolute directories of $PATH: importing it runs ctypes'
    find_library, which falls back to running `gcc` and `ld` found on $PATH when ldconfig does
    not list the library, and an empty or relative entry would run one from the working
    directory (the project under test, say)."""
    import sys

    if "pyseccomp" not in sys.modules:
        path = os.environ.get("PATH")
        os.environ["PATH"] = os.pathsep.join(d for d in (path or "").split(os.pathsep) if os.path.isabs(d))
        try:
            import pyseccomp  # noqa: F401
        finally:
            if path is None:
                del os.environ["PATH"]
            else:
                os.environ["PATH"] = path
    return sys.modules["pyseccomp"]


def _action(name: str) -> int:
    pyseccomp = _pyseccomp()

    if name == "kill":
        return pyseccomp.KILL_PROCESS
    return pyseccomp.ERRNO(getattr(errno, name))


def compile_filter(spec: SeccompSpec) -> bytes:
    """BPF bytes for `spec`; raises UnknownSyscall naming every unknown call."""
    pyseccomp = _pyseccomp()

    flt = pyseccomp.SyscallFilter(_action(spec.default))
    flt.set_attr(pyseccomp.Attr.ACT_BADARCH, pyseccomp.KILL_PROCESS)
    unknown = []
    actions = ((pyseccomp.KILL_PROCESS, spec.kill), (pyseccomp.ERRNO(errno.EAGAIN), spec.eagain),
               (pyseccomp.ALLOW, spec.allow))
    for action, rules in actions:
        for rule in rules:
            args: tuple[object, ...] = ()
            if rule.condition:
                c = rule.condition
                args = (pyseccomp.Arg(c.index, pyseccomp.MASKED_EQ, c.mask, c.value),)
            try:
                flt.add_rule(action, rule.syscall, *args)
            except (OSError, ValueError, RuntimeError):
                unknown.append(rule.syscall)
    if unknown:
        raise UnknownSyscall(", ".join(sorted(set(unknown))))
    fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
    try:
        flt.export_bpf(_FileNo(fd))
        return os.pread(fd, os.fstat(fd).st_size, 0)
    finally:
        os.close(fd)


class _FileNo:
    """pyseccomp's export_bpf wants an object with fileno()."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

