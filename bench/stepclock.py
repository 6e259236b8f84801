"""Timing a run's steps from inside the supervisor's process: shared by timeline.py and cgroup_cost.py.

Not a test and not part of the product: it replaces functions of the sandbox with timed
wrappers (the bench owns its process) and keeps the step times the box's init reports
with the program's exit.
"""
from __future__ import annotations

import time
from typing import Callable

from sandbox import supervisor


class StepClock:
    """`current` holds the ms of each timed step of the run in progress; reset it per run."""

    def __init__(self) -> None:
        self.current: dict[str, float] = {}

    def time(self, owner: object, name: str, label: str) -> None:
        """Replace owner.name by a wrapper adding its duration to current[label]."""
        function: Callable = getattr(owner, name)

        def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.current[label] = self.current.get(label, 0.0) + (time.perf_counter() - start) * 1000

        setattr(owner, name, timed)

    def keep_init_steps(self, prefix: str, wanted: Callable[[str], bool] = lambda step: True) -> None:
        """Copy the init's reported step times (the wanted ones) into current, under prefix."""
        original_usage = supervisor._usage

        def usage(watched, *args):  # type: ignore[no-untyped-def]
            for record in watched.records:
                if record.get("kind") == "exited":
                    self.current.update({prefix + k: v for k, v in record.get("steps", {}).items() if wanted(k)})
            return original_usage(watched, *args)

        supervisor._usage = usage
