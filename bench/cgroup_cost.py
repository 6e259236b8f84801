"""What a run's cgroup costs: runs with and without one, interleaved, and each cgroup step timed.

A benchmark, not a test.  It needs a delegated cgroup v2 subtree, so it runs in the
VM tier (scripts/bench-cgroup boots the VM and runs it there as the unprivileged user):
    SANDBOX_CGROUP_ROOT=/sys/fs/cgroup/... python bench/cgroup_cost.py [--runs N]

The VM emulates its CPU (TCG), so its milliseconds are several times the host's;
the ratio of a run with a cgroup to a run without, in the same VM, is what carries over.
Steps timed in the supervisor: create the run's cgroup and write its limits, poll its
CPU time, read its usage, remove it; and, from the init's report, the target's setup,
which includes joining the cgroup just before exec.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path[:0] = [os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.path.dirname(os.path.abspath(__file__))]

from sandbox import Sandbox, cgroup, supervisor  # noqa: E402
from stepclock import StepClock  # noqa: E402

TRUE = ["/usr/bin/true"]


class Switch:
    """Lets one process run boxes with and without a cgroup: the bench's own off switch."""

    def __init__(self) -> None:
        self.off = False
        real = supervisor.cgroup_subtree
        supervisor.cgroup_subtree = lambda explicit, profile: None if self.off else real(explicit, profile)


class CgroupSteps(StepClock):
    """The supervisor's cgroup steps timed, and the target's setup from the init's report."""

    def __init__(self) -> None:
        super().__init__()
        self.time(cgroup.Subtree, "new_run", "create the cgroup, write its limits")
        self.time(cgroup.RunCgroup, "open_procs", "open cgroup.procs for the box")
        self.time(cgroup.RunCgroup, "cpu_usec", "poll cpu.stat (CPU time limit)")
        self.time(cgroup.RunCgroup, "usage", "read usage (cpu.stat, memory.*, pids.peak)")
        self.time(cgroup.RunCgroup, "destroy", "remove the cgroup")
        self.keep_init_steps("box: ", lambda step: step.startswith("target"))  # joining the cgroup included


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--cgroup-root", default=os.environ.get("SANDBOX_CGROUP_ROOT"))
    options = parser.parse_args()
    if not options.cgroup_root:
        print("cgroup_cost: give --cgroup-root or SANDBOX_CGROUP_ROOT (a delegated cgroup v2 subtree)",
              file=sys.stderr)
        return 2
    switch, timers = Switch(), CgroupSteps()
    latency: dict[str, list[float]] = {"with a cgroup": [], "without": []}
    steps: list[dict[str, float]] = []
    steps_without: list[dict[str, float]] = []
    with Sandbox("sh", cgroup_root=options.cgroup_root) as box:
        for warm in range(3):
            switch.off = bool(warm % 2)
            box.run(TRUE)
        for _ in range(options.runs):
            for off in (False, True):
                switch.off = off
                timers.current = {}
                start = time.perf_counter()
                result = box.run(TRUE)
                latency["without" if off else "with a cgroup"].append((time.perf_counter() - start) * 1000)
                enforced = result.enforced_by.get("memory", "")
                assert enforced.startswith("RLIMIT") == off, f"cgroup switch did not take: {enforced}"
                (steps_without if off else steps).append(timers.current)
    with_cg, without = (statistics.median(latency[k]) for k in ("with a cgroup", "without"))
    print(f"## cgroup cost ({options.runs} runs each, interleaved; `/usr/bin/true`, profile sh)\n")
    print("| run | median ms | p90 ms |")
    print("|---|--:|--:|")
    for name, samples in latency.items():
        print(f"| {name} | {statistics.median(samples):.2f} | {statistics.quantiles(samples, n=10)[-1]:.2f} |")
    print(f"\nwith / without: **{with_cg / without:.2f}x** (+{with_cg - without:.2f} ms per run)\n")
    print("| step | median ms per run, with a cgroup | without |")
    print("|---|--:|--:|")
    for label in steps[-1]:
        without_ms = statistics.median(s.get(label, 0.0) for s in steps_without)
        print(f"| {label} | {statistics.median(s.get(label, 0.0) for s in steps):.2f} | {without_ms:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
