"""Guess-the-number interactor: its stdout is the solution's stdin and the other way round.

It picks a secret in 1..N (argv[1] if given, else at random), tells the solution "N Q" (Q:
the queries allowed), then answers each "? x" with "<" (the secret is less than x), ">"
(greater) or "=" (found).  The solution ends with "! x".  Exit 0: x is the secret and at most
Q queries were asked; exit 1: a wrong answer, too many queries, or no answer at all (the
solution ended, or said something else).  Why on stderr, for the judge.
"""
import random
import sys

N, Q = 1_000_000, 20  # binary search needs ceil(log2(N)) = 20 queries


def main() -> int:
    secret = int(sys.argv[1]) if len(sys.argv) > 1 else random.randint(1, N)
    print(N, Q, flush=True)
    queries = 0
    for line in sys.stdin:
        words = line.split()
        if len(words) != 2 or words[0] not in "?!" or not words[1].lstrip("-").isdigit():
            return fail(f"unexpected line {line.strip()!r}")
        guess = int(words[1])
        if words[0] == "!":
            if guess != secret:
                return fail(f"answered {guess}, the number was {secret}")
            print(f"ok: {secret} found in {queries} queries", file=sys.stderr)
            return 0
        queries += 1
        if queries > Q:
            return fail(f"more than {Q} queries")
        print("<" if secret < guess else ">" if secret > guess else "=", flush=True)
    return fail(f"the solution ended without an answer after {queries} queries")


def fail(why: str) -> int:
    print(f"wrong: {why}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
