"""The shipped profiles (the judge's c, cpp, native, node, the languages java, javac, go, go-native, rust, pypy3,
and a signal rule for all), asked of their compiled seccomp filters:
what each allows, refuses (ENOSYS) and kills.  The integration tier runs the same calls for real."""
from __future__ import annotations

import errno
import functools
import os
import socket

import pytest
from bpf import RET_ALLOW, RET_KILL_PROCESS, errno_action, evaluate

from sandbox.plan import seccomp_spec
from sandbox.profile import list_shipped, load_profile
from sandbox.seccomp import compile_filter

ENOSYS = errno_action(errno.ENOSYS)
EAGAIN = errno_action(errno.EAGAIN)
SIGABRT = 6
PROGRAM = 2                       # the program's pid in its box: the init's first child
AT_FDCWD = -100 & 0xFFFFFFFF
SIGCHLD = 17
THREAD_FLAGS = 0x3D0F00           # glibc's pthread_create: CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|...
FORK_FLAGS = 0x01200000 | SIGCHLD  # glibc's fork(): CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID
VFORK_FLAGS = 0x4100 | SIGCHLD    # posix_spawn's fallback: CLONE_VM|CLONE_VFORK
CLONE_NEWUSER = 0x10000000
M = 1 << 20


@functools.lru_cache(maxsize=None)
def _filter(name: str) -> bytes:
    return compile_filter(seccomp_spec(load_profile(name)))


def test_the_shipped_profiles_are_exactly_these():
    # A new shipped profile must come with its own policy tests here and a run in the integration tier.
    assert list_shipped() == ["c", "ci", "cpp", "go", "go-native", "java", "javac", "native", "node", "py3", "pypy3",
                              "rust", "sh"]


@pytest.mark.parametrize("name", list_shipped())
def test_no_shipped_profile_lets_clone_make_a_namespace(name):
    for flags in (FORK_FLAGS | CLONE_NEWUSER, THREAD_FLAGS | CLONE_NEWUSER):
        assert evaluate(_filter(name), "clone", flags) != RET_ALLOW


@pytest.mark.parametrize("name", list_shipped())
def test_no_shipped_profile_allows_clone3_whose_flags_the_filter_cannot_read(name):
    assert evaluate(_filter(name), "clone3") in (ENOSYS, RET_KILL_PROCESS)


@pytest.mark.parametrize("name", list_shipped())
def test_every_shipped_profile_lets_the_program_signal_itself(name):
    # abort() is raise(SIGABRT): tgkill(getpid(), gettid(), SIGABRT).  Refused, glibc's abort()
    # ends in a halt instruction and the program reads as a segfault.
    assert evaluate(_filter(name), "tgkill", PROGRAM, PROGRAM, SIGABRT) == RET_ALLOW


@pytest.mark.parametrize("name", ["native", "node", "go-native", "java", "pypy3"])
@pytest.mark.parametrize("call, args", [
    ("tgkill", (1, 1, SIGABRT)), ("tgkill", (3, 3, SIGABRT)), ("tgkill", (-1 & 0xFFFFFFFF, 2, SIGABRT)),
    ("tgkill", ((1 << 32) | 3, 2, SIGABRT)),  # the kernel reads a pid as 32 bits: this is pid 3
    ("tkill", (1, SIGABRT)), ("tkill", (2, SIGABRT)), ("kill", (1, SIGABRT)), ("kill", (0, SIGABRT)),
    ("rt_sigqueueinfo", (1, SIGABRT, 0)), ("rt_tgsigqueueinfo", (2, 2, SIGABRT, 0)), ("pidfd_send_signal", ()),
])
def test_a_one_process_profile_signals_nobody_else(name, call, args):
    # Its only process is PID 2 (node's threads are of it): tgkill with any other thread group is refused.
    assert evaluate(_filter(name), call, *args) == ENOSYS


# --- ci -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("call, args", [
    ("seccomp", (1, 0, 0)),                 # a test suite may add filters of its own (they only take away)
    ("fchownat", ()), ("lgetxattr", ()), ("llistxattr", ()),
    ("clone", (FORK_FLAGS,)), ("clone", (THREAD_FLAGS,)),
    ("socket", (socket.AF_UNIX, socket.SOCK_STREAM, 0)), ("socket", (socket.AF_INET, socket.SOCK_STREAM, 0)),
])
def test_ci_allows_what_test_suites_use(call, args):
    assert evaluate(_filter("ci"), call, *args) == RET_ALLOW


