"""Benchmark: bare, bubblewrap, and our sandbox (CLI and Python API), side by side in one process.

Not a test: nothing here asserts on time.  It measures what issue 17 sets targets for and
prints them as a Markdown report, with met/missed (and writes JSON with every sample):

  isolation    before anything is timed, bench/probe.py runs inside every variant but bare
               under every profile timed (sh, py3) and reports its namespaces, seccomp mode,
               no_new_privs, capabilities, pid, network interfaces and writable places; the
               bench stops (exit 3, one line per box and what it lacks) unless all 7 namespaces
               differ from ours, seccomp is a filter, no_new_privs is set and only lo is there
  latency      every variant on `/usr/bin/true` and `python3 hello.py`, interleaved round by
               round in a shuffled order, so drift of the machine (thermal, other load, page
               cache) hits every variant alike; median, p99, overhead over bare, ratio to bwrap
  throughput   runs/s of `true` with 1, 2, 4, 8 concurrent workers for a fixed duration
  cpu          CPU ms per run of `true`, of every process the run costs (bounds runs/s on 2 cores)
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
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
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


def _run_process(argv: list[str], workload: Workload, pass_fds: tuple[int, ...] = ()) -> bytes:
    """Run argv with stdout on a pipe that we read (as a judge would), check the outcome, and
    return stdout (the isolation probe's report)."""
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          pass_fds=pass_fds)
    if done.returncode != 0 or (workload.expected is not None and done.stdout != workload.expected):
        raise RunFailed(f"{argv[0]} on {workload.name}: exit {done.returncode}, stdout {done.stdout[:200]!r}, "
                        f"stderr {done.stderr[-500:].decode(errors='replace')!r}")
    return done.stdout


class Bare:
    """The program itself: the floor every sandbox is measured from."""

    name = "bare"
    in_process = False  # its whole cost is in child processes (see measure_cpu)

    def run(self, workload: Workload) -> bytes:
        return _run_process(list(workload.argv), workload)


class Bwrap:
    """Debian's bubblewrap with the isolation of our profiles and our own seccomp filter."""

    name = "bwrap"
    in_process = False

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

    def run(self, workload: Workload) -> bytes:
        """A fresh memfd per run: bwrap reads the filter to EOF, so one fd cannot serve two runs."""
        fd = os.memfd_create("bench-seccomp", os.MFD_CLOEXEC)
        try:
            os.write(fd, self.bpf[workload.profile])
            os.lseek(fd, 0, os.SEEK_SET)
            return _run_process(self.argv(workload, fd), workload, pass_fds=(fd,))
        finally:
            os.close(fd)


class Cli:
    """`sandbox run`: a new supervisor interpreter per run, as a shell script or CI job pays."""

    name = "sandbox-cli"
    in_process = False

    def __init__(self) -> None:
        beside = os.path.join(os.path.dirname(sys.executable), "sandbox")
        self.binary = beside if os.access(beside, os.X_OK) else (shutil.which("sandbox") or "sandbox")

    def run(self, workload: Workload) -> bytes:
        argv = [self.binary, "run", "--profile", workload.profile]
        argv += [workload.script] if workload.script else ["--", *workload.argv]
        return _run_process(argv, workload)


class Api:
    """Sandbox(profile).run(): one Sandbox per profile made before timing; fresh namespaces every run."""

    name = "sandbox-api"
    in_process = True  # the supervisor is this process; its fork servers and their boxes are children

    def __init__(self, profiles: list[str]) -> None:
        self.boxes = {p: Sandbox(p) for p in profiles}
        self.enforced_by: dict[str, str] = {}

    def run(self, workload: Workload) -> bytes:
        box = self.boxes[workload.profile]
        result = box.run(script=workload.script) if workload.script else box.run(list(workload.argv))
        if result.verdict.value != "OK" or (workload.expected is not None and result.stdout != workload.expected):
            raise RunFailed(f"api on {workload.name}: {result.verdict.value} {result.message}; "
                            f"stdout {result.stdout!r} stderr {result.stderr!r}")
        self.enforced_by = result.enforced_by
        return result.stdout

    def close(self) -> None:
        """Stop the fork servers now (a test checks that nothing of ours is left behind)."""
        for box in self.boxes.values():
            box.close()


