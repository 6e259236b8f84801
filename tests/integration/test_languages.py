"""The judge languages for real: Java (javac, java), Go (go, go-native), Rust (rust, native), PyPy 3 (pypy3).

Each is compiled in its compile profile and run in its run profile through the API, as a judge does it
(test_judge_example.py runs each language's accepted, slow and crashing solution end to end).  Here:
what the README says of each under an address-space limit (no cgroup in this tier), measured, and what
each run profile stops.  Without a cgroup `memory` is RLIMIT_AS, which a JVM or Go's runtime needs far
more of than it uses.
"""
from __future__ import annotations

import signal
import textwrap
from pathlib import Path

import pytest
from boxrun import run_json, sandbox

from sandbox import Sandbox, load_profile

ALLOCATE_JAVA = (Path(__file__).resolve().parents[1] / "programs" / "Allocate.java").read_text()

THREADS_JAVA = """\
public class Main {
    public static void main(String[] args) throws Exception {
        long[] sums = new long[8];
        Thread[] threads = new Thread[8];
        for (int t = 0; t < 8; t++) {
            final int k = t;
            threads[t] = new Thread(() -> { for (int i = 0; i < 1000; i++) sums[k] += i; });
            threads[t].start();
        }
        long total = 0;
        for (int t = 0; t < 8; t++) { threads[t].join(); total += sums[t]; }
        System.out.println("threads " + total);
        try { new ProcessBuilder("sh", "-c", "echo escaped").start(); System.out.println("spawned"); }
        catch (java.io.IOException e) { System.out.println("spawn refused"); }
    }
}
"""

RECURSE_JAVA = """\
public class Main {
    static int depth(int n) { return n == 0 ? 0 : 1 + depth(n - 1); }
    public static void main(String[] args) throws Exception {
        int n = Integer.parseInt(args[0]);
        if (args.length > 1) {  // the judges' trick: a thread of its own with a 64M stack
            Thread big = new Thread(null, () -> System.out.println(depth(n)), "deep", 1 << 26);
            big.start();
            big.join();
        } else {
            System.out.println(depth(n));
        }
    }
}
"""

GOROUTINES_GO = """\
package main

import (
	"fmt"
	"sync"
)

func main() {
	var wg sync.WaitGroup
	sums := make([]int, 100)
	for g := 0; g < 100; g++ {
		wg.Add(1)
		go func(k int) { defer wg.Done(); for i := 0; i < 1000; i++ { sums[k] += i } }(g)
	}
	wg.Wait()
	total := 0
	for _, s := range sums { total += s }
	fmt.Println("goroutines", total)
}
"""

EXEC_GO = """\
package main

import (
	"fmt"
	"os/exec"
)

func main() {
	fmt.Println("try")
	out, err := exec.Command("/bin/sh", "-c", "echo escaped").Output()
	fmt.Println(string(out), err)
}
"""


def _java_class(source: str) -> bytes:
    with Sandbox("javac") as box:
        result = box.run([*load_profile("javac").command[:-1], "Main.java"], files={"Main.java": source},
                         collect=["Main.class"])
    assert (result.verdict.value, result.stderr) == ("OK", b""), result.stderr
    return result.files["Main.class"]


def _java(main_class: bytes, *args: str, **limits: object):
    with Sandbox("java") as box:
        return box.run([*load_profile("java").command[:-1], "Main", *args],
                       files={"Main.class": main_class}, **limits)


def _go_binary(source: str) -> bytes:
    with Sandbox("go") as box:
        result = box.run(["go", "build", "-o", "main", "main.go"], files={"main.go": source}, collect=["main"])
    assert (result.verdict.value, result.stderr) == ("OK", b""), result.stderr
    assert result.files["main"].startswith(b"\x7fELF")
    return result.files["main"]


def _go_native(binary: bytes, **limits: object):
    with Sandbox("go-native") as box:
        return box.run(["./main"], files={"main": (binary, 0o755)}, **limits)


