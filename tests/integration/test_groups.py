"""Programs joined by pipes (sandbox.run_group): an interactive problem, a chain, early ends, bad graphs."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from sandbox import ExecError, Member, Pipe, UsageError, Verdict, run_group

INTERACTIVE = Path(__file__).resolve().parents[2] / "examples" / "judge" / "interactive"
CYCLE = [Pipe(0, 1, 1), Pipe(1, 1, 0)]  # solution stdout -> interactor stdin, interactor stdout -> solution stdin


@pytest.fixture(autouse=True)
def nothing_of_ours_left():
    """Besides the tier's own check (processes, mounts, temp files): no descriptor, no thread left here."""
    fds, threads = set(os.listdir("/proc/self/fd")), threading.active_count()
    yield
    assert set(os.listdir("/proc/self/fd")) - fds == set(), "descriptors left open"
    assert threading.active_count() == threads, "threads left running"


def interactive(solution: str, wall_time: str = "10s") -> tuple[list, float]:
    started = time.monotonic()
    results = run_group([Member("py3", run_kwargs={"script": str(INTERACTIVE / "solutions" / solution)}),
                         Member("py3", run_kwargs={"script": str(INTERACTIVE / "interactor.py"), "args": ["777777"]})],
                        CYCLE, wall_time=wall_time)
    return results, time.monotonic() - started


def test_an_accepted_solution_finds_the_number_within_the_queries():
    (solution, interactor), _ = interactive("accepted.py")
    assert (solution.verdict, interactor.verdict, interactor.exit_code) == (Verdict.OK, Verdict.OK, 0)
    assert interactor.stderr.startswith(b"ok: 777777 found in ")
    assert solution.stdout is None and interactor.stdout is None  # their stdout went into the pipes


def test_a_wrong_answer_is_the_interactors_exit_1():
    (solution, interactor), _ = interactive("wrong.py")
    assert (solution.verdict, interactor.exit_code) == (Verdict.OK, 1)
    assert interactor.stderr == b"wrong: answered 42, the number was 777777\n"


def test_too_many_queries_ends_the_interactor_and_the_solution_sees_eof():
    (solution, interactor), elapsed = interactive("too_many_queries.py")
    assert interactor.exit_code == 1 and interactor.stderr == b"wrong: more than 20 queries\n"
    assert solution.verdict is Verdict.RE and b"EOFError" in solution.stderr  # its next input() found EOF
    assert elapsed < 8


def test_a_hanging_solution_is_ended_by_the_group_wall_limit_and_so_is_the_interactor():
    (solution, interactor), elapsed = interactive("hanging.py", wall_time="2s")
    assert (solution.verdict, interactor.verdict) == (Verdict.TLE, Verdict.TLE)
    assert (solution.limit, interactor.limit) == ("wall_time", "wall_time")
    assert elapsed < 8


def test_a_chain_of_three_ends_in_captured_output():
    produce = Member("sh", ["/bin/sh", "-c", "printf 'b\\na\\nc\\n'"])
    shout = Member("sh", ["/usr/bin/tr", "a-z", "A-Z"])
    order = Member("py3", ["python3", "-c", "import sys; print(''.join(sorted(sys.stdin)), end='')"])
    first, second, last = run_group([produce, shout, order], [Pipe(0, 1, 1), Pipe(1, 1, 2)], wall_time=10)
    assert (first.verdict, second.verdict, last.verdict) == (Verdict.OK,) * 3
    assert last.stdout == b"A\nB\nC\n" and first.stdout is None and second.stdout is None


def test_stderr_can_feed_a_pipe_and_an_unpiped_member_gets_its_own_stdin():
    writer = Member("py3", ["python3", "-c", "import sys; sys.stderr.write(sys.stdin.read() * 2)"],
                    {"stdin": b"ab"})
    reader = Member("py3", ["python3", "-c", "import sys; print(sys.stdin.read())"])
    first, second = run_group([writer, reader], [Pipe(0, 2, 1)])
    assert first.stderr is None and second.stdout == b"abab\n"


def test_a_member_that_crashes_early_leaves_its_peer_eof_and_a_closed_pipe():
    """The peer writes far more than the pipes hold to a member that has crashed: it must not block
    (the crashed box held the last read end: ours was closed when its init took it; were it not, the
    crashed member's run would wait for the peer to read its last output, and the peer for a reader,
    until the wall limit), and its read finds the output, then EOF (nobody holds the write end)."""
    crash = Member("py3", ["python3", "-c", "import sys; sys.stdin.readline(); print('y' * 299999); sys.exit(3)"])
    flood = Member("py3", ["python3", "-c", "import sys\n"
                                            "for _ in range(200): sys.stdout.write('x' * 65535 + '\\n')\n"
                                            "sys.stdout.flush(); sys.stderr.write(str(len(sys.stdin.read())))"])
    started = time.monotonic()
    crashed, peer = run_group([crash, flood], CYCLE, wall_time=30)
    assert (crashed.verdict, crashed.exit_code) == (Verdict.RE, 3)
    assert (peer.verdict, peer.stderr) == (Verdict.OK, b"300000")
    assert time.monotonic() - started < 15


@pytest.mark.parametrize("peer", ["import sys; sys.stdin.read()", "import time; time.sleep(600)"])
def test_an_error_in_one_members_run_ends_the_others_and_is_raised(peer):
    """A peer waiting on the failed member's pipe, or on nothing at all, is ended well before its wall limit."""
    missing = Member("native", ["/no/such/program"])
    started = time.monotonic()
    with pytest.raises(ExecError):
        run_group([missing, Member("py3", ["python3", "-c", peer], {"wall_time": "60s"})], CYCLE, wall_time=60)
    assert time.monotonic() - started < 8


@pytest.mark.parametrize("pipes, kwargs, message", [
    ([Pipe(0, 1, 2)], {}, r"^pipe 0: target 2 is not a member index \(0\.\.1\)$"),
    ([Pipe(-1, 1, 0)], {}, r"^pipe 0: source -1 is not a member index"),
    ([Pipe(0, 0, 1)], {}, r"^pipe 0: source_fd must be 1 \(stdout\) or 2 \(stderr\), not 0$"),
    ([Pipe(0, 1, 1, 1)], {}, r"^pipe 0: target_fd must be 0 \(stdin\), not 1$"),
    ([Pipe(0, 1, 1), Pipe(0, 2, 1)], {}, r"^pipe 1: member 1's fd 0 is already fed by pipe 0$"),
    ([Pipe(0, 1, 1), Pipe(0, 1, 0)], {}, r"^pipe 1: member 0's fd 1 already feeds pipe 0$"),
    ([Pipe(1, 1, 0)], {"stdin": b"x"}, r"^member 0: stdin is given, but pipe 0 takes it$"),
    ([Pipe(0, 1, 1)], {"stdout": 1}, r"^member 0: stdout is given, but pipe 0 takes it$"),
    ([], {"no_such_keyword": 1}, r"^member 0: .*no_such_keyword"),
])
def test_an_invalid_group_is_a_usage_error_before_anything_runs(pipes, kwargs, message):
    members = [Member("py3", ["python3", "-c", "pass"], kwargs), Member("py3", ["python3", "-c", "pass"])]
    with pytest.raises(UsageError, match=message):
        run_group(members, pipes)


def test_an_empty_group_is_a_usage_error():
    with pytest.raises(UsageError, match="at least one member"):
        run_group([], [])
