"""The judge profiles for real: compile in `c`/`cpp`, run the binary in `native`; `node`.

Sources go in and binaries come out through the API's files= and collect=, as a judge does it;
the CLI is used where a person would use it.  What `native` stops is asserted exactly: the
verdict, the signal, and what the program managed to print before.
"""
from __future__ import annotations

import signal
import textwrap
from pathlib import Path

import pytest
from boxrun import run_json, sandbox

from sandbox import Sandbox

SUM_C = """\
#include <stdio.h>
int main(void) { long a, b; if (scanf("%ld %ld", &a, &b) != 2) return 3; printf("%ld\\n", a + b); return 0; }
"""

SORT_CPP = """\
#include <algorithm>
#include <iostream>
#include <vector>
int main() {
    int n; std::cin >> n;
    std::vector<long> v(n);
    for (auto &x : v) std::cin >> x;
    std::sort(v.begin(), v.end());
    for (auto x : v) std::cout << x << ' ';
    std::cout << std::endl;
}
"""

# One program, one attempt per argument; it prints what it tries, then what happened.
PROBE_C = """\
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
static void *nothing(void *arg) { return arg; }
int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    printf("try %s\\n", what);
    fflush(stdout);
    if (!strcmp(what, "fork")) { pid_t pid = fork(); printf("fork %d %d\\n", pid, errno); }
    if (!strcmp(what, "system")) { printf("system %d\\n", system("echo hi")); }
    if (!strcmp(what, "thread")) {
        pthread_attr_t attr; pthread_t thread;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 1 << 16);  /* small: the clone is reached, not refused by mmap */
        printf("thread %d\\n", pthread_create(&thread, &attr, nothing, 0));
    }
    if (!strcmp(what, "socket")) { printf("socket %d %d\\n", socket(AF_INET, SOCK_STREAM, 0), errno); }
    if (!strcmp(what, "write")) { printf("open %d %d\\n", open("out.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644), errno); }
    if (!strcmp(what, "read")) { printf("read-open %d\\n", open("/etc/ld.so.cache", O_RDONLY) >= 0); }
    if (!strcmp(what, "shell")) { execl("/bin/sh", "sh", "-c", "echo escaped", (char *)0); printf("execl %d\\n", errno); }
    if (!strcmp(what, "again")) { execl("/work/probe", "probe", "fork", (char *)0); printf("execl %d\\n", errno); }
    return 0;
}
"""


def _compile(profile: str, source_name: str, source: str, *flags: str) -> bytes:
    compiler = "gcc" if profile == "c" else "g++"
    with Sandbox(profile) as box:
        result = box.run([compiler, "-O2", *flags, "-o", "main", source_name], files={source_name: source},
                         collect=["main"])
    assert (result.verdict.value, result.stderr) == ("OK", b""), result.message
    return result.files["main"]


def _run_native(binary: bytes, *args: str, stdin: bytes = b"", name: str = "main", **limits: object):
    with Sandbox("native") as box:
        return box.run([f"./{name}", *args], files={name: (binary, 0o755)}, stdin=stdin, collect=["out.txt"],
                       **limits)


@pytest.fixture(scope="module")
def probe() -> bytes:
    return _compile("c", "probe.c", PROBE_C, "-pthread")


# --- compile, then run ------------------------------------------------------------------------------


def test_c_compiles_in_the_box_and_runs_in_native():
    binary = _compile("c", "main.c", SUM_C)
    assert binary.startswith(b"\x7fELF")
    result = _run_native(binary, stdin=b"40 2\n")
    assert (result.verdict.value, result.exit_code, result.stdout, result.stderr) == ("OK", 0, b"42\n", b"")


@pytest.mark.parametrize("flags", [(), ("-static",)], ids=["dynamic", "static"])
def test_cpp_with_iostream_vector_and_sort_runs_in_native(flags):
    binary = _compile("cpp", "main.cpp", SORT_CPP, *flags)
    result = _run_native(binary, stdin=b"6\n5 -3 1 4 1 9\n")
    assert (result.verdict.value, result.exit_code, result.stdout) == ("OK", 0, b"-3 1 1 4 5 9 \n")


def test_a_compile_error_is_re_with_the_compilers_message_and_no_binary():
    with Sandbox("c") as box:
        result = box.run(["gcc", "-O2", "-o", "main", "main.c"], files={"main.c": "int main(void) { return nope; }\n"},
                         collect=["main"])
    assert (result.verdict.value, result.exit_code, result.files) == ("RE", 1, {})
    assert b"main.c:1:25: error:" in result.stderr and b"nope" in result.stderr


def test_a_compile_with_one_process_fails_cleanly():
    # gcc cannot start cc1 (RLIMIT_NPROC); it retries its vfork for 15 s, then gives up: no hang.
    with Sandbox("c") as box:
        result = box.run(["gcc", "-o", "main", "main.c"], files={"main.c": SUM_C}, collect=["main"], pids=1)
    assert (result.verdict.value, result.exit_code, result.limit, result.files) == ("RE", 1, None, {})
    assert b"cannot execute" in result.stderr and b"vfork: Resource temporarily unavailable" in result.stderr