# --- java ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def allocate() -> bytes:
    return _java_class(ALLOCATE_JAVA)


def test_the_jvm_uses_its_heap_under_the_profiles_address_space_limit(allocate):
    result = _java(allocate, "200")  # 200M of a 256M heap, under RLIMIT_AS 1G
    assert (result.verdict.value, result.stdout, result.stderr) == ("OK", b"allocated 200\n", b""), result.stderr
    assert result.limits["memory"] == 1 << 30


def test_a_program_past_the_jvms_heap_is_re_by_out_of_memory_error(allocate):
    # No cgroup: no MLE.  The heap (-Xmx256m) runs out inside the address-space limit, and the JVM
    # says so: an uncaught OutOfMemoryError, exit 1.  RE is the honest verdict.
    result = _java(allocate, "400")
    assert (result.verdict.value, result.exit_code, result.limit) == ("RE", 1, None)
    assert b"java.lang.OutOfMemoryError: Java heap space" in result.stderr and result.stdout == b""


def test_the_jvm_does_not_start_under_a_judges_256m_of_address_space(allocate):
    # What the README says: lib/modules alone maps 122M, metaspace reserves 64M; 281M is the least
    # it ever starts in.  The JVM says so on stdout and exits 1.
    result = _java(allocate, "1", memory="256M")
    assert (result.verdict.value, result.exit_code) == ("RE", 1)
    assert b"Error occurred during initialization of VM" in result.stdout + result.stderr


def test_java_threads_run_and_a_child_process_is_refused():
    result = _java(_java_class(THREADS_JAVA))
    assert (result.verdict.value, result.stdout) == ("OK", b"threads 3996000\nspawn refused\n"), result.stderr


def test_java_recursion_gets_its_16m_thread_stack():
    recurse = _java_class(RECURSE_JAVA)
    result = _java(recurse, "100000")
    assert (result.verdict.value, result.stdout) == ("OK", b"100000\n"), result.stderr
    result = _java(recurse, "10000000")
    assert (result.verdict.value, result.exit_code) == ("RE", 1)
    assert b"java.lang.StackOverflowError" in result.stderr
    result = _java(recurse, "1000000", "thread")  # a 64M thread fits in the profile's 1G
    assert (result.verdict.value, result.stdout) == ("OK", b"1000000\n"), result.stderr


def test_java_runs_a_source_file_from_the_cli(tmp_path: Path):
    # Java's source launcher compiles in memory: java.nio reads the file (the @local-socketpair group).
    program = tmp_path / "Sum.java"
    program.write_text("public class Sum { public static void main(String[] a) {\n"
                       "  java.util.Scanner s = new java.util.Scanner(System.in);\n"
                       "  System.out.println(s.nextLong() + s.nextLong()); } }\n")
    result, completed = run_json("--profile", "java", str(program), input=b"40 2\n", timeout=60)
    assert (result["verdict"], result["stdout"], result["stderr"]) == ("OK", "42\n", ""), result["stderr"]


def test_javac_compiles_into_a_writable_workdir_and_reports_errors(tmp_path: Path):
    (tmp_path / "Main.java").write_text("public class Main { public static void main(String[] a) { int x = ; } }\n")
    completed = sandbox("run", "--profile", "javac", "--bind-rw", f"{tmp_path}:/work", str(tmp_path / "Main.java"),
                        timeout=60)
    assert completed.returncode == 1 and b"error: illegal start of expression" in completed.stderr
    assert not (tmp_path / "Main.class").exists()
    (tmp_path / "Main.java").write_text("public class Main { public static void main(String[] a) { } }\n")
    completed = sandbox("run", "--profile", "javac", "--bind-rw", f"{tmp_path}:/work", str(tmp_path / "Main.java"),
                        timeout=60)
    assert (completed.returncode, completed.stderr) == (0, b"")
    assert (tmp_path / "Main.class").read_bytes().startswith(b"\xca\xfe\xba\xbe")


