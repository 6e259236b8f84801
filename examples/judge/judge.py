#!/usr/bin/env python3
"""A judge in a few dozen lines: compile a solution in one box, run it on every test case in fresh boxes.

    python3 examples/judge/judge.py examples/judge/solutions/accepted.c [CASES_DIR] [--fail-fast] [--checker PY]

The language is the file's extension: .c (gcc, run in native), .rs (rustc, native), .go (go build,
go-native), .java (javac, then java; the class must be Main), .py (PyPy 3, not compiled).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from sandbox import Sandbox, cases_from_dir, load_profile

CPU_TIME = "1s"  # the problem's limits, per case


def _java(*argv: str) -> list[str]:
    """java with the run profile's flags (its command less "{script}"): the JVM's heap, stacks and
    reservations, measured to start under the profile's address-space limit (README: Judge languages)."""
    return [*load_profile("java").command[:-1], *argv]


@dataclass(frozen=True)
class Language:
    """How one language is built and run: the compile profile and command (none: run the source),
    the files the build makes, the run profile and command, and the memory limit of a run."""
    source: str
    compile_profile: Optional[str]
    compile: list[str]
    built: list[str]
    run_profile: str
    run: list[str]
    # Without a cgroup memory is address space: a VM needs far more of it than it uses.  None: the run
    # profile's own (java: 1G for a 256M heap; go-native: 1G, Go's runtime reserves ~700M at start).
    memory: Optional[str] = "64M"


LANGUAGES = {
    ".c": Language("main.c", "c", ["gcc", "-O2", "-o", "main", "main.c"], ["main"], "native", ["./main"]),
    ".rs": Language("main.rs", "rust", ["rustc", "-O", "-o", "main", "main.rs"], ["main"], "native", ["./main"]),
    ".go": Language("main.go", "go", ["go", "build", "-o", "main", "main.go"], ["main"], "go-native", ["./main"],
                    memory=None),
    ".java": Language("Main.java", "javac", [*load_profile("javac").command[:-1], "Main.java"], ["Main.class"],
                      "java", _java("Main"), memory=None),
    ".py": Language("main.py", None, [], [], "pypy3", ["pypy3", "main.py"], memory="256M"),
}


def build(language: Language, source: bytes) -> Optional[dict[str, tuple[bytes, int]]]:
    """The files to run, or None (printing the compiler's messages) when the source does not compile."""
    if language.compile_profile is None:
        return {language.source: (source, 0o644)}
    with Sandbox(language.compile_profile) as compiler:  # in a box of its own: a hostile #include cannot read the host
        result = compiler.run(language.compile, files={language.source: source}, collect=language.built)
    if set(result.files) != set(language.built):
        print("compile error:\n" + (result.stderr or b"").decode(errors="replace"))
        return None
    return {name: (result.files[name], 0o755) for name in language.built}


def judge(source: bytes, cases_dir: Path, fail_fast: bool = False, language: Language = LANGUAGES[".c"],
          checker: Optional[Path] = None) -> str:
    files = build(language, source)
    if files is None:
        return "CE"
    limits = {"cpu_time": CPU_TIME, **({"memory": language.memory} if language.memory else {})}
    with Sandbox(language.run_profile, **limits) as runner:  # one fork server, a fresh box per case
        results = runner.run_cases(language.run, cases_from_dir(cases_dir), files=files, fail_fast=fail_fast,
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
    source = Path(paths[0])
    language = LANGUAGES.get(source.suffix)
    if language is None:
        print(f"judge: no language for {source.suffix or 'a file without an extension'} "
              f"(known: {', '.join(LANGUAGES)})", file=sys.stderr)
        return 2
    cases_dir = Path(paths[1]) if len(paths) > 1 else Path(__file__).with_name("cases")
    verdict = judge(source.read_bytes(), cases_dir, fail_fast="--fail-fast" in argv, language=language, checker=checker)
    print("submission:", verdict)
    return 0 if verdict == "AC" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
