"""Benchmark: bare, bubblewrap, and our sandbox (CLI and Python API), side by side in one process.

Not a test: nothing here asserts on time.  It measures what issue 5 sets targets for and
prints them as a Markdown report (and writes JSON):

  latency      every variant on `/usr/bin/true` and `python3 hello.py`, interleaved round by
               round in a shuffled order, so drift of the machine (thermal, other load, page
               cache) hits every variant alike; median, p99, overhead over bare, ratio to bwrap
  throughput   runs/s of `true` with 1, 2, 4, 8 concurrent workers for a fixed duration
  memory       supervisor-side PSS per concurrent run while K runs of `sleep` are in flight
  nth run      the cost of the 1st run of a Sandbox vs the Nth (does a run get dearer with age?)

bubblewrap is configured for the isolation our sh/py3 profiles give (user, pid, net, ipc,
uts, cgroup namespaces; read-only /usr; /proc; minimal /dev; tmpfs /tmp; new session;
die with parent) and gets the seccomp filter our own code compiles for the same profile.

Run it as an unprivileged user: ./scripts/bench [--quick] [--rounds N] [--long] [--json PATH]
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the tree this file sits in, staged or checked out

from sandbox import Sandbox  # noqa: E402
from sandbox.plan import seccomp_spec  # noqa: E402
from sandbox.profile import load_profile  # noqa: E402
from sandbox.seccomp import compile_filter  # noqa: E402

HELLO = os.path.join(HERE, "hello.py")
PYTHON = "/usr/bin/python3"  # Debian's, the same interpreter the py3 profile runs in the box
WORKER_COUNTS = (1, 2, 4, 8)
MIB = 1024 * 1024


# ---------------------------------------------------------------------------- workloads

@dataclass(frozen=True)
class Workload:
    """One program, said the way each variant needs it said."""

    name: str
    profile: str                  # the sandbox profile (and the seccomp policy bwrap gets)
    argv: tuple[str, ...]         # for bare and bwrap, and `sandbox run -- ARGV` when no script
    script: Optional[str] = None  # run as `sandbox run --profile P SCRIPT` / run(script=...)
    expected: Optional[bytes] = None  # stdout, checked on every run so a broken box cannot look fast


TRUE = Workload("true", "sh", ("/usr/bin/true",), expected=b"")
HELLO_PY = Workload("python3 hello.py", "py3", (PYTHON, HELLO), script=HELLO, expected=b"hello from the bench\n")


def sleeper(seconds: float) -> Workload:
    """A program that stays in flight long enough for the memory snapshot."""
    return Workload("sleep", "sh", ("/usr/bin/sleep", str(seconds)), expected=b"")


# ----------------------------------------------------------------------------- variants

class RunFailed(RuntimeError):
    """A variant did not run the workload correctly: the bench stops rather than time a failure."""


def _run_process(argv: list[str], workload: Workload, pass_fds: tuple[int, ...] = ()) -> None:
    """Run argv with stdout on a pipe that we read (as a judge would), and check the outcome."""
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          pass_fds=pass_fds)
    if done.returncode != 0 or (workload.expected is not None and done.stdout != workload.expected):
        raise RunFailed(f"{argv[0]} on {workload.name}: exit {done.returncode}, stdout {done.stdout[:200]!r}, "
                        f"stderr {done.stderr[-500:].decode(errors='replace')!r}")


class Bare:
    """The program itself: the floor every sandbox is measured from."""

    name = "bare"

    def run(self, workload: Workload) -> None:
        _run_process(list(workload.argv), workload)


class Bwrap:
    """Debian's bubblewrap with the isolation of our profiles and our own seccomp filter."""

    name = "bwrap"

    def __init__(self, profiles: list[str]) -> None:
        self.binary = shutil.which("bwrap") or "/usr/bin/bwrap"
        self.bpf = {p: compile_filter(seccomp_spec(load_profile(p))) for p in profiles}

    def argv(self, workload: Workload, seccomp_fd: int) -> list[str]:
        """Merged-/usr layout (Debian 12): /bin, /lib, /lib64 are symlinks into /usr."""
        argv = [
            self.binary, "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup", "--die-with-parent", "--new-session",
            "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
            "--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
        ]
        if workload.script:
            argv += ["--ro-bind", workload.script, workload.script]
        return argv + ["--chdir", "/tmp", "--seccomp", str(seccomp_fd), "--", *workload.argv]

    def run(self, workload: Workload) -> None:
        """A fresh memfd per run: bwrap reads the filter to EOF, so one fd cannot serve two runs."""
        fd = os.memfd_create("bench-seccomp", os.MFD_CLOEXEC)
        try:
            os.write(fd, self.bpf[workload.profile])
            os.lseek(fd, 0, os.SEEK_SET)
            _run_process(self.argv(workload, fd), workload, pass_fds=(fd,))
        finally:
            os.close(fd)


