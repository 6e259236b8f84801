"""A classic-BPF interpreter for seccomp filters, so unit tests can ask a compiled filter what it
does with one call (name, arguments) without loading it.  Only the instructions libseccomp emits
are known; any other is an error, never a guess."""
from __future__ import annotations

import struct

import pyseccomp

AUDIT_ARCH_X86_64 = 0xC000003E
RET_ALLOW = 0x7FFF0000
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000

_LD_W_ABS, _ALU_AND_K, _JMP_JA, _JEQ_K, _JGT_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x54, 0x05, 0x15, 0x25, 0x35, 0x45, 0x06


def seccomp_data(name: str, args: tuple[int, ...] = (), arch: int = AUDIT_ARCH_X86_64) -> bytes:
    """struct seccomp_data for a call on this machine: nr, arch, instruction pointer, six arguments."""
    nr = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
    full = tuple(args) + (0,) * (6 - len(args))
    return struct.pack("=iIQ6Q", nr, arch, 0, *full)


def evaluate(bpf: bytes, name: str, *args: int) -> int:
    """The filter's return value (action) for `name(args...)`."""
    data = seccomp_data(name, args)
    program = [struct.unpack("=HBBI", bpf[i:i + 8]) for i in range(0, len(bpf), 8)]
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        pc += 1
        if code == _LD_W_ABS:
            acc = struct.unpack_from("=I", data, k)[0]
        elif code == _ALU_AND_K:
            acc &= k
        elif code == _JMP_JA:
            pc += k
        elif code in (_JEQ_K, _JGT_K, _JGE_K, _JSET_K):
            taken = {_JEQ_K: acc == k, _JGT_K: acc > k, _JGE_K: acc >= k, _JSET_K: acc & k != 0}[code]
            pc += jt if taken else jf
        elif code == _RET_K:
            return k
        else:
            raise AssertionError(f"instruction {code:#x} at {pc - 1} is not one this interpreter knows")


def errno_action(number: int) -> int:
    return RET_ERRNO | number