# --- go -----------------------------------------------------------------------------------------------


def test_go_builds_offline_and_goroutines_run_in_go_native():
    result = _go_native(_go_binary(GOROUTINES_GO))
    assert (result.verdict.value, result.stdout, result.stderr) == ("OK", b"goroutines 49950000\n", b"")


def test_go_needs_about_700m_of_address_space_to_start():
    binary = _go_binary(GOROUTINES_GO)
    result = _go_native(binary, memory="512M")
    assert (result.verdict.value, result.exit_code) == ("RE", 2)
    assert b"failed to reserve page summary memory" in result.stderr
    assert _go_native(binary, memory="768M").verdict.value == "OK"


def test_a_go_program_starting_a_process_is_killed_as_in_native():
    # os/exec makes its pipes (the runtime's poller starts: allowed), then clone: killed.
    result = _go_native(_go_binary(EXEC_GO))
    assert (result.verdict.value, result.signal) == ("SV", signal.SIGSYS)
    assert result.stdout == b"try\n"


def test_a_go_import_from_the_network_fails_to_build():
    source = 'package main\nimport "example.com/nothing"\nfunc main() { nothing.Do() }\n'
    with Sandbox("go") as box:
        result = box.run(["go", "build", "-o", "main", "main.go"], files={"main.go": source}, collect=["main"])
    assert (result.verdict.value, result.files) == ("RE", {})
    assert b"example.com/nothing" in result.stderr


# --- rust ---------------------------------------------------------------------------------------------


def test_rust_compiles_and_its_binary_runs_in_native():
    source = 'fn main() { let v: Vec<u64> = (1..=10).collect(); println!("{}", v.iter().sum::<u64>()); }\n'
    with Sandbox("rust") as box:
        built = box.run(["rustc", "-O", "-o", "main", "main.rs"], files={"main.rs": source}, collect=["main"])
    assert (built.verdict.value, built.stderr) == ("OK", b""), built.stderr
    with Sandbox("native") as box:
        result = box.run(["./main"], files={"main": (built.files["main"], 0o755)})
    assert (result.verdict.value, result.stdout, result.stderr) == ("OK", b"55\n", b"")


def test_a_rust_compile_error_is_re_with_rustcs_message():
    with Sandbox("rust") as box:
        result = box.run(["rustc", "-O", "-o", "main", "main.rs"], collect=["main"],
                         files={"main.rs": "fn main() { let x: u8 = 300; }\n"})
    assert (result.verdict.value, result.exit_code, result.files) == ("RE", 1, {})
    assert b"error: literal out of range for `u8`" in result.stderr


# --- pypy3 --------------------------------------------------------------------------------------------


def test_pypy3_runs_a_solution_and_refuses_a_process(tmp_path: Path):
    program = tmp_path / "sol.py"
    program.write_text(textwrap.dedent("""\
        import os, sys
        a, b = map(int, sys.stdin.read().split())
        print(a + b, sys.implementation.name)
        try:
            os.system("echo escaped")
        except OSError as e:
            print("system", e.errno)
        """))
    result, _ = run_json("--profile", "pypy3", str(program), input=b"40 2\n")
    assert (result["verdict"], result["stderr"]) == ("OK", ""), result["stderr"]
    assert result["stdout"].splitlines()[0] == "42 pypy"
    assert "escaped" not in result["stdout"]


def test_pypy3_past_its_memory_is_re_by_memory_error(tmp_path: Path):
    program = tmp_path / "hog.py"
    program.write_text("blocks = [bytearray(1 << 20) for _ in range(1000)]\nprint(len(blocks))\n")
    result, _ = run_json("--profile", "pypy3", "--memory", "256M", str(program))
    assert (result["verdict"], result["stdout"]) == ("RE", "")
    assert "MemoryError" in result["stderr"] or result["signal"] == signal.SIGABRT, result["stderr"]
