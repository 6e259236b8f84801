"""The judge and CI workflows on Debian 12's own kernel, with a delegated cgroup v2 subtree.

The host tiers run on the development machine's kernel; these runs show the same workflows
on the kernel Debian 12 users have (rootless overlayfs included) and with whole-box cgroup
numbers, which measure the program alone.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
MiB = 1 << 20


def test_the_ci_profile_keeps_the_host_project_unchanged_on_the_debian_kernel(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(ROOT / "examples" / "ci_project", project)
    before = sorted(p.name for p in project.rglob("*"))
    completed = subprocess.run(
        [sys.executable, "-m", "sandbox", "run", "--profile", "ci", "--workdir", str(project), "--bind", sys.prefix,
         "--env", "ESCAPE_ADDRESS=127.0.0.1:9", "--", os.path.join(sys.prefix, "bin", "python"), "-m", "pytest", "-q",
         "-p", "no:cacheprovider"],
        capture_output=True, timeout=300,
    )
    output = completed.stdout.decode()
    assert completed.returncode == 1 and "2 failed, 2 passed" in output, output + completed.stderr.decode()
    assert sorted(p.name for p in project.rglob("*")) == before  # build/report.txt went to the throwaway layer


@pytest.mark.timeout(600)
def test_a_compiled_solution_is_measured_alone_by_its_cgroup():
    source = "#include <stdio.h>\nint main(void) { long long a, b; scanf(\"%lld %lld\", &a, &b); printf(\"%lld\\n\", a + b); }\n"
    # The c profile's 20 s of wall time are a judge's on real hardware: gcc under TCG (10-50x slower) on a loaded
    # CI machine once took longer.  This test is about the cgroup's numbers, not the compiler's speed.
    with Sandbox("c", cpu_time="200s", wall_time="400s") as compiler:
        built = compiler.run(["gcc", "-O2", "-o", "main", "main.c"], files={"main.c": source}, collect=["main"])
    assert built.verdict.value == "OK", built.stderr
    assert built.enforced_by["pids"] == "cgroup pids.max" and built.pids_peak >= 2  # gcc and its passes
    with Sandbox("native", memory="64M") as runner:
        result = runner.run(["./main"], files={"main": (built.files["main"], 0o755)}, stdin=b"40 2\n")
    assert (result.verdict.value, result.stdout) == ("OK", b"42\n")
    # memory.peak counts the program, not the sandbox's Python helper (ru_maxrss would say ~12 MiB)
    assert 0 < result.memory_peak < 4 * MiB
