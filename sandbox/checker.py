"""Checkers: a program, in a box of its own, that judges a test case's output.  Side: parent.

Some problems have no single right output (a float within 1e-6, any shortest path), so a
judge gives them a checker: `CHECKER INPUT OUTPUT ANSWER`, testlib's convention, whose exit
code is the verdict (EXIT_CODES).  The checker is the judge's program, not the solution's,
but it reads the solution's output, which may be hostile (crafted to crash or exploit a
parser); so it runs in a fresh box of its own with its own profile, never with the
solution's binds, files, environment or limits, and sees only three files in its /work.

What is here: the exit-code convention as data (checker_verdict, also the interactor's rule
for interactive problems: interaction_verdict), the checker read once from the host
(load_checker), the Request of its box for one case (checker_request), and judging an OK run
with it (check).  The box itself is run by the caller's RunBox (a Sandbox's fork server, or
the CLI's fork_here), as cases.run_cases leaves run_one to its caller.
"""
from __future__ import annotations

import os
import signal
import stat
from contextlib import ExitStack
from typing import Callable, Optional, Union

from ._cache import load_profile
from ._record import dataclass, replace
from .cases import Case, CaseFile, case_bytes
from .errors import UsageError
from .hostpaths import resolve
from .plan import SCRIPT_PLACEHOLDER, WORK_DIR, Request
from .profile import Profile
from .result import Result, Verdict, signal_name
from .transfer.packing import Content, FileSource, content_size

# testlib's exit codes (testlib.h: OK_EXIT_CODE, WA_EXIT_CODE, PE_EXIT_CODE, FAIL_EXIT_CODE), as Polygon,
# Codeforces and most judges use them.  FAIL is the checker's own failure (a bad answer file, a bug):
# the judge's fault, so IE, never a verdict against the solution.
EXIT_CODES: dict[int, tuple[Verdict, str]] = {
    0: (Verdict.OK, "accepted"),
    1: (Verdict.WA, "wrong answer"),
    2: (Verdict.PE, "presentation error"),
    3: (Verdict.IE, "checker failure (testlib's FAIL: the checker's or the test's fault, not the solution's)"),
}
# testlib's partial scores: _pc(n) exits PARTIAL_BASE + n, quitp() exits POINTS_EXIT_CODE.  Not judged
# here: a score is the judge's policy, and no verdict of ours carries one.  Such a checker gets IE with a
# message naming the convention, so the judge sees its setup is wrong rather than a solution punished.
PARTIAL_BASE = 16
POINTS_EXIT_CODE = 7
MESSAGE_LIMIT = 4096  # bytes of the checker's stdout+stderr kept as checker_message
SUMMARY_LIMIT = 200   # characters of its first line in the case's `message`
# What the checker's box holds in its work dir, and the paths it is called with.
INPUT, OUTPUT, ANSWER = "input.txt", "output.txt", "answer.txt"
CHECKER_NAME = "checker"
# The solution's own failures: in an interactive problem they win over the interactor's verdict.
SOLUTION_FAILURES = (Verdict.TLE, Verdict.MLE, Verdict.OLE, Verdict.SV, Verdict.RE)


def checker_verdict(exit_code: Optional[int], message: str) -> tuple[Verdict, str]:
    """The verdict a checker's (or an interactor's) exit code gives, and the case's message: what
    the code means, then the first line of what the checker said.  exit_code None: it never
    exited (a signal ended it): IE.  Any code outside the convention is IE too: a checker that
    crashed or was misbuilt is the judge's fault, never the solution's."""
    said = _first_line(message)
    if exit_code is None:
        return Verdict.IE, _joined("checker did not exit (killed by a signal)", said)
    if exit_code in EXIT_CODES:
        verdict, meaning = EXIT_CODES[exit_code]
        return verdict, "" if verdict is Verdict.OK else _joined(f"checker: {meaning}", said)
    if exit_code == POINTS_EXIT_CODE or exit_code >= PARTIAL_BASE:
        how = "quitp" if exit_code == POINTS_EXIT_CODE else f"_pc({exit_code - PARTIAL_BASE})"
        return Verdict.IE, _joined(f"checker gave a partial score (testlib {how}, exit {exit_code}), "
                                   f"which this sandbox does not judge", said)
    return Verdict.IE, _joined(f"checker failed: exit {exit_code} is not a checker's verdict "
                               f"(0 OK, 1 WA, 2 PE, 3 FAIL)", said)


def run_verdict(checker: Result) -> tuple[Verdict, str]:
    """The verdict a checker's (or interactor's) whole run gives: one that hit its own limits or
    was killed is IE, saying so; otherwise its exit code decides (checker_verdict)."""
    said = checker_message(checker)
    if checker.verdict not in (Verdict.OK, Verdict.RE):
        return Verdict.IE, _joined(f"checker hit its own limit: {checker.verdict.value} ({checker.message})",
                                   _first_line(said))
    if checker.signal is not None:
        return Verdict.IE, _joined(f"checker crashed: killed by {signal_name(checker.signal)}", _first_line(said))
    return checker_verdict(checker.exit_code, said)


def interaction_verdict(solution: Result, interactor: Result) -> tuple[Verdict, str]:
    """Polygon's rule for an interactive problem: the solution's own failure (TLE, MLE, OLE, SV,
    RE) wins over whatever the interactor says, since the interactor may only have seen the
    solution stop; an error of the sandbox on the solution's side stays IE; otherwise the
    interactor's run decides as a checker's does (run_verdict).  One exception, as testlib judges
    have it: a solution killed by SIGPIPE wrote to an interactor that had stopped reading; if the
    interactor gave a verdict other than OK, that verdict stands (it stopped because it had judged)."""
    said = run_verdict(interactor)
    if solution.signal == signal.SIGPIPE and solution.verdict is Verdict.RE and said[0] is not Verdict.OK:
        return said
    if solution.verdict in SOLUTION_FAILURES or solution.verdict is Verdict.IE:
        return solution.verdict, solution.message
    return said