@pytest.mark.parametrize("call, args", [
    ("socket", (socket.AF_NETLINK, socket.SOCK_RAW, 0)), ("socket", (socket.AF_PACKET, socket.SOCK_RAW, 0)),
    ("setxattr", ()), ("mount", ()), ("unshare", ()), ("ptrace", ()), ("bpf", ()), ("keyctl", ()),
    ("ioctl", (1, 0x5412)),                  # TIOCSTI
])
def test_ci_refuses_kernel_surface_it_does_not_need(call, args):
    assert evaluate(_filter("ci"), call, *args) == ENOSYS


# --- native ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("call, args", [
    ("fork", ()), ("vfork", ()), ("clone", (FORK_FLAGS,)), ("clone", (VFORK_FLAGS,)), ("clone", (0x100 | SIGCHLD,)),
    ("socket", (socket.AF_INET, socket.SOCK_STREAM, 0)), ("socket", (socket.AF_UNIX, socket.SOCK_STREAM, 0)),
    ("socketpair", (socket.AF_UNIX, socket.SOCK_STREAM, 0, 0)),
    ("creat", (0, 0o644)),
    ("openat", (AT_FDCWD, 0, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)),
    ("openat", (AT_FDCWD, 0, os.O_RDWR)),
    ("openat", (AT_FDCWD, 0, os.O_RDONLY | os.O_CREAT)),   # O_CREAT alone creates a file
    ("openat", (AT_FDCWD, 0, os.O_RDONLY | os.O_TRUNC)),   # Linux truncates even a read-only open
    ("openat", (AT_FDCWD, 0, os.O_WRONLY | os.O_APPEND)),
    ("open", (0, os.O_WRONLY)), ("open", (0, os.O_RDWR | os.O_CREAT)),
])
def test_native_kills_new_processes_sockets_and_opens_for_writing(call, args):
    assert evaluate(_filter("native"), call, *args) == RET_KILL_PROCESS


@pytest.mark.parametrize("call, args", [
    ("openat", (AT_FDCWD, 0, os.O_RDONLY | os.O_CLOEXEC)),  # what the dynamic loader does
    ("openat", (AT_FDCWD, 0, os.O_RDONLY | os.O_DIRECTORY | os.O_NONBLOCK)),
    ("openat", (AT_FDCWD, 0, (1 << 32) | os.O_RDONLY)),      # the kernel reads flags as 32 bits
    ("open", (0, os.O_RDONLY)),
    ("read", ()), ("write", ()), ("mmap", ()), ("brk", ()), ("futex", ()), ("exit_group", ()),
    ("execve", ()),  # the program's own exec comes after the filter is loaded
    ("access", ()), ("readlink", ()), ("newfstatat", ()), ("getrandom", ()),
])
def test_native_allows_what_a_compiled_program_needs(call, args):
    assert evaluate(_filter("native"), call, *args) == RET_ALLOW


@pytest.mark.parametrize("call", [
    "openat2", "mkdir", "unlink", "rename", "truncate", "ftruncate", "chmod", "symlink", "memfd_create", "execveat",
    "getdents64", "ptrace", "prctl", "kill", "wait4", "io_uring_setup", "mount", "unshare", "bpf", "connect",
])
def test_native_refuses_the_rest(call):
    assert evaluate(_filter("native"), call) == ENOSYS


@pytest.mark.parametrize("flags", [THREAD_FLAGS, 0x10000, THREAD_FLAGS | CLONE_NEWUSER])
def test_native_refuses_a_thread_as_a_process_limit_would(flags):
    # EAGAIN, as pthread_create gets when its stack does not fit under RLIMIT_AS: the verdict
    # of a program that starts a thread does not depend on its memory limit (README).
    assert evaluate(_filter("native"), "clone", flags) == EAGAIN


def test_native_gives_clone3_enosys_so_glibc_falls_back_to_clone():
    assert evaluate(_filter("native"), "clone3") == ENOSYS


def test_native_mounts_no_shell_and_gives_one_process():
    profile = load_profile("native")
    sources = {m.source for m in profile.mounts if m.kind == "bind"}
    assert not sources & {"/usr", "/bin", "/usr/bin", "/sbin", "/usr/sbin", "/usr/local"}
    assert {m.kind for m in profile.mounts} == {"bind", "dev"}  # no /proc, no writable /tmp
    assert profile.command == ("{script}",)
    assert (profile.limits.pids, profile.limits.memory, profile.limits.cpu_time) == (1, 256 * M, 2.0)
    assert profile.net == "none"


