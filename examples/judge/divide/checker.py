"""A testlib-style checker: the answer is right within an absolute or relative error of 1e-6.

    checker.py INPUT OUTPUT ANSWER    exit 0 OK, 1 WA, 2 PE (not a number), 3 the checker's own failure

The sandbox runs it in a box of its own (sandbox run --checker, Sandbox.run_cases(checker=...));
what it prints is the case's checker_message.
"""
import math
import sys


def main(given: str, output: str, answer: str) -> int:
    try:
        expected = float(open(answer).read())
    except (OSError, ValueError) as e:
        print(f"bad answer file: {e}")
        return 3  # the test's fault, not the solution's
    words = open(output, errors="replace").read().split()
    try:
        found = float(words[0])
    except (IndexError, ValueError):
        print("expected a number, found " + (repr(words[0][:20]) if words else "nothing"))
        return 2
    if len(words) > 1 or not math.isfinite(found):
        print(f"expected one finite number, found {len(words)} word(s)")
        return 2
    if abs(found - expected) > 1e-6 * max(1.0, abs(expected)):
        print(f"expected {expected}, found {found}")
        return 1
    print(f"ok {found}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