# ------------------------------------------------------------------------ isolation probe

PROBE = os.path.join(HERE, "probe.py")
NAMESPACES = ("user", "mnt", "pid", "net", "ipc", "uts", "cgroup")


class IsolationLost(RuntimeError):
    """A variant's box does not isolate as its profile says: its numbers would be a lie."""


@dataclass
class Isolation:
    """What the probe saw inside one variant under one profile, and what is wrong with it."""

    variant: str
    profile: str
    seen: dict
    shared: list[str]    # namespaces not fresh (all of them when the probe did not report)
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def line(self) -> str:
        """One line for the failure message: the variant, the profile, and every problem."""
        return f"isolation lost in {self.variant} ({self.profile} profile): " + "; ".join(self.problems)


def probe_workload(workload: Workload) -> Workload:
    """The probe said as the timed workload is said, under its profile: a script where the workload
    is a script (so `sandbox run --profile py3 SCRIPT`'s path is the one probed), else an argv
    (`python3 -I -S -c SOURCE`: a sh box sees no file of the bench, but has /usr/bin/python3)."""
    name = f"isolation probe ({workload.profile})"
    if workload.script:
        return Workload(name, workload.profile, (PYTHON, PROBE), script=PROBE)
    with open(PROBE) as f:
        return Workload(name, workload.profile, (PYTHON, "-I", "-S", "-c", f.read()))


def own_namespaces() -> dict[str, str]:
    """This process's namespace ids: every one the probe sees must differ from these."""
    return {name: os.readlink(f"/proc/self/ns/{name}") for name in NAMESPACES}


def shared_namespaces(seen: dict, ours: dict[str, str]) -> list[str]:
    """The namespaces the probe shares with us, or could not read (which proves nothing fresh)."""
    namespaces = seen.get("ns") or {}
    return [name for name in NAMESPACES if namespaces.get(name) in (None, ours[name])]


def isolation_problems(seen: dict, ours: dict[str, str]) -> list[str]:
    """What the probe's report (probe.py's JSON) shows missing, compared with our own namespaces.

    Required: all of NAMESPACES fresh, seccomp mode 2 (a filter), no_new_privs, no network
    interface but lo, and no write to a disk filesystem outside /tmp (a tmpfs is the box's own)."""
    problems = []
    shared = shared_namespaces(seen, ours)
    if shared:
        problems.append(f"namespaces shared with the bench (or unreadable): {', '.join(shared)}")
    if seen.get("Seccomp") != "2":
        problems.append(f"seccomp mode {seen.get('Seccomp')}, not 2 (filter)")
    if seen.get("NoNewPrivs") != "1":
        problems.append(f"no_new_privs {seen.get('NoNewPrivs')}, not 1")
    interfaces = seen.get("interfaces")
    others = sorted(set(interfaces or ()) - {"lo"})
    if interfaces is None or others:
        problems.append(f"network interfaces besides lo: {', '.join(others) if others else 'unreadable'}")
    disks = [f"{place} ({fs})" for place, fs in (seen.get("writable_outside_tmp") or {}).items() if fs != "tmpfs"]
    if disks:
        problems.append(f"writes a disk outside /tmp: {', '.join(disks)}")
    return problems


def probe_isolation(variant, workload: Workload, ours: Optional[dict[str, str]] = None) -> Isolation:
    """Run the probe through a variant under the workload's profile and judge what it saw.  A probe
    that does not run, or prints no JSON, is a problem too: the bench cannot vouch for that box."""
    ours = ours or own_namespaces()
    try:
        output = variant.run(probe_workload(workload))
        seen = json.loads(output)
    except (RunFailed, ValueError) as e:
        return Isolation(variant.name, workload.profile, {}, list(NAMESPACES), [f"the probe did not report: {e}"])
    return Isolation(variant.name, workload.profile, seen, shared_namespaces(seen, ours),
                     isolation_problems(seen, ours))


