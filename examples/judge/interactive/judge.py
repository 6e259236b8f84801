#!/usr/bin/env python3
"""Judge an interactive problem: the solution and the interactor run at once, each in a box of its own,
each one's stdout the other's stdin; the interactor's exit code is the verdict, unless the solution failed
on its own (Polygon's rule: sandbox.interaction_verdict).

    python3 examples/judge/interactive/judge.py examples/judge/interactive/solutions/accepted.py [SECRET]

Prints the verdict and why; exit 0 for OK.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from sandbox import Member, Pipe, interaction_verdict, run_group

HERE = Path(__file__).resolve().parent
LIMITS = {"cpu_time": "1s", "memory": "64M"}  # the solution's, per run


def judge(solution: Path, secret: Optional[int] = None) -> tuple[str, str]:
    members = [
        Member("py3", run_kwargs={"script": str(solution), **LIMITS}),
        Member("py3", run_kwargs={"script": str(HERE / "interactor.py"),
                                  "args": [] if secret is None else [str(secret)]}),
    ]
    pipes = [Pipe(0, 1, 1), Pipe(1, 1, 0)]  # solution -> interactor, interactor -> solution
    ran, interactor = run_group(members, pipes, wall_time="5s")  # a hanging pair ends here
    verdict, why = interaction_verdict(ran, interactor)
    return verdict.value, why


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print(__doc__.strip().splitlines()[4].strip(), file=sys.stderr)
        return 2
    verdict, why = judge(Path(argv[0]), int(argv[1]) if len(argv) > 1 else None)
    print(f"{verdict}: {why}" if why else verdict)
    return 0 if verdict == "OK" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
