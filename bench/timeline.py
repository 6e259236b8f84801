"""Where the time of one `sandbox run --profile sh -- /usr/bin/true` goes.

A profile, not a test; run it as the unprivileged user, from the staged tree:
    ./scripts/as-test-user python bench/timeline.py [--runs N]

Three views, because no single tool sees all of it cheaply:
  1. interpreter costs: how long a bare interpreter, the supervisor's imports and the
     child's imports take, each in a fresh process (median of N);
  2. supervisor phases in-process: imports, profile loading (YAML), seccomp compilation;
  3. a syscall timeline of whole runs from strace, tracing only a handful of marker calls
     (execve, vfork, clone, unshare, pivot_root, sethostname, wait4, exit_group) through
     strace's seccomp-bpf filter, so the untraced calls run at full speed and the
     markers cut the run into the supervisor's and the child's steps.
Needs strace for view 3 (apt-get install strace); the others run anywhere.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TREE = os.path.dirname(HERE)
SANDBOX = os.path.join(os.path.dirname(sys.executable), "sandbox")
RUN = [SANDBOX, "run", "--profile", "sh", "--", "/usr/bin/true"]
MARKERS = "execve,vfork,clone,clone3,unshare,pivot_root,sethostname,wait4,exit_group"


def median_ms(argv: list[str], runs: int) -> float:
    """Median wall time of a command, started fresh each time."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def child_import_argv() -> list[str]:
    """What the supervisor's child does before its first step: -I -S plus importing _child."""
    sys.path.insert(0, TREE)
    from sandbox.supervisor import _child_path  # the same path list the supervisor passes

    code = f"import sys; sys.path[:0] = {_child_path()!r}; import sandbox._child"
    return [sys.executable, "-I", "-S", "-c", code]


def interpreter_costs(runs: int) -> dict[str, float]:
    return {
        "python -I -S -c pass (the child's interpreter)": median_ms([sys.executable, "-I", "-S", "-c", "pass"], runs),
        "python -c pass (the CLI's interpreter, with site)": median_ms([sys.executable, "-c", "pass"], runs),
        "python -c 'import sandbox.cli'": median_ms([sys.executable, "-c", "import sandbox.cli"], runs),
        "child: python -I -S + import sandbox._child": median_ms(child_import_argv(), runs),
        "whole `sandbox run --profile sh -- /usr/bin/true`": median_ms(RUN, runs),
    }


SUPERVISOR_PHASES = r"""
import json, time
t = [time.perf_counter()]
import sandbox.cli, sandbox.api
t.append(time.perf_counter())
from sandbox.profile import load_profile
profile = load_profile("sh")
t.append(time.perf_counter())
import pyseccomp
t.append(time.perf_counter())
from sandbox.plan import seccomp_spec
from sandbox.seccomp import compile_filter
compile_filter(seccomp_spec(profile))
t.append(time.perf_counter())
names = ["import sandbox.cli + api", "load_profile('sh') (YAML, validation)",
         "import pyseccomp (ctypes, find_library: ldconfig -p)", "compile the seccomp filter"]
print(json.dumps({n: (b - a) * 1000 for n, a, b in zip(names, t, t[1:])}))
"""


def supervisor_phases(runs: int) -> dict[str, float]:
    """Each phase timed in a fresh interpreter (caches cold, as in the CLI); median of runs."""
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", SUPERVISOR_PHASES], capture_output=True, text=True, check=True)
        for name, ms in json.loads(out.stdout).items():
            samples.setdefault(name, []).append(ms)
    return {name: statistics.median(values) for name, values in samples.items()}


def import_top(argv: list[str], count: int = 8) -> list[tuple[str, float]]:
    """The slowest top-level imports (cumulative ms) of a command, from -X importtime."""
    out = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], capture_output=True, text=True)
    top = []
    for line in out.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match and len(match.group(3)) == 1:  # one space: imported directly, not by another module
            top.append((match.group(4), int(match.group(2)) / 1000))
    return sorted(top, key=lambda item: -item[1])[:count]


LINE = re.compile(r"^(\d+) +(\d+\.\d+) (.*)$")