def test_deep_recursion_gets_the_stack_native_promises():
    source = textwrap.dedent("""\
        #include <stdio.h>
        static long depth(long n) { volatile char frame[64]; frame[0] = 1; return n ? depth(n - 1) + frame[0] : 0; }
        int main(void) { printf("%ld\\n", depth(1000000)); return 0; }
        """)
    binary = _compile("c", "main.c", source, "-O0")
    result = _run_native(binary)  # ~100 MiB of stack: less than native's 256M
    assert (result.verdict.value, result.stdout) == ("OK", b"1000000\n")
    result = _run_native(binary, stack="8M")  # the usual 8M is not enough
    assert (result.verdict.value, result.signal, result.stdout) == ("RE", signal.SIGSEGV, b"")


# --- what native stops ------------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", ["fork", "system", "socket", "write"])
def test_native_kills_a_new_process_a_socket_or_a_file_write(probe, attempt):
    result = _run_native(probe, attempt, name="probe")
    assert (result.verdict.value, result.signal, result.exit_code) == ("SV", signal.SIGSYS, None)
    assert result.stdout == f"try {attempt}\n".encode()  # nothing after the attempt
    assert result.files == {}  # out.txt was never made


def test_native_refuses_a_thread_with_eagain_and_the_program_goes_on(probe):
    # As under a process limit (isolate --processes=1): pthread_create fails, nothing is killed.
    result = _run_native(probe, "thread", name="probe")
    assert (result.verdict.value, result.stdout) == ("OK", b"try thread\nthread 11\n")  # EAGAIN


@pytest.mark.parametrize("memory", ["256M", "1G"])  # the thread's stack fits under RLIMIT_AS or not
def test_std_thread_in_native_is_re_by_sigabrt_whatever_the_memory_limit(memory):
    source = "#include <thread>\nint main() { std::thread([] {}).join(); }\n"
    binary = _compile("cpp", "main.cpp", source, "-pthread")
    result = _run_native(binary, memory=memory)
    assert (result.verdict.value, result.signal, result.exit_code) == ("RE", signal.SIGABRT, None)
    assert b"std::system_error" in result.stderr and b"Resource temporarily unavailable" in result.stderr


def test_native_reads_files_read_only(probe):
    result = _run_native(probe, "read", name="probe")
    assert (result.verdict.value, result.stdout) == ("OK", b"try read\nread-open 1\n")


def test_native_has_no_shell_to_exec(probe):
    result = _run_native(probe, "shell", name="probe")
    assert (result.verdict.value, result.stdout) == ("OK", b"try shell\nexecl 2\n")  # ENOENT: no /bin in the box


def test_an_exec_keeps_natives_filter(probe):
    # The program may exec what is in the box (itself); the new image is held by the same filter.
    result = _run_native(probe, "again", name="probe")
    assert (result.verdict.value, result.signal) == ("SV", signal.SIGSYS)
    assert result.stdout == b"try again\ntry fork\n"


# --- the CLI ----------------------------------------------------------------------------------------


def test_the_cli_compiles_into_a_writable_workdir_and_runs_the_binary(tmp_path: Path):
    (tmp_path / "main.cpp").write_text(SORT_CPP)
    completed = sandbox("run", "--profile", "cpp", "--bind-rw", f"{tmp_path}:/work", str(tmp_path / "main.cpp"))
    assert (completed.returncode, completed.stderr) == (0, b"")
    assert (tmp_path / "main").read_bytes().startswith(b"\x7fELF")
    result, completed = run_json("--profile", "native", str(tmp_path / "main"), input=b"3\n3 2 1\n")
    assert (result["verdict"], result["stdout"], completed.returncode) == ("OK", "1 2 3 \n", 0)


def test_the_c_profile_compiles_a_script_given_alone(tmp_path: Path):
    (tmp_path / "main.c").write_text("int main(void) { return 0 }\n")
    completed = sandbox("run", "--profile", "c", str(tmp_path / "main.c"))  # compiled in a throwaway /work
    assert completed.returncode == 1 and b"error: expected" in completed.stderr


# --- node -------------------------------------------------------------------------------------------


def test_node_runs_a_solution(tmp_path: Path):
    program = tmp_path / "sol.js"
    program.write_text("const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\n"
                       "console.log(a + b);\n")
    result, _ = run_json("--profile", "node", str(program), input=b"40 2\n")
    assert (result["verdict"], result["stdout"], result["stderr"]) == ("OK", "42\n", "")


def test_node_has_worker_threads_but_no_child_processes(tmp_path: Path):
    program = tmp_path / "threads.js"
    program.write_text(textwrap.dedent("""\
        const { Worker } = require('worker_threads');
        try { require('child_process').execSync('echo escaped'); console.log('spawned'); }
        catch (e) { console.log('spawn', e.code); }
        new Worker('require("worker_threads").parentPort.postMessage(6 * 7)', { eval: true })
            .on('message', m => console.log('worker', m));
        """))
    result, _ = run_json("--profile", "node", str(program))
    assert (result["verdict"], result["stdout"]) == ("OK", "spawn ENOSYS\nworker 42\n")