class Cli:
    """`sandbox run`: a new supervisor interpreter per run, as a shell script or CI job pays."""

    name = "sandbox-cli"

    def __init__(self) -> None:
        beside = os.path.join(os.path.dirname(sys.executable), "sandbox")
        self.binary = beside if os.access(beside, os.X_OK) else (shutil.which("sandbox") or "sandbox")

    def run(self, workload: Workload) -> None:
        argv = [self.binary, "run", "--profile", workload.profile]
        argv += [workload.script] if workload.script else ["--", *workload.argv]
        _run_process(argv, workload)


class Api:
    """Sandbox(profile).run(): one Sandbox per profile made before timing; fresh namespaces every run."""

    name = "sandbox-api"

    def __init__(self, profiles: list[str]) -> None:
        self.boxes = {p: Sandbox(p) for p in profiles}
        self.enforced_by: dict[str, str] = {}

    def run(self, workload: Workload) -> None:
        box = self.boxes[workload.profile]
        result = box.run(script=workload.script) if workload.script else box.run(list(workload.argv))
        if result.verdict.value != "OK" or (workload.expected is not None and result.stdout != workload.expected):
            raise RunFailed(f"api on {workload.name}: {result.verdict.value} {result.message}; "
                            f"stdout {result.stdout!r} stderr {result.stderr!r}")
        self.enforced_by = result.enforced_by


# ------------------------------------------------------------------------------ helpers

def timed(call: Callable[[], None]) -> float:
    """Wall time of one call, in milliseconds."""
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile (with 30 samples, p99 is the slowest run)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def pss_kib(pid: int) -> Optional[int]:
    """Proportional set size: shared pages (the interpreter, libc) split among their users,
    so summing it over processes does not count a shared page twice."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, comm) for every process we can see."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1: stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        table[int(entry)] = (ppid, comm)
    return table


def descendants(root: int) -> dict[int, str]:
    """pid -> comm of every process below root."""
    table = process_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = {}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found[child] = table[child][1]
            todo.append(child)
    return found


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd")) - 1  # not the one listdir itself holds


def fds_after_gc() -> int:
    """fds held only by reference cycles are freed by a collection: growth that goes away here
    is late release, growth that stays is a leak."""
    gc.collect()
    return open_fds()


# ---------------------------------------------------------------------------- measurements

def measure_latency(variants: list, workloads: list[Workload], rounds: int, warmup: int = 2) -> dict:
    """Each round runs every (workload, variant) once in a fresh shuffled order."""
    pairs = [(w, v) for w in workloads for v in variants]
    samples: dict[tuple[str, str], list[float]] = {(w.name, v.name): [] for w, v in pairs}
    for round_number in range(warmup + rounds):
        random.shuffle(pairs)
        for workload, variant in pairs:
            ms = timed(lambda: variant.run(workload))
            if round_number >= warmup:
                samples[(workload.name, variant.name)].append(ms)
        progress(f"latency round {round_number + 1 - warmup}/{rounds}" if round_number >= warmup else "warm-up")
    return summarise_latency(samples, workloads, variants)


def summarise_latency(samples: dict, workloads: list[Workload], variants: list) -> dict:
    """median/p99 per cell; overhead = median - bare median; ratios against bwrap's numbers."""
    report: dict = {}
    for workload in workloads:
        cells = {}
        for variant in variants:
            values = samples[(workload.name, variant.name)]
            cells[variant.name] = {"median_ms": statistics.median(values), "p99_ms": percentile(values, 99),
                                   "min_ms": min(values), "samples_ms": [round(v, 3) for v in values]}
        bare, bwrap = cells["bare"]["median_ms"], cells["bwrap"]["median_ms"]
        for cell in cells.values():
            cell["overhead_ms"] = cell["median_ms"] - bare
            cell["ratio_to_bwrap"] = cell["median_ms"] / bwrap
            bwrap_overhead = bwrap - bare
            cell["overhead_ratio_to_bwrap"] = cell["overhead_ms"] / bwrap_overhead if bwrap_overhead > 0 else None
        report[workload.name] = cells
    return report


