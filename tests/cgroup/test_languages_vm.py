"""The JVM and Go's runtime under a real memory.max (issue 18): with a cgroup the limit is memory used,
not address space, so they start in limits far below what RLIMIT_AS needs (README: Judge languages), and
a program that really uses more than the limit is MLE, not the JVM's own OutOfMemoryError."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vmbox import run_json, sandbox

from sandbox import load_profile

ALLOCATE_JAVA = (Path(__file__).resolve().parents[1] / "programs" / "Allocate.java").read_text()

# Builds in the emulated VM take minutes, not the tier's usual 60 s a test.
pytestmark = pytest.mark.timeout(900)

GO_SUM = 'package main\nimport "fmt"\nfunc main() { var a, b int; fmt.Scan(&a, &b); fmt.Println(a + b) }\n'


def _build(tmp_path: Path, profile: str, name: str, source: str) -> None:
    (tmp_path / name).write_text(source)
    # The VM emulates its CPU (no KVM): a build takes tens of times its CPU time on the host, and with a
    # cgroup cpu_time counts every thread of the box (the go command's, the JIT's).
    completed = sandbox("run", "--profile", profile, "--cpu-time", "400s", "--wall-time", "500s",
                        "--bind-rw", f"{tmp_path}:/work", str(tmp_path / name), timeout=600)
    assert (completed.returncode, completed.stderr) == (0, b""), completed.stderr


def _java(tmp_path: Path, memory: str, megabytes: int) -> dict:
    return run_json("--profile", "java", "--memory", memory, "--cpu-time", "60s", "--wall-time", "120s",
                    "--bind", f"{tmp_path}:/work", "--", *load_profile("java").command[:-1], "Main", str(megabytes),
                    timeout=300)


def test_the_jvm_runs_under_a_memory_max_that_rlimit_as_could_never_give(tmp_path):
    _build(tmp_path, "javac", "Main.java", ALLOCATE_JAVA)
    result = _java(tmp_path, "128M", 16)  # under RLIMIT_AS the JVM needs 691M to start (test_languages.py)
    assert (result["verdict"], result["stdout"]) == ("OK", "allocated 16\n"), result["stderr"]
    assert result["enforced_by"]["memory"] == "cgroup memory.max (swap off)"
    assert result["memory_peak"] < 128 << 20


def test_a_java_program_past_memory_max_is_mle(tmp_path):
    # -Xmx256m lets the heap grow past the box's 128M: the cgroup's OOM killer ends it, verdict MLE.
    _build(tmp_path, "javac", "Main.java", ALLOCATE_JAVA)
    result = _java(tmp_path, "128M", 200)
    assert (result["verdict"], result["limit"], result["oom_killed"]) == ("MLE", "memory", True), result["stderr"]
    assert result["stdout"] == ""


def test_a_go_binary_runs_under_a_memory_max_below_its_reservations(tmp_path):
    _build(tmp_path, "go", "main.go", GO_SUM)  # under RLIMIT_AS Go's runtime needs 696M to start
    completed = sandbox("run", "--json", "--profile", "go-native", "--memory", "64M", "--wall-time", "60s",
                        str(tmp_path / "main"), input=b"40 2\n", timeout=120)
    result = json.loads(completed.stdout)
    assert (result["verdict"], result["stdout"]) == ("OK", "42\n"), result["stderr"]