# --- c and cpp ------------------------------------------------------------------------------------


def test_cpp_is_c_with_gpp():
    c, cpp = load_profile("c"), load_profile("cpp")
    assert (cpp.limits, cpp.mounts, cpp.seccomp, cpp.env, cpp.net) == (c.limits, c.mounts, c.seccomp, c.env, c.net)
    assert c.command == ("gcc", "-O2", "-o", "main", "{script}", "-lm")
    assert cpp.command == ("g++", "-O2", "-o", "main", "{script}")


@pytest.mark.parametrize("call, args", [
    ("vfork", ()), ("fork", ()), ("clone", (FORK_FLAGS,)), ("clone", (VFORK_FLAGS,)), ("wait4", ()),
    ("execve", ()), ("tgkill", ()), ("pipe2", ()), ("unlink", ()), ("chmod", ()), ("umask", ()),
    ("openat", (AT_FDCWD, 0, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)),
])
def test_compiling_may_run_passes_and_write_temporary_files(call, args):
    assert evaluate(_filter("c"), call, *args) == RET_ALLOW


@pytest.mark.parametrize("call, args", [
    ("clone", (FORK_FLAGS | CLONE_NEWUSER,)), ("clone3", ()), ("prctl", ()), ("setsid", ()), ("kill", ()),
    ("pidfd_open", ()), ("execveat", ()), ("socket", (socket.AF_INET, socket.SOCK_STREAM, 0)), ("ptrace", ()),
])
def test_compiling_may_not_control_processes_or_use_the_network(call, args):
    assert evaluate(_filter("c"), call, *args) == ENOSYS


def test_compile_limits_leave_room_for_the_passes():
    limits = load_profile("c").limits
    assert limits.pids >= 5 and limits.memory >= 512 * M and limits.cpu_time >= 5
    assert load_profile("c").net == "none"


# --- node -----------------------------------------------------------------------------------------


def test_node_starts_threads():
    assert evaluate(_filter("node"), "clone", THREAD_FLAGS) == RET_ALLOW


@pytest.mark.parametrize("call, args", [
    ("clone", (FORK_FLAGS,)), ("clone", (VFORK_FLAGS,)), ("clone", (0x10000 | SIGCHLD,)), ("fork", ()), ("vfork", ()),
    ("socket", (socket.AF_INET, socket.SOCK_STREAM, 0)),
])
def test_node_starts_no_process_and_opens_no_socket(call, args):
    assert evaluate(_filter("node"), call, *args) == ENOSYS


def test_native_lets_a_rust_binary_poll_its_standard_descriptors():
    # Rust's runtime polls fds 0-2 at start and aborts (SIGABRT) when poll fails with ENOSYS.
    assert evaluate(_filter("native"), "poll") == RET_ALLOW


# --- the languages: java, javac, go, go-native, rust, pypy3 ---------------------------------------


@pytest.mark.parametrize("name", ["java", "go-native", "pypy3"])
def test_language_runtimes_start_threads_but_no_process(name):
    assert evaluate(_filter(name), "clone", THREAD_FLAGS) == RET_ALLOW
    for call, args in (("clone", (FORK_FLAGS,)), ("clone", (VFORK_FLAGS,)), ("fork", ()), ("vfork", ()),
                       ("execveat", ()), ("wait4", ()), ("ptrace", ()), ("mount", ())):
        assert evaluate(_filter(name), call, *args) in (ENOSYS, RET_KILL_PROCESS), (name, call)


@pytest.mark.parametrize("name", ["java", "javac", "go-native", "pypy3"])
@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK, socket.AF_UNIX])
def test_language_runtimes_open_no_socket(name, family):
    assert evaluate(_filter(name), "socket", family, socket.SOCK_STREAM, 0) in (ENOSYS, RET_KILL_PROCESS)
    assert load_profile(name).net == "none"


def test_the_jvm_gets_a_unix_socketpair_and_no_other():
    # java.nio's FileDispatcherImpl makes one at class init (Files.*, the source launcher).
    for name in ("java", "javac"):
        assert evaluate(_filter(name), "socketpair", socket.AF_UNIX, socket.SOCK_STREAM, 0, 0) == RET_ALLOW
        assert evaluate(_filter(name), "socketpair", socket.AF_INET, socket.SOCK_STREAM, 0, 0) == ENOSYS
        assert evaluate(_filter(name), "socketpair", (1 << 32) | socket.AF_INET, socket.SOCK_STREAM, 0, 0) == ENOSYS
        assert evaluate(_filter(name), "connect") == ENOSYS