def check_isolation(variants: list, workloads: list[Workload]) -> list[Isolation]:
    """Probe every variant but bare under every profile the bench times, before any timing."""
    profiles = {w.profile: w for w in workloads}  # one probe per profile, said as its workload is
    ours = own_namespaces()
    return [probe_isolation(v, w, ours) for v in variants if v.name != "bare" for w in profiles.values()]


def require_isolation(findings: list[Isolation]) -> None:
    """Stop the bench, naming every variant and what it lacks, if any box is not isolated."""
    lost = [f.line() for f in findings if not f.ok]
    if lost:
        raise IsolationLost("\n".join(lost))


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


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds so far: this process's, its reaped children's (rusage), and each live child's
    own plus its reaped children's (/proc/PID/stat), e.g. a fork server and the boxes it reaped."""

    own: float
    reaped_children: float
    live_children: dict[int, float]
    host_busy: float  # every CPU's non-idle time: kernel workers too, and whatever else the host runs


def cpu_snapshot() -> CpuSnapshot:
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    live = {pid: cpu_with_reaped(pid) for pid in direct_children(os.getpid())}
    return CpuSnapshot(me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime,
                       {pid: seconds for pid, seconds in live.items() if seconds is not None}, host_busy_seconds())


def host_busy_seconds() -> float:
    """Non-idle CPU time of the whole host (/proc/stat).  It sees what no rusage does, such as the
    kernel worker that tears a network namespace down after its last process is gone."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:9]]  # user .. steal; guest is inside user
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def direct_children(parent: int) -> list[int]:
    """Our children, found by their parent pid (threads' children included: ppid is the process)."""
    return [pid for pid, (ppid, _) in process_table().items() if ppid == parent]


def cpu_with_reaped(pid: int) -> Optional[float]:
    """utime + stime + cutime + cstime of a process, in seconds (clock ticks: 10 ms each)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def cpu_between(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """Seconds spent between two snapshots, by who spent them.  A live child seen only after
    counts from zero; one gone by then is lost (none is: the loop is sequential)."""
    live = sum(seconds - before.live_children.get(pid, 0.0) for pid, seconds in after.live_children.items())
    return {"this_process": after.own - before.own, "reaped_children": after.reaped_children - before.reaped_children,
            "live_children": live, "host": after.host_busy - before.host_busy}


def measure_cpu(variants: list, workload: Workload, duration: float, min_runs: int) -> dict:
    """CPU ms per run of `workload`, back to back with one worker, for each variant.

    "CPU per run" counts every process the run costs: for a subprocess variant its children
    (the program, bwrap's two processes, or the `sandbox` CLI with its init), for the API this
    process (the supervisor) plus its fork servers and the boxes they clone and reap.  This
    process's CPU in a subprocess variant is the bench's own spawning, shown but not counted."""
    report: dict = {v.name: None for v in variants}  # reported in the variants' order, measured shuffled
    for variant in random.sample(variants, len(variants)):
        report[variant.name] = cpu_per_run(variant, workload, duration, min_runs)
        progress(f"cpu {variant.name}: {report[variant.name]['cpu_ms_per_run']:.2f} ms per run")
    return report


def cpu_per_run(variant, workload: Workload, duration: float, min_runs: int) -> dict:
    """One variant's loop: at least min_runs and `duration` seconds, so a 10 ms clock tick is small."""
    variant.run(workload)  # warm: a first run may start a fork server or fill a cache
    gc.collect()
    runs, before, start = 0, cpu_snapshot(), time.perf_counter()
    while runs < min_runs or time.perf_counter() - start < duration:
        variant.run(workload)
        runs += 1
    wall, after = time.perf_counter() - start, cpu_snapshot()
    spent = cpu_between(before, after)
    if variant.in_process and not after.live_children:
        progress(f"cpu {variant.name}: no live child (fork server) found: its boxes' CPU is not counted")
    per_run = {name: seconds * 1000 / runs for name, seconds in spent.items()}
    counted = per_run["reaped_children"] + per_run["live_children"]  # not "host": noise of a shared machine
    if variant.in_process:
        counted += per_run["this_process"]
    return {"runs": runs, "wall_ms_per_run": wall * 1000 / runs, "live_children": len(after.live_children),
            **{f"{name}_ms_per_run": ms for name, ms in per_run.items()}, "cpu_ms_per_run": counted}


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


ISOLATE_AIM = 0.6  # issue 17: isolate's `true` overhead is ~0.6x bubblewrap's on this machine


def targets(report: dict) -> list[tuple[str, str, str, Optional[bool]]]:
    """Issue 17's targets as (what, measured, goal, met); met is None for a row only reported."""
    return api_targets(report) + cli_targets(report) + [nth_run_row(report["nth_run"])]


def api_targets(report: dict) -> list[tuple[str, str, str, Optional[bool]]]:
    lat, thr, mem = report["latency"], report["throughput"], report["memory"]
    overhead = lat[TRUE.name]["sandbox-api"]["overhead_ratio_to_bwrap"]
    shown = "-" if overhead is None else f"{overhead:.2f}x"
    api_2 = thr["sandbox-api"]["2"] / thr["bwrap"]["2"]
    mib = mem["sandbox-api"]["pss_per_run_kib"] / 1024
    rows = [
        ("API overhead over bare `true` / bwrap's", shown, "<= 1.0x", overhead is not None and overhead <= 1.0),
        ("API overhead over bare `true` / bwrap's: isolate's aim", shown, f"~{ISOLATE_AIM}x (aim)", None),
        ("API `true` runs/s with 2 workers / bwrap's", f"{api_2:.2f}x", ">= 1.0x", api_2 >= 1.0),
    ]
    for workload in (TRUE, HELLO_PY):
        cells = lat[workload.name]
        p99 = cells["sandbox-api"]["p99_ms"]
        rows.append((f"API p99 latency, `{workload.name}` (ms; / bwrap's p99)",
                     f"{p99:.2f} ms ({p99 / cells['bwrap']['p99_ms']:.2f}x)", "reported", None))
    rows.append(("API supervisor PSS per concurrent run", f"{mib:.2f} MiB", "<= 4 MiB", mib <= 4))
    return rows


def cli_targets(report: dict) -> list[tuple[str, str, str, Optional[bool]]]:
    lat, thr, mem = report["latency"], report["throughput"], report["memory"]
    hello = lat[HELLO_PY.name]["sandbox-cli"]["ratio_to_bwrap"]
    runs = thr["sandbox-cli"]["2"]
    mib = mem["sandbox-cli"]["pss_per_run_kib"] / 1024
    return [
        ("CLI `sandbox run --profile py3 hello.py` median / bwrap's", f"{hello:.2f}x", "<= 2.0x", hello <= 2.0),
        ("CLI `true` runs/s with 2 workers", f"{runs:.1f}", ">= 100", runs >= 100),
        ("CLI supervisor PSS per concurrent run", f"{mib:.2f} MiB", "<= 4 MiB", mib <= 4),
    ]


def nth_run_row(nth: dict) -> tuple[str, str, str, Optional[bool]]:
    return (f"API run {nth['runs']} vs runs 2-{1 + nth['window']} (medians)",
            f"{nth['late_over_early']:.2f}x", "~1.0x (no growth)", nth["late_over_early"] <= 1.1)


def met_cell(met: Optional[bool]) -> str:
    return "-" if met is None else ("yes" if met else "**no**")


def targets_table(report: dict) -> list[str]:
    lines = ["### Issue 17 targets", "", "| target | measured | goal | met |", "|---|--:|--:|---|"]
    lines += [f"| {what} | {measured} | {goal} | {met_cell(met)} |" for what, measured, goal, met in targets(report)]
    return lines


def isolation_table(findings: list[dict]) -> list[str]:
    """The probe's findings, one row per variant and profile (every one passed, or no report)."""
    lines = ["### Isolation probe (run inside each box before timing; bench/probe.py)", "",
             "| variant | profile | namespaces fresh | seccomp | no_new_privs | CapEff | pid | interfaces "
             "| writable outside /tmp |", "|---|---|--:|---|---|---|--:|---|---|"]
    for f in findings:
        seen = f["seen"]
        fresh = len(NAMESPACES) - len(f["shared"])
        seccomp = {"2": "filter", "1": "strict", "0": "off"}.get(seen.get("Seccomp"), seen.get("Seccomp"))
        writable = ", ".join(f"{p} ({fs})" for p, fs in (seen.get("writable_outside_tmp") or {}).items()) or "none"
        lines.append(f"| {f['variant']} | {f['profile']} | {fresh}/{len(NAMESPACES)} | {seccomp} | "
                     f"{'yes' if seen.get('NoNewPrivs') == '1' else 'no'} | {seen.get('CapEff')} | {seen.get('pid')} | "
                     f"{', '.join(seen.get('interfaces') or [])} | {writable} |")
    return lines


def cpu_table(cpu: dict) -> list[str]:
    lines = ["### CPU per run, `true`, one worker back to back (ms)", "",
             "| variant | runs | wall per run | this process | reaped children | live children (fork servers, boxes) "
             "| **CPU per run** | 2-core bound (runs/s) | whole host's busy CPU per run |",
             "|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for variant, c in cpu.items():
        bound = 2000 / c["cpu_ms_per_run"] if c["cpu_ms_per_run"] > 0 else math.inf
        lines.append(f"| {variant} | {c['runs']} | {c['wall_ms_per_run']:.2f} | {c['this_process_ms_per_run']:.2f} | "
                     f"{c['reaped_children_ms_per_run']:.2f} | {c['live_children_ms_per_run']:.2f} | "
                     f"**{c['cpu_ms_per_run']:.2f}** | {bound:.0f} | {c['host_ms_per_run']:.2f} |")
    lines += ["", "CPU per run counts the children for bare, bwrap and the CLI (this process only spawns "
              "and waits there), and this process (the supervisor) plus its live children for the API.  "
              "The last column is every CPU's busy time over the loop (/proc/stat): it adds what no "
              "process is charged with (kernel workers tearing namespaces down) and anything else the "
              "host ran meanwhile, so it is an upper bound on a shared machine."]
    return lines


def markdown(report: dict) -> str:
    """The report: the probe first (what every number below was measured on), the targets last."""
    host = report["host"]
    lines = [f"## sandbox bench ({host['time']}, {host['cpus']} CPUs, kernel {host['kernel']}, {host['bwrap']}, "
             f"{host['options']['rounds']} rounds)"]
    sections = [isolation_table(report["isolation"]), latency_table(report["latency"]),
                throughput_table(report["throughput"]), cpu_table(report["cpu"]),
                memory_table(report["memory"], host["options"]["concurrent"]), nth_run_table(report["nth_run"]),
                targets_table(report)]
    for section in sections:
        lines += ["", *section]
    enforced = host["limits_enforced_by"]
    lines += ["", f"Limits in our runs enforced by: {', '.join(f'{k}: {v}' for k, v in sorted(enforced.items()))}."]
    return "\n".join(lines)


def latency_table(latency: dict) -> list[str]:
    lines = ["### Latency (ms)", "",
             "| workload | variant | median | p99 | overhead vs bare | / bwrap (median) | / bwrap (overhead) |",
             "|---|---|--:|--:|--:|--:|--:|"]
    for workload, cells in latency.items():
        for variant, c in cells.items():
            ratio = "-" if c["overhead_ratio_to_bwrap"] is None else f"{c['overhead_ratio_to_bwrap']:.2f}"
            lines.append(f"| {workload} | {variant} | {c['median_ms']:.2f} | {c['p99_ms']:.2f} | "
                         f"{c['overhead_ms']:+.2f} | {c['ratio_to_bwrap']:.2f} | {ratio} |")
    return lines


def throughput_table(throughput: dict) -> list[str]:
    lines = ["### Throughput, `true` (runs/s)", "",
             "| variant | " + " | ".join(f"{n} worker{'s' * (n > 1)}" for n in WORKER_COUNTS) + " | 2 workers / bwrap |",
             "|---|" + "--:|" * (len(WORKER_COUNTS) + 1)]
    for variant, by_workers in throughput.items():
        ratio = by_workers["2"] / throughput["bwrap"]["2"]
        lines.append(f"| {variant} | " + " | ".join(f"{by_workers[str(n)]:.1f}" for n in WORKER_COUNTS)
                     + f" | {ratio:.2f} |")
    return lines


def memory_table(memory: dict, concurrent: int) -> list[str]:
    lines = [f"### Supervisor-side memory, {concurrent} runs of `sleep` in flight", "",
             "| variant | in flight | PSS per run (MiB) | / bwrap | processes counted (PSS MiB by name) |",
             "|---|--:|--:|--:|---|"]
    bwrap_kib = memory["bwrap"]["pss_per_run_kib"]
    for variant, m in memory.items():
        parts = ", ".join(f"{name} {kib / 1024:.1f}" for name, kib in sorted(m["pss_by_process_kib"].items()))
        if m["own_growth_kib"]:
            parts += f", this process {m['own_growth_kib'] / 1024:+.1f}"
        lines.append(f"| {variant} | {m['in_flight']} | {m['pss_per_run_kib'] / 1024:.2f} | "
                     f"{m['pss_per_run_kib'] / bwrap_kib:.1f} | {m['helper_processes']} processes: {parts} |")
    return lines


def nth_run_table(nth: dict) -> list[str]:
    return [f"### 1st vs Nth run (API, `true`, one Sandbox, {nth['runs']} runs)", "",
            "| 1st (ms) | median of runs 2-%d | median of last %d | last / early | fds before -> after (after gc) "
            "| PSS before -> after (MiB) |" % (1 + nth["window"], nth["window"]),
            "|--:|--:|--:|--:|--:|--:|",
            f"| {nth['first_ms']:.2f} | {nth['early_median_ms']:.2f} | {nth['late_median_ms']:.2f} | "
            f"{nth['late_over_early']:.2f} | {nth['fds_before']} -> {nth['fds_after']} ({nth['fds_after_gc']}) | "
            f"{(nth['pss_before_kib'] or 0) / 1024:.1f} -> {(nth['pss_after_kib'] or 0) / 1024:.1f} |"]


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
    options.cpu_seconds = 1.0 if options.quick else 3.0  # per variant: >= 100 ticks of 10 ms for the API
    options.cpu_runs = 20                               # at least, however slow the variant
    options.concurrent = 8                              # runs in flight for the memory snapshot
    options.sleep = 2.0 if options.quick else 3.0       # long enough for 8 CLI runs to get going on 2 CPUs
    options.nth = 10_000 if options.long else (30 if options.quick else 300)
    return options


def main(argv: Optional[list[str]] = None) -> int:
    options = parse_args(argv)
    if not shutil.which("bwrap"):
        progress("bubblewrap is not installed: run ./scripts/bench (it installs it) or apt-get install bubblewrap")
        return 2
    api = Api(["sh", "py3"])
    try:
        return run_bench(options, [Bare(), Bwrap(["sh", "py3"]), Cli(), api], api)
    finally:
        api.close()


def run_bench(options: argparse.Namespace, variants: list, api: Api) -> int:
    """Probe, then time; exit status 3 (nothing timed) when a box is not isolated."""
    workloads = [TRUE, HELLO_PY]
    findings = check_isolation(variants, workloads)
    if not say_isolation(findings):
        return 3
    report: dict = {"isolation": [asdict(f) for f in findings]}
    report["latency"] = measure_latency(variants, workloads, options.rounds)
    report["throughput"] = measure_throughput(variants, TRUE, options.duration)
    report["cpu"] = measure_cpu(variants, TRUE, options.cpu_seconds, options.cpu_runs)
    report["memory"] = measure_memory(variants, options.concurrent, options.sleep)
    report["nth_run"] = measure_nth_run(options.nth)
    report["host"] = host_facts(api, options)
    print(markdown(report))
    write_json(report, options.json or os.path.join(options.results_dir, time.strftime("%Y%m%d-%H%M%S") + ".json"))
    return 0


def say_isolation(findings: list[Isolation]) -> bool:
    """Whether every box is isolated; if not, one line per box naming what it lacks, on stderr."""
    try:
        require_isolation(findings)
    except IsolationLost as lost:
        for line in str(lost).splitlines():
            progress(f"FAILED: {line}")
        progress("nothing was timed: a box that is not isolated cannot be compared")
        return False
    progress(f"isolation probe: all {len(findings)} boxes isolated")
    return True


def write_json(report: dict, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    progress(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
