"""abort() is SIGABRT in every shipped profile, and a program signals only itself where its profile
starts no other process (issue 14, point 3).

Without tgkill, glibc's abort() cannot raise SIGABRT and ends in a halt instruction: a failed
assert, an uncaught C++ exception, std::bad_alloc or V8's heap exhaustion read as SIGSEGV.  The
judge's question is which of these it was, so each is run for real and its signal asserted.
"""
from __future__ import annotations

import errno
import functools
import signal
import textwrap

import pytest

from sandbox import Sandbox
from sandbox.profile import list_shipped

ASSERT_C = """\
#include <assert.h>
int main(int argc, char **argv) { (void)argv; assert(argc == 5); return 0; }
"""

THROW_CPP = """\
#include <stdexcept>
int main() { throw std::runtime_error("uncaught"); }
"""

BAD_ALLOC_CPP = """\
#include <vector>
int main() { std::vector<char *> kept; for (;;) kept.push_back(new char[1 << 20]); }
"""

# What the program may signal: itself (tgkill with its own pid and tid) and, through each call
# a profile could allow, the init (pid 1) and a pid that is not its own.  Prints each result.
SIGNALS_C = """\
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
static void show(const char *what, long r) { printf("%s %ld\\n", what, r == -1 ? -(long)errno : r); }
int main(void) {
    printf("pid %d\\n", getpid());
    show("tgkill-self", syscall(SYS_tgkill, getpid(), gettid(), 0));
    show("tgkill-init", syscall(SYS_tgkill, 1, 1, 0));
    show("tgkill-other", syscall(SYS_tgkill, 3, 3, 0));
    show("tkill-init", syscall(SYS_tkill, 1, 0));
    show("kill-init", syscall(SYS_kill, 1, 0));
    show("kill-group", syscall(SYS_kill, 0, 0));
    return 0;
}
"""


@functools.lru_cache(maxsize=None)
def _binary(profile: str, source: str) -> bytes:
    compiler, name = ("gcc", "main.c") if profile == "c" else ("g++", "main.cpp")
    with Sandbox(profile) as box:
        result = box.run([compiler, "-O2", "-o", "main", name], files={name: source}, collect=["main"])
    assert (result.verdict.value, result.stderr) == ("OK", b""), result.message
    return result.files["main"]


def _run(profile: str, argv: list[str], files: dict, **limits: object):
    with Sandbox(profile) as box:
        return box.run(argv, files=files, **limits)


def _assert_aborted(result, message: bytes = b"") -> None:
    assert (result.verdict.value, result.signal, result.exit_code, result.limit) == ("RE", signal.SIGABRT, None, None)
    assert message in result.stderr


@pytest.mark.parametrize("profile", list_shipped())
def test_a_failed_assert_is_sigabrt_in_every_profile(profile):
    result = _run(profile, ["./main"], {"main": (_binary("c", ASSERT_C), 0o755)})
    _assert_aborted(result, b"Assertion `argc == 5' failed")


@pytest.mark.parametrize("profile", ["native", "cpp"])
def test_an_uncaught_cpp_exception_is_sigabrt(profile):
    result = _run(profile, ["./main"], {"main": (_binary("cpp", THROW_CPP), 0o755)})
    _assert_aborted(result, b"terminate called after throwing an instance of 'std::runtime_error'")


@pytest.mark.parametrize("profile", ["native", "cpp"])
def test_bad_alloc_under_a_memory_limit_is_sigabrt(profile):
    # Without a cgroup the limit is RLIMIT_AS: new fails, std::bad_alloc is thrown and not caught.
    result = _run(profile, ["./main"], {"main": (_binary("cpp", BAD_ALLOC_CPP), 0o755)}, memory="128M")
    _assert_aborted(result, b"std::bad_alloc")


def test_os_abort_is_sigabrt_in_py3():
    _assert_aborted(_run("py3", ["python3", "main.py"], {"main.py": "import os\nos.abort()\n"}))


@pytest.mark.parametrize("profile", ["sh", "ci"])
def test_a_shell_that_sends_itself_sigabrt_gets_it(profile):
    _assert_aborted(_run(profile, ["sh", "main.sh"], {"main.sh": "kill -ABRT $$\necho survived\n"}))


def test_process_abort_is_sigabrt_in_node():
    _assert_aborted(_run("node", ["node", "main.js"], {"main.js": "process.abort();\n"}))


def test_nodes_heap_exhaustion_is_sigabrt():
    source = textwrap.dedent("""\
        const kept = [];
        for (;;) kept.push(new Array(1 << 16).fill(kept.length));
        """)
    result = _run("node", ["node", "--max-old-space-size=32", "main.js"], {"main.js": source})
    _assert_aborted(result, b"JavaScript heap out of memory")


@pytest.mark.parametrize("profile", ["native", "node"])
def test_a_one_process_profile_lets_the_program_signal_itself_and_nobody_else(profile):
    result = _run(profile, ["./main"], {"main": (_binary("c", SIGNALS_C), 0o755)})
    assert result.verdict.value == "OK", result.message
    enosys = -errno.ENOSYS
    assert result.stdout.decode().splitlines() == [
        "pid 2",  # the filter's tgkill rule names pid 2: the program must be the init's first child
        "tgkill-self 0",
        f"tgkill-init {enosys}", f"tgkill-other {enosys}", f"tkill-init {enosys}",
        f"kill-init {enosys}", f"kill-group {enosys}",
    ]
