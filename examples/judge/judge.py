#!/usr/bin/env python3
"""A judge in a few dozen lines: compile a C solution in one box, run it on every test case in fresh boxes.

    python3 examples/judge/judge.py examples/judge/solutions/accepted.c [CASES_DIR] [--fail-fast] [--checker PY]

CASES_DIR (default: cases/ next to this file) holds NAME.in and NAME.out.  Prints one line per
case (its verdict, CPU and wall time, peak memory) and the submission's verdict: AC when every
case is OK, CE when it does not compile, else the first case's verdict that is not OK.  Exit 0 for AC.
With --checker, a testlib-style checker judges each case instead of the line comparison, in a box of
its own (its message is printed after the case's line): divide/ is such a problem, whose answers are
floats right within 1e-6:

    python3 examples/judge/judge.py examples/judge/divide/solutions/accepted.c examples/judge/divide/cases \
        --checker examples/judge/divide/checker.py
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from sandbox import Sandbox, cases_from_dir

LIMITS = {"cpu_time": "1s", "memory": "64M"}  # the problem's limits, per case


def judge(source: bytes, cases_dir: Path, fail_fast: bool = False, checker: Optional[Path] = None) -> str:
    with Sandbox("c") as compiler:  # gcc in a box of its own: a hostile #include cannot read the host
        build = compiler.run(["gcc", "-O2", "-o", "main", "main.c"], files={"main.c": source}, collect=["main"])
    if "main" not in build.files:
        print("compile error:\n" + (build.stderr or b"").decode(errors="replace"))
        return "CE"
    binary = {"main": (build.files["main"], 0o755)}
    with Sandbox("native", **LIMITS) as runner:  # one fork server, a fresh box per case
        results = runner.run_cases(["./main"], cases_from_dir(cases_dir), files=binary, fail_fast=fail_fast,
                                   checker=checker)  # None: compare lines with NAME.out
    for result in results:
        memory = "-" if result.memory_peak is None else f"{result.memory_peak / 2**20:.1f} MiB"
        print(f"case {result.case:<4} {result.verdict.value:<4} cpu {result.cpu_time:.3f}s  "
              f"wall {result.wall_time:.3f}s  memory {memory}")
        if result.checker_message:  # None when no checker ran (no checker, or the run failed)
            print(f"  checker: {result.checker_message.strip()}")
    failed = next((r.verdict.value for r in results if r.verdict.value != "OK"), None)
    return failed or "AC"


def main(argv: list[str]) -> int:
    checker = None
    if "--checker" in argv and argv.index("--checker") + 1 < len(argv):
        at = argv.index("--checker")
        checker, argv = Path(argv[at + 1]), argv[:at] + argv[at + 2:]
    paths = [arg for arg in argv if not arg.startswith("--")]
    if not 1 <= len(paths) <= 2 or "--checker" in argv:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    cases_dir = Path(paths[1]) if len(paths) > 1 else Path(__file__).with_name("cases")
    verdict = judge(Path(paths[0]).read_bytes(), cases_dir, fail_fast="--fail-fast" in argv, checker=checker)
    print("submission:", verdict)
    return 0 if verdict == "AC" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