def trace_once(path: str) -> dict[str, float]:
    """One traced run cut into segments (ms) at the marker syscalls."""
    subprocess.run(["strace", "-f", "-ttt", "-qq", "--seccomp-bpf", "-e", f"trace={MARKERS}", "-e", "signal=none",
                    "-o", path, *RUN], check=True)
    events = []
    with open(path) as f:
        for line in f:
            match = LINE.match(line)
            if match:
                events.append((int(match.group(1)), float(match.group(2)), match.group(3)))
    return segments(events)


def segments(events: list[tuple[int, float, str]]) -> dict[str, float]:
    supervisor = events[0][0]
    ldconfig = {pid for pid, _, text in events if text.startswith('execve("/sbin/ldconfig"')}
    proxy = next(pid for pid, _, text in events if text.startswith("execve(") and "sandbox-init" in text)
    init = next(pid for pid, _, text in events if text.startswith("pivot_root"))
    target = next(pid for pid, _, text in events
                  if text.startswith("execve(") and pid not in (supervisor, proxy, init) and pid not in ldconfig)

    def first(pid: int, prefix: str, suffix: str = "") -> float:
        return next(t for p, t, text in events if p == pid and prefix in text and text.endswith(suffix))

    def last(pid: int, prefix: str, suffix: str = "") -> float:
        return [t for p, t, text in events if p == pid and prefix in text and text.endswith(suffix)][-1]

    marks = [("supervisor: interpreter, imports, profile, plan", first(supervisor, "execve("))]
    if ldconfig:
        marks.append(("pyseccomp's find_library: `ldconfig -p` twice", first(supervisor, "vfork(")))
        marks.append(("supervisor: seccomp compile, spawn the child", max(last(supervisor, "wait4(", f"= {p}")
                                                                           for p in ldconfig)))
    else:
        marks.append(("supervisor: seccomp compile, spawn the child", marks[-1][1]))
    marks += [
        ("child: python -I -S start, import sandbox._child, read plan", first(proxy, "execve(")),
        ("child: user namespace (maps), unshare the rest", first(proxy, "unshare(CLONE_NEWUSER")),
        ("init: build the root (mounts, pivot_root)", first(proxy, "clone(")),
        ("init: hostname, loopback, undumpable, fork the target", first(init, "sethostname(")),
        ("target: rlimits, fds, privileges, seccomp load, execve", first(init, "clone(")),
        ("the program (/usr/bin/true)", first(target, "execve(")),
        ("teardown: init reports, exits; proxy reaped", first(target, "exit_group(")),
        ("supervisor: judge, exit", last(supervisor, "wait4(", f"= {proxy}")),
        ("end", first(supervisor, "exit_group(")),
    ]
    return {name: (marks[i + 1][1] - t) * 1000 for i, (name, t) in enumerate(marks[:-1])}


def timeline(runs: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(RUN, check=True)  # warm the page cache
        for i in range(runs):
            for name, ms in trace_once(os.path.join(tmp, f"{i}.strace")).items():
                samples.setdefault(name, []).append(ms)
    return {name: statistics.median(values) for name, values in samples.items()}


def table(title: str, rows: dict[str, float]) -> str:
    lines = [f"### {title}", "", "| step | ms |", "|---|--:|"]
    lines += [f"| {name} | {ms:.1f} |" for name, ms in rows.items()]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per measurement (median)")
    options = parser.parse_args()
    print(table("Fresh interpreters (median wall ms)", interpreter_costs(options.runs)))
    print(table("Supervisor phases in one fresh interpreter (median ms)", supervisor_phases(options.runs)))
    print(table("Slowest top-level imports of the CLI supervisor (cumulative ms, one run)",
                dict(import_top([sys.executable, SANDBOX, "run", "--profile", "sh", "--", "/usr/bin/true"]))))
    print(table("Slowest top-level imports of the child (cumulative ms, one run)",
                dict(import_top(child_import_argv()))))
    if shutil.which("strace"):
        rows = timeline(options.runs)
        rows["total (traced)"] = sum(rows.values())
        print(table("Timeline of one run from strace markers (median ms; tracing adds a little per marker)", rows))
    else:
        print("strace not installed: no syscall timeline (apt-get install strace)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