def measure_throughput(variants: list, workload: Workload, duration: float) -> dict:
    """runs/s with N concurrent workers, each running back to back until the deadline.

    Workers are threads of this process: for the API they are the supervisors themselves;
    for the others each thread waits on its own subprocess, so N programs are in flight."""
    report: dict = {v.name: {} for v in variants}
    for workers in WORKER_COUNTS:
        for variant in random.sample(variants, len(variants)):
            report[variant.name][str(workers)] = runs_per_second(variant, workload, workers, duration)
            progress(f"throughput {variant.name} x{workers}: {report[variant.name][str(workers)]:.1f} runs/s")
    return report


def runs_per_second(variant, workload: Workload, workers: int, duration: float) -> float:
    start = time.perf_counter()
    deadline = start + duration

    def worker() -> int:
        count = 0
        while time.perf_counter() < deadline:
            variant.run(workload)
            count += 1
        return count

    with ThreadPoolExecutor(workers) as pool:
        total = sum(f.result() for f in [pool.submit(worker) for _ in range(workers)])
    return total / (time.perf_counter() - start)


def measure_memory(variants: list, concurrent: int, seconds: float) -> dict:
    """Supervisor-side PSS per run while `concurrent` sleeps are in flight.

    Counted: every process below this one except the workload (`sleep`) itself, i.e. our
    `sandbox` CLI process, the proxy and the box's init (all of which exist only to run the
    box), or both bwrap processes (monitor and the box's PID 1); plus the change of this
    process's own PSS over a baseline taken with the worker threads already started.  That
    change is the API supervisor's own cost, and for every variant it also carries the shift of
    shared pages: PSS splits a shared page among its users, so helpers running the same
    interpreter as this process lower its PSS, and only the sum says what the runs added."""
    workload = sleeper(seconds)
    report = {}
    for variant in variants:
        if variant.name == "bare":
            continue
        report[variant.name] = memory_snapshot(variant, workload, concurrent)
        progress(f"memory {variant.name}: {report[variant.name]['pss_per_run_kib'] / 1024:.2f} MiB per run")
    return report


def memory_snapshot(variant, workload: Workload, concurrent: int) -> dict:
    gate = threading.Barrier(concurrent + 1)
    errors: list[BaseException] = []

    def worker() -> None:
        gate.wait()
        try:
            variant.run(workload)
        except BaseException as e:  # noqa: BLE001 - reported after the join
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(concurrent)]
    for thread in threads:
        thread.start()
    time.sleep(0.05)
    baseline = pss_kib(os.getpid()) or 0
    gate.wait()
    in_flight, processes = wait_for_sleepers(concurrent, timeout=float(workload.argv[1]) - 0.2)
    helpers = {pid: comm for pid, comm in processes.items() if comm != "sleep"}
    pss = {pid: pss_kib(pid) for pid in helpers}
    growth = (pss_kib(os.getpid()) or 0) - baseline
    for thread in threads:
        thread.join()
    if errors:
        raise RunFailed(f"memory run of {variant.name}: {errors[0]}")
    total = sum(v for v in pss.values() if v) + growth
    by_comm: dict[str, int] = {}
    for pid, comm in helpers.items():
        by_comm[comm] = by_comm.get(comm, 0) + (pss[pid] or 0)
    return {"in_flight": in_flight, "helper_processes": len(helpers),
            "unreadable": sum(1 for v in pss.values() if v is None), "own_growth_kib": growth,
            "pss_by_process_kib": by_comm, "pss_total_kib": total,
            "pss_per_run_kib": total / max(in_flight, 1)}


def wait_for_sleepers(wanted: int, timeout: float) -> tuple[int, dict[int, str]]:
    """Until every run is in its sleep (or the timeout): how many are, and our process tree."""
    deadline = time.monotonic() + timeout
    while True:
        processes = descendants(os.getpid())
        sleeping = sum(1 for comm in processes.values() if comm == "sleep")
        if sleeping >= wanted or time.monotonic() >= deadline:
            return sleeping, processes
        time.sleep(0.02)