def checker_message(checker: Result) -> str:
    """The checker's stdout (its stderr merged into it), cut at MESSAGE_LIMIT bytes; an interactor's
    stdout is the solution's stdin (a pipe, not captured), so its message is its stderr."""
    data = (checker.stdout if checker.stdout is not None else checker.stderr) or b""
    return data[:MESSAGE_LIMIT].decode("utf-8", "replace")


def _first_line(message: str) -> str:
    line = message.strip().split("\n", 1)[0].strip() if message.strip() else ""
    return line if len(line) <= SUMMARY_LIMIT else line[:SUMMARY_LIMIT] + "..."


def _joined(meaning: str, said: str) -> str:
    return f"{meaning}: {said}" if said else meaning


@dataclass(frozen=True)
class Checker:
    """A checker program read once, before the first case: every case's checker box gets these
    same bytes (a file changed on the host meanwhile changes nothing), under /work/`name`, run by
    `profile`'s command."""

    name: str
    content: bytes
    profile: Profile


def default_profile(path: str) -> str:
    """py3 for a Python script, else native (a compiled checker, e.g. one built with testlib)."""
    return "py3" if path.endswith(".py") else "native"


def load_checker(path: Union[str, "os.PathLike[str]"], profile: Union[None, str, Profile] = None) -> Checker:
    """The checker at a host path (found as --file finds a file: no symlink another user could
    have made; a regular file) and its profile (default_profile when None), whose command must
    run a script ({script}: the checker's path in its box)."""
    host_path = os.fspath(path)
    found = resolve(host_path, "checker", os.O_RDONLY | os.O_NONBLOCK)  # a FIFO: no waiting
    if not stat.S_ISREG(found.info.st_mode):
        os.close(found.fd)
        raise UsageError(f"checker {host_path}: not a regular file")
    with os.fdopen(found.fd, "rb") as f:
        return checker_of(host_path, f.read(), profile)


def checker_of(name: str, content: bytes, profile: Union[None, str, Profile] = None) -> Checker:
    """A checker from its bytes (a run spec carries them: sandbox.spec's batch), or load_checker's
    from a host file: `name`'s suffix picks the default profile and stays on the file in its box."""
    chosen = profile if isinstance(profile, Profile) else load_profile(profile or default_profile(name))
    if SCRIPT_PLACEHOLDER not in chosen.command:
        raise UsageError(f"checker profile {chosen.name}: its command runs no {SCRIPT_PLACEHOLDER}, so it cannot run "
                         f"a checker")
    return Checker(CHECKER_NAME + os.path.splitext(name)[1], content, chosen)


def checker_request(checker: Checker, given: Content, output: bytes, answer: bytes,
                    cgroup_root: Optional[str] = None) -> Request:
    """The checker's box for one case: its own profile and limits, nothing of the solution's
    request; in /work the checker and the three files, called with their absolute paths.  Its
    tmp_size is its profile's on top of those files: a solution's output as large as its own
    output limit allows still fits (the judge never chose that size), and the checker keeps the
    scratch room its profile gives."""
    program = f"{WORK_DIR}/{checker.name}"
    argv = tuple(program if part == SCRIPT_PLACEHOLDER else part for part in checker.profile.command)
    files = ((checker.name, 0o755, checker.content), (INPUT, 0o644, given), (OUTPUT, 0o644, output),
             (ANSWER, 0o644, answer))
    room = checker.profile.limits.tmp_size
    return Request(
        program=argv + tuple(f"{WORK_DIR}/{name}" for name in (INPUT, OUTPUT, ANSWER)),
        files=files,
        limits={} if room is None else {"tmp_size": room + sum(content_size(entry[2]) for entry in files)},
        cgroup_root=cgroup_root,
    )


RunBox = Callable[[Profile, Request], Result]  # the caller's: one box, stdin empty, stderr merged into stdout


def check(result: Result, case: Case, checker: Checker, run_box: RunBox, cgroup_root: Optional[str] = None) -> Result:
    """An OK run judged by the checker: its verdict, its message in `message` (one line) and
    `checker_message` (all it printed, cut).  Any other run is returned as it is: a solution that
    failed keeps its verdict, and no checker runs.  A case without an expected output gets an
    empty answer file."""
    if result.verdict is not Verdict.OK:
        return result
    with ExitStack() as held:
        given = _content(case.stdin, f"case {case.name}: stdin", held)
        answer = b"" if case.expected is None else case_bytes(case.expected, f"case {case.name}: expected")
        ran = run_box(checker.profile, checker_request(checker, given, result.stdout or b"", answer, cgroup_root))
    verdict, message = run_verdict(ran)
    return replace(result, verdict=verdict, message=message or result.message, checker_message=checker_message(ran))


def _content(data: Union[bytes, str, "os.PathLike[str]"], what: str, held: ExitStack) -> Content:
    """A case's input for the checker's box: bytes as they are, a noted case file streamed from
    the host (checked again to be the file noted), never read whole into memory."""
    if isinstance(data, bytes):
        return data
    noted = data if isinstance(data, CaseFile) else CaseFile(os.fspath(data), what)
    fd = noted.open()
    held.callback(os.close, fd)
    return FileSource(fd, os.fstat(fd).st_size)
