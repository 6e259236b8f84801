"""Where the time and the CPU of a run go: a profile, not a test.

Run it as the unprivileged user, from the staged tree:
    ./scripts/as-test-user python bench/timeline.py [--runs N]

Four views:
  1. the CLI: how long a bare interpreter, the CLI's imports and a whole
     `sandbox run --profile sh -- /usr/bin/true` take, each in a fresh process
     (median of N), and the CLI's phases and slowest imports;
  2. one API run of `/usr/bin/true` cut into steps: the supervisor's (timed here by
     wrapping its functions) and the box's (each step of the init, as the init
     reports them with the program's exit), median of N;
  3. the CPU a run costs, split between the supervisor, the fork server and the
     box's processes (what bounds throughput on 2 cores).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]

from sandbox import Sandbox, supervisor  # noqa: E402
from stepclock import StepClock  # noqa: E402

SANDBOX = os.path.join(os.path.dirname(sys.executable), "sandbox")
RUN = [SANDBOX, "run", "--profile", "sh", "--", "/usr/bin/true"]
TRUE = ["/usr/bin/true"]


def median_ms(argv: list[str], runs: int) -> float:
    """Median wall time of a command, started fresh each time."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def cli_costs(runs: int) -> dict[str, float]:
    return {
        "python -I -S -c pass (a bare interpreter)": median_ms([sys.executable, "-I", "-S", "-c", "pass"], runs),
        "python -c pass (with site, as the CLI starts)": median_ms([sys.executable, "-c", "pass"], runs),
        "python -c 'import sandbox.cli'": median_ms([sys.executable, "-c", "import sandbox.cli"], runs),
        "whole `sandbox run --profile sh -- /usr/bin/true`": median_ms(RUN, runs),
    }


CLI_PHASES = r"""
import json, time
t = [time.perf_counter()]
import sandbox.cli, sandbox.supervisor
t.append(time.perf_counter())
from sandbox._cache import load_profile  # as the CLI loads it: from the disk cache when warm
profile = load_profile("sh")
t.append(time.perf_counter())
from sandbox.plan import seccomp_spec
sandbox.supervisor.compile_seccomp(seccomp_spec(profile), profile.source)
t.append(time.perf_counter())
names = ["import sandbox.cli + supervisor", "load the profile (disk cache)", "seccomp filter (disk cache)"]
print(json.dumps({n: (b - a) * 1000 for n, a, b in zip(names, t, t[1:])}))
"""


def cli_phases(runs: int) -> dict[str, float]:
    """Each phase timed in a fresh interpreter (as in the CLI); median of runs."""
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", CLI_PHASES], capture_output=True, text=True, check=True)
        for name, ms in json.loads(out.stdout).items():
            samples.setdefault(name, []).append(ms)
    return {name: statistics.median(values) for name, values in samples.items()}


def import_top(argv: list[str], count: int = 8) -> dict[str, float]:
    """The slowest top-level imports (cumulative ms) of a command, from -X importtime."""
    out = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], capture_output=True, text=True)
    top = []
    for line in out.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match and len(match.group(3)) == 1:  # one space: imported directly, not by another module
            top.append((match.group(4), int(match.group(2)) / 1000))
    return dict(sorted(top, key=lambda item: -item[1])[:count])


class ApiSteps(StepClock):
    """The supervisor's phases timed, and the init's step report kept, run by run."""

    PHASES = [("cgroup_subtree", "supervisor: host check (cached)"),
              ("resolve_host_paths", "supervisor: host paths"),
              ("make_plan", "supervisor: plan"),
              ("compile_seccomp", "supervisor: seccomp filter (cached)")]

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[dict[str, float]] = []
        for name, label in self.PHASES:
            self.time(supervisor, name, label)
        self.time(supervisor.BoxStreams, "open", "supervisor: the program's pipes")
        self.time(supervisor, "_launch", "supervisor: plan into a memfd, hand over to an init")
        self.time(supervisor.Watch, "run", "box: from handover to the init's exit (steps below)")
        self.time(supervisor, "_end_init", "supervisor: close")
        self.keep_init_steps("  init: ")

    def run(self, box: Sandbox) -> None:
        self.current = {}
        start = time.perf_counter()
        box.run(TRUE)
        self.current["whole run() (API)"] = (time.perf_counter() - start) * 1000
        self.runs.append(self.current)


def api_steps(runs: int) -> dict[str, float]:
    clock = ApiSteps()
    with Sandbox("sh") as box:
        for _ in range(5):
            box.run(TRUE)  # warm: server started, spare init ready
        for _ in range(runs):
            clock.run(box)
            time.sleep(0.02)  # let the next spare init get ready, as between a judge's submissions
    names = list(clock.runs[-1])
    return {name: statistics.median(run.get(name, 0.0) for run in clock.runs) for name in names}


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """(own user+system, reaped children's user+system) of a process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def cpu_per_run(runs: int) -> dict[str, float]:
    """CPU ms per run of `true`, back to back through one Sandbox."""
    with Sandbox("sh") as box:
        box.run(TRUE)
        server = box._server._server.pid  # type: ignore[union-attr]
        me0, server0 = os.times(), _cpu_seconds(server)
        start = time.perf_counter()
        for _ in range(runs):
            box.run(TRUE)
        wall = time.perf_counter() - start
        me1, server1 = os.times(), _cpu_seconds(server)
    per = 1000 / runs
    return {
        "wall per run, back to back": wall * per,
        "supervisor (this process)": ((me1.user + me1.system) - (me0.user + me0.system)) * per,
        "fork server (clones, handover)": (server1[0] - server0[0]) * per,
        "the box: init, target and /usr/bin/true": (server1[1] - server0[1]) * per,
    }


def table(title: str, rows: dict[str, float]) -> str:
    lines = [f"### {title}", "", "| step | ms |", "|---|--:|"]
    lines += [f"| {name} | {ms:.2f} |" for name, ms in rows.items()]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per measurement (median)")
    options = parser.parse_args()
    print(table("CLI: fresh interpreters (median wall ms)", cli_costs(options.runs)))
    print(table("CLI: phases in one fresh interpreter (median ms)", cli_phases(options.runs)))
    print(table("CLI: slowest top-level imports (cumulative ms, one run)",
                import_top([sys.executable, "-m", "sandbox", *RUN[1:]])))
    print(table("API: one run of /usr/bin/true, step by step (median ms)", api_steps(options.runs)))
    cpu = cpu_per_run(max(options.runs, 100))
    cpu["total CPU"] = sum(v for k, v in cpu.items() if k != "wall per run, back to back")
    print(table("API: CPU per run (ms; 2 cores bound runs/s at 2000 / total)", cpu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