def measure_nth_run(runs: int) -> dict:
    """A fresh Sandbox running `true` back to back: is run N as cheap as run 1?  Also whether
    this process's fds or memory grow, which would show a leak long before latency does."""
    box = Sandbox("sh")
    fds_before, pss_before = fds_after_gc(), pss_kib(os.getpid())
    samples = []
    for i in range(runs):
        samples.append(timed(lambda: box.run(["/usr/bin/true"])))
        if (i + 1) % max(1, runs // 10) == 0:
            progress(f"nth run {i + 1}/{runs}")
    window = max(1, min(50, runs // 10))  # medians of windows: single runs are too noisy to compare
    early = statistics.median(samples[1:1 + window])
    late = statistics.median(samples[-window:])
    return {"runs": runs, "window": window, "first_ms": samples[0], "early_median_ms": early,
            "late_median_ms": late, "late_over_early": late / early,
            "fds_before": fds_before, "fds_after": open_fds(), "fds_after_gc": fds_after_gc(),
            "pss_before_kib": pss_before, "pss_after_kib": pss_kib(os.getpid()),
            "samples_ms": [round(s, 3) for s in samples]}


# ------------------------------------------------------------------------------ reporting

def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def host_facts(api: Api, options: argparse.Namespace) -> dict:
    bwrap_version = subprocess.run(["bwrap", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "kernel": platform.release(), "cpus": os.cpu_count(),
        "python": sys.version.split()[0], "bwrap": bwrap_version, "uid": os.getuid(),
        "limits_enforced_by": api.enforced_by, "options": vars(options),
    }


def targets(report: dict) -> list[tuple[str, str, str, bool]]:
    """Issue 5's targets as (what, measured, goal, met)."""
    lat, thr, mem, nth = report["latency"], report["throughput"], report["memory"], report["nth_run"]
    api_true = lat["true"]["sandbox-api"]["overhead_ratio_to_bwrap"]
    api_2 = thr["sandbox-api"]["2"] / thr["bwrap"]["2"]
    cli_hello = lat[HELLO_PY.name]["sandbox-cli"]["ratio_to_bwrap"]
    rows = [
        ("API overhead over bare `true` / bwrap's", f"{api_true:.2f}x", "<= 1.0x", api_true <= 1.0),
        ("API runs/s with 2 workers / bwrap's", f"{api_2:.2f}x", ">= 1.0x", api_2 >= 1.0),
        ("CLI `python3 hello.py` median / bwrap's", f"{cli_hello:.2f}x", "<= 1.3x", cli_hello <= 1.3),
    ]
    for name in ("sandbox-api", "sandbox-cli"):
        mib = mem[name]["pss_per_run_kib"] / 1024
        rows.append((f"{name} supervisor PSS per concurrent run", f"{mib:.2f} MiB", "<= 4 MiB", mib <= 4))
    rows.append((f"API run {nth['runs']} vs runs 2-{1 + nth['window']} (medians)",
                 f"{nth['late_over_early']:.2f}x", "~1.0x (no growth)", nth["late_over_early"] <= 1.1))
    return rows


def markdown(report: dict) -> str:
    lines = [f"## sandbox bench ({report['host']['time']}, {report['host']['cpus']} CPUs, "
             f"kernel {report['host']['kernel']}, {report['host']['bwrap']}, "
             f"{report['host']['options']['rounds']} rounds)", ""]
    lines += ["### Latency (ms)", "",
              "| workload | variant | median | p99 | overhead vs bare | / bwrap (median) | / bwrap (overhead) |",
              "|---|---|--:|--:|--:|--:|--:|"]
    for workload, cells in report["latency"].items():
        for variant, c in cells.items():
            ratio = "-" if c["overhead_ratio_to_bwrap"] is None else f"{c['overhead_ratio_to_bwrap']:.2f}"
            lines.append(f"| {workload} | {variant} | {c['median_ms']:.2f} | {c['p99_ms']:.2f} | "
                         f"{c['overhead_ms']:+.2f} | {c['ratio_to_bwrap']:.2f} | {ratio} |")
    lines += ["", "### Throughput, `true` (runs/s)", "",
              "| variant | " + " | ".join(f"{n} worker{'s' * (n > 1)}" for n in WORKER_COUNTS) + " | 2 workers / bwrap |",
              "|---|" + "--:|" * (len(WORKER_COUNTS) + 1)]
    for variant, by_workers in report["throughput"].items():
        ratio = by_workers["2"] / report["throughput"]["bwrap"]["2"]
        lines.append(f"| {variant} | " + " | ".join(f"{by_workers[str(n)]:.1f}" for n in WORKER_COUNTS)
                     + f" | {ratio:.2f} |")
    lines += ["", f"### Supervisor-side memory, {report['host']['options']['concurrent']} runs of `sleep` in flight", "",
              "| variant | in flight | PSS per run (MiB) | / bwrap | processes counted (PSS MiB by name) |",
              "|---|--:|--:|--:|---|"]
    bwrap_kib = report["memory"]["bwrap"]["pss_per_run_kib"]
    for variant, m in report["memory"].items():
        parts = ", ".join(f"{name} {kib / 1024:.1f}" for name, kib in sorted(m["pss_by_process_kib"].items()))
        if m["own_growth_kib"]:
            parts += f", this process {m['own_growth_kib'] / 1024:+.1f}"
        lines.append(f"| {variant} | {m['in_flight']} | {m['pss_per_run_kib'] / 1024:.2f} | "
                     f"{m['pss_per_run_kib'] / bwrap_kib:.1f} | {m['helper_processes']} processes: {parts} |")
    nth = report["nth_run"]
    lines += ["", f"### 1st vs Nth run (API, `true`, one Sandbox, {nth['runs']} runs)", "",
              "| 1st (ms) | median of runs 2-%d | median of last %d | last / early | fds before -> after (after gc) "
              "| PSS before -> after (MiB) |"
              % (1 + nth["window"], nth["window"]),
              "|--:|--:|--:|--:|--:|--:|",
              f"| {nth['first_ms']:.2f} | {nth['early_median_ms']:.2f} | {nth['late_median_ms']:.2f} | "
              f"{nth['late_over_early']:.2f} | {nth['fds_before']} -> {nth['fds_after']} ({nth['fds_after_gc']}) | "
              f"{(nth['pss_before_kib'] or 0) / 1024:.1f} -> {(nth['pss_after_kib'] or 0) / 1024:.1f} |"]
    lines += ["", "### Issue 5 targets", "", "| target | measured | goal | met |", "|---|--:|--:|---|"]
    for what, measured, goal, met in targets(report):
        lines.append(f"| {what} | {measured} | {goal} | {'yes' if met else 'no'} |")
    enforced = report["host"]["limits_enforced_by"]
    lines += ["", f"Limits in our runs enforced by: {', '.join(f'{k}: {v}' for k, v in sorted(enforced.items()))}."]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------- main

def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, help="latency rounds (default 30; 5 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few rounds, short throughput windows")
    parser.add_argument("--long", action="store_true", help="1st vs 10,000th run")
    parser.add_argument("--json", metavar="PATH", help="write the JSON here (default bench/results/<timestamp>.json)")
    parser.add_argument("--results-dir", default=os.path.join(HERE, "results"), help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    options.rounds = options.rounds or (5 if options.quick else 30)
    options.duration = 0.5 if options.quick else 2.0   # seconds per throughput cell
    options.concurrent = 8                              # runs in flight for the memory snapshot
    options.sleep = 2.0 if options.quick else 3.0       # long enough for 8 CLI runs to get going on 2 CPUs
    options.nth = 10_000 if options.long else (30 if options.quick else 300)
    return options


def main(argv: Optional[list[str]] = None) -> int:
    options = parse_args(argv)
    if not shutil.which("bwrap"):
        progress("bubblewrap is not installed: run ./scripts/bench (it installs it) or apt-get install bubblewrap")
        return 2
    workloads = [TRUE, HELLO_PY]
    api = Api(["sh", "py3"])
    variants = [Bare(), Bwrap(["sh", "py3"]), Cli(), api]
    report: dict = {}
    report["latency"] = measure_latency(variants, workloads, options.rounds)
    report["throughput"] = measure_throughput(variants, TRUE, options.duration)
    report["memory"] = measure_memory(variants, options.concurrent, options.sleep)
    report["nth_run"] = measure_nth_run(options.nth)
    report["host"] = host_facts(api, options)
    print(markdown(report))
    path = options.json or os.path.join(options.results_dir, time.strftime("%Y%m%d-%H%M%S") + ".json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    progress(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