def test_java_runs_with_flags_that_fit_its_address_space_limit():
    # Measured (README): OpenJDK 17 with these flags starts at 691M of address space; without them 1.5G.
    profile = load_profile("java")
    for flag in ("-XX:+UseSerialGC", "-XX:CICompilerCount=2", "-XX:ReservedCodeCacheSize=32m",
                 "-XX:CompressedClassSpaceSize=16m", "-XX:MaxMetaspaceSize=64m", "-Xmx256m", "-Xss16m"):
        assert flag in profile.command
    assert profile.command[0] == "java" and profile.command[-1] == "{script}"
    assert (profile.limits.memory, profile.limits.pids, profile.limits.cpu_time) == (1024 * M, 32, 5.0)
    assert dict(profile.env)["MALLOC_ARENA_MAX"] == "1"
    assert "proc" in {m.kind for m in profile.mounts}   # $ORIGIN: the launcher finds libjli.so by /proc/self/exe


def test_javac_is_java_that_may_write_its_class_files():
    javac = load_profile("javac")
    assert javac.command[0] == "javac" and "-J-Xmx512m" in javac.command
    assert evaluate(_filter("javac"), "openat", AT_FDCWD, 0, os.O_WRONLY | os.O_CREAT | os.O_TRUNC) == RET_ALLOW
    assert evaluate(_filter("java"), "unlink") == ENOSYS   # the run profile writes nothing
    assert javac.limits.memory >= 1024 * M


@pytest.mark.parametrize("name", ["go", "rust"])
def test_go_and_rust_compile_with_threads_and_passes_but_no_network(name):
    for call, args in (("clone", (THREAD_FLAGS,)), ("clone", (FORK_FLAGS,)), ("wait4", ()), ("execve", ()),
                       ("openat", (AT_FDCWD, 0, os.O_WRONLY | os.O_CREAT | os.O_TRUNC))):
        assert evaluate(_filter(name), call, *args) == RET_ALLOW, call
    for call, args in (("socket", (socket.AF_INET, socket.SOCK_STREAM, 0)), ("clone", (FORK_FLAGS | CLONE_NEWUSER,)),
                       ("prctl", ()), ("kill", ()), ("ptrace", ())):
        assert evaluate(_filter(name), call, *args) == ENOSYS, call
    assert load_profile(name).net == "none"


def test_go_builds_offline_to_a_static_binary():
    env = dict(load_profile("go").env)
    assert (env["GOPROXY"], env["CGO_ENABLED"], env["GOCACHE"]) == ("off", "0", "/tmp/go-cache")


@pytest.mark.parametrize("call, args", [
    ("fork", ()), ("vfork", ()), ("clone", (FORK_FLAGS,)), ("socket", (socket.AF_INET, socket.SOCK_STREAM, 0)),
    ("socketpair", (socket.AF_UNIX, socket.SOCK_STREAM, 0, 0)),
    ("openat", (AT_FDCWD, 0, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)), ("creat", (0, 0o644)),
])
def test_go_native_kills_what_native_kills(call, args):
    assert evaluate(_filter("go-native"), call, *args) == RET_KILL_PROCESS


def test_go_native_is_native_with_the_go_runtimes_threads_and_address_space():
    go, native = load_profile("go-native"), load_profile("native")
    assert go.mounts == native.mounts and go.command == native.command
    assert (go.limits.memory, go.limits.pids) == (1024 * M, 16)   # Go 1.19 reserves ~700M at start
    assert dict(go.env)["GOMAXPROCS"] == "1"
    assert evaluate(_filter("go-native"), "clone", THREAD_FLAGS) == RET_ALLOW
    for call in ("epoll_create1", "epoll_ctl", "epoll_pwait", "pipe2"):   # the runtime's poller
        assert evaluate(_filter("go-native"), call) == RET_ALLOW


def test_pypy3_is_a_judge_profile_not_py3():
    pypy = load_profile("pypy3")
    assert pypy.command == ("pypy3", "{script}")
    assert evaluate(_filter("pypy3"), "openat", AT_FDCWD, 0, os.O_RDONLY) == RET_ALLOW
    assert evaluate(_filter("pypy3"), "unlink") == ENOSYS
