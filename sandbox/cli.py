"""`sandbox` on the command line.  Side: parent.

The only module that prints for humans or calls sys.exit.  Every error of the
sandbox itself is one line on stderr and exit 125 (126/127 when the program
cannot be executed); the program's own exit code passes through otherwise,
128+N when it died of signal N.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn, Optional, Sequence, Union

from ._record import dataclass, field
from .errors import ExecError, SandboxError, UsageError
from .limits import TABLE, Mechanism, parse_overrides, parse_size_option

if TYPE_CHECKING:  # imported when used, to keep the CLI's start fast
    from .live.registry import NamedBox
    from .transfer.host import CollectDir, ResultFile
    from .transfer.packing import FileEntry
    from .plan import Request
    from .profile import Profile
    from .result import Result
    from .supervisor import Prepared
    from .cases import Check
    from .interrupts import Interrupts

EXIT_SANDBOX_ERROR = 125
NOTEWORTHY = ("TLE", "MLE", "OLE", "SV", "IE")


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, sized without `shutil` (argparse imports it, with bz2 and lzma, for every
    parser it builds, help or not; shutil.get_terminal_size's rule: $COLUMNS, else the terminal, else 80)."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_terminal_columns() - 2)  # argparse's own margin


def _terminal_columns() -> int:
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0 and sys.__stdout__ is not None:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (ValueError, OSError):
            columns = 0
    return columns or 80


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """argparse's complaint as our one line: main() prints "sandbox: " before it, so only a
        subcommand is named here ("run: ..."), never the program twice."""
        command = self.prog.removeprefix("sandbox").strip()
        raise UsageError(f"{command}: {message}" if command else message)


class _Version(argparse.Action):
    """--version: `sandbox VERSION` from the installed package's metadata, read only when asked
    (importlib.metadata costs milliseconds every start otherwise)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **_: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print `sandbox VERSION` and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> NoReturn:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("sandbox")
        except PackageNotFoundError:  # a checkout run without installing it
            found = "unknown (not installed)"
        print(f"sandbox {found}")
        parser.exit()


def _parser(only: Optional[str] = None) -> _Parser:
    """The whole command line, or with `only` ("run", "exec") just that command's parser: a run pays for
    its own flags, not for building every other command's (argparse builds eagerly)."""
    parser = _Parser(prog="sandbox", description="Run untrusted programs in a rootless Linux sandbox.")
    parser.add_argument("--version", action=_Version)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    if only in (None, "run"):
        _add_run_command(commands)
    if only is None:
        _add_other_commands(commands)
    if only in (None, "exec"):
        _add_exec_command(commands)
    if only is None:
        _add_box_control_commands(commands)
    return parser


def _add_run_command(commands) -> None:  # type: ignore[no-untyped-def]
    run = commands.add_parser(
        "run", usage="sandbox run [OPTIONS] SCRIPT [ARGS] | sandbox run [OPTIONS] -- PROGRAM [ARGS]",
        help="run a script or program in a fresh box",
        epilog="Limits: sizes are bytes or NUMBER with K, M, G or T, binary, in either case, with an optional i "
               "and B (64M = 64m = 64MB = 64MiB = 64Mi); times are seconds or 1.5s, 500ms, 2m; 0 is refused: "
               "'unlimited' removes a limit.",
    )
    run.add_argument("--profile", default="py3", help="a shipped profile name or a YAML file (default: py3)")
    for limit in TABLE:
        if limit.flag:
            run.add_argument(limit.flag, dest=limit.name, metavar="VALUE", help=limit.help)
    run.add_argument("--net", choices=("none", "loopback"), help="network inside the box")
    run.add_argument("--bind", action="append", default=[], metavar="SRC[:DST]", help="read-only bind of a host path")
    run.add_argument("--bind-rw", action="append", default=[], metavar="SRC[:DST]", help="writable bind of a host path")
    run.add_argument("--workdir", metavar="DIR", help="host directory shown read-only at /work, where the program starts")
    run.add_argument("--overlay", metavar="LOWER[:UPPER]",
                     help="LOWER at /work under a writable layer: thrown away, or kept in UPPER (UPPER/upper)")
    run.add_argument("--at-host-path", action="store_true",
                     help="show the work dir at its own host path and start there (/work: a symlink to it)")
    run.add_argument("--rootfs", metavar="DIR", help="a root file system (an unpacked image) instead of the host's")
    run.add_argument("--stdin", metavar="FILE", help="the program reads this file instead of our stdin")
    run.add_argument("--stdout", metavar="FILE", help="write the program's stdout to FILE")
    run.add_argument("--stderr", metavar="FILE", help="write the program's stderr to FILE")
    run.add_argument("--env", action="append", default=[], metavar="K=V|K", help="set (or pass through) a variable")
    run.add_argument("--result", metavar="FILE", help="write the result as JSON to FILE")
    run.add_argument("--json", action="store_true", help="capture the output and print the result as JSON")
    run.add_argument("--spec", metavar="FILE", help="run the JSON run spec in FILE (- for stdin) instead of SCRIPT or "
                     "PROGRAM, and print the result as JSON (README: Run specs)")
    run.add_argument("--cgroup-root", metavar="DIR",
                     help="a cgroup v2 directory delegated to you, for whole-box limits (or $SANDBOX_CGROUP_ROOT)")
    run.add_argument("--name", metavar="NAME", help="list the running box under NAME for sandbox ps/exec/freeze/kill")
    run.add_argument("--systemd-scope", action=argparse.BooleanOptionalAction, default=None,
                     help="run in a transient delegated scope of your systemd user manager, for whole-box cgroup "
                          "limits (default: automatically where your own cgroup is not delegated and a manager "
                          "runs; or $SANDBOX_SYSTEMD_SCOPE=1/0)")
    _add_case_and_file_options(run)


def _add_other_commands(commands) -> None:  # type: ignore[no-untyped-def]
    """profiles, profile, doctor, ps."""
    commands.add_parser("profiles", help="list the shipped profiles (as `profile list`)")
    profile = commands.add_parser("profile", help="list, show or check profiles")
    actions = profile.add_subparsers(dest="action", required=True, parser_class=_Parser)
    actions.add_parser("list", help="the shipped profiles, with their descriptions")
    actions.add_parser("show", help="a profile as the sandbox reads it (JSON; sizes in bytes, times in seconds)"
                       ).add_argument("profile", metavar="NAME|FILE")
    actions.add_parser("check", help="validate a profile file, its seccomp filter included"
                       ).add_argument("profile", metavar="FILE")
    doctor = commands.add_parser("doctor", help="what this host allows, and how to fix what it does not")
    doctor.add_argument("--cgroup-root", metavar="DIR", help="check this delegated cgroup v2 directory")
    commands.add_parser("ps", help="the running named sandboxes and their usage").add_argument(
        "--json", action="store_true", help="one JSON document")
    _add_worker_command(commands)


def _add_worker_command(commands) -> None:  # type: ignore[no-untyped-def]
    """worker: runs from a Celery queue on Redis (sandbox/worker.py; README: Many machines)."""
    worker = commands.add_parser("worker", help="run specs taken from a Celery queue on Redis (task sandbox.run)")
    worker.add_argument("--broker", required=True, metavar="URL",
                        help="the Redis URL, broker and result backend alike (redis://HOST:PORT/DB)")
    worker.add_argument("--concurrency", type=int, metavar="N", help="runs at once (default: one per core)")
    worker.add_argument("--visibility-timeout", type=float, default=300.0, metavar="SECONDS",
                        help="a job whose worker died runs again elsewhere after this long; longer than "
                             "the longest run (default: 300)")
    worker.add_argument("--file-cache", metavar="SIZE", help="the cap of this machine's cache of files named "
                        "by sha256 in specs (default: 1G)")
    worker.add_argument("--loglevel", default="INFO", type=str.upper, metavar="LEVEL",
                        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
                        help="Celery's log level: INFO (the default) logs each job with the start of its result, "
                             "WARNING only trouble")


def _add_exec_command(commands) -> None:  # type: ignore[no-untyped-def]
    run_in = commands.add_parser("exec", usage="sandbox exec [--env K=V|K] NAME -- PROGRAM [ARGS]",
                                 help="run a command inside a running named sandbox, confined as its program")
    run_in.add_argument("--env", action="append", default=[], metavar="K=V|K", help="set (or pass through) a variable")
    run_in.add_argument("name")


def _add_box_control_commands(commands) -> None:  # type: ignore[no-untyped-def]
    """freeze, thaw, kill: the boxes started with `sandbox run --name NAME` (ps and exec: above)."""
    for verb, what in (("freeze", "stop every process of a named sandbox (cgroup.freeze)"),
                       ("thaw", "let a frozen named sandbox run again"),
                       ("kill", "end a named sandbox (its program is reported killed)")):
        commands.add_parser(verb, help=what).add_argument("name")


def _add_case_and_file_options(run: argparse.ArgumentParser) -> None:
    """`run`'s flags for test cases and for files in and out of /work."""
    run.add_argument("--cases", metavar="DIR", help="run once per DIR/NAME.in (the stdin), comparing stdout with "
                     "DIR/NAME.out if there is one; exit 0 if every case is OK, else 1")
    run.add_argument("--fail-fast", action="store_true", help="with --cases: stop at the first case that is not OK")
    run.add_argument("--compare", metavar="MODE",  # checked with --cases: cases need not be imported for a run
                     help="with --cases: lines (the default: trailing spaces and blank lines ignored) or exact")
    run.add_argument("--checker", metavar="PROGRAM", help="with --cases: judge each OK case with PROGRAM INPUT OUTPUT "
                     "ANSWER, in a box of its own (exit 0 OK, 1 WA, 2 PE, else IE), instead of --compare")
    run.add_argument("--checker-profile", metavar="NAME",
                     help="the checker's profile (default: py3 for a .py checker, else native)")
    run.add_argument("--file", action="append", default=[], metavar="SRC[:NAME]",
                     help="copy a host file into /work/NAME (default: its basename), keeping its mode")
    run.add_argument("--collect", action="append", default=[], metavar="NAME",
                     help="after the run, copy the regular file /work/NAME out into --collect-dir")
    run.add_argument("--collect-dir", metavar="DIR",
                     help="where collected files go (default: the current directory; with --cases, DIR/CASE/NAME)")
    run.add_argument("--collect-limit", metavar="SIZE",
                     help="cut each collected file at SIZE (default: the file-size limit, else 16M)")


def _split_command(parser: argparse.ArgumentParser, tokens: list[str]) -> tuple[list[str], Optional[str], list[str]]:
    """Options | SCRIPT ARGS, or options | -- PROGRAM ARGS; our options end at the first positional."""
    run = parser._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr,index]
    takes_value = {s for a in run._actions if a.nargs != 0 for s in a.option_strings}
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token == "--":
            return tokens[:index], None, tokens[index + 1:]
        if not token.startswith("-") or token == "-":
            return tokens[:index], token, tokens[index + 1:]
        index += 2 if token in takes_value else 1
    return tokens, None, []


def _bind(spec: str, writable: bool):  # type: ignore[no-untyped-def]
    from .plan import Bind

    source, _, target = spec.partition(":")
    if not source:
        raise UsageError(f"--bind{'-rw' if writable else ''} {spec!r}: expected SRC[:DST]")
    return Bind(source, target, writable)


def _overlay(spec: Optional[str]) -> Optional[tuple[str, Optional[str]]]:
    if spec is None:
        return None
    lower, _, upper = spec.partition(":")
    if not lower:
        raise UsageError(f"--overlay {spec!r}: expected LOWER[:UPPER]")
    return lower, upper or None


def _env(pairs: Sequence[str]) -> dict[str, str]:
    from .plan import check_env_name

    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not name:
            raise UsageError(f"--env {pair!r}: expected NAME=VALUE or NAME")
        check_env_name(name, "--env")
        if not sep:
            if name not in os.environ:
                raise UsageError(f"--env {name}: not set in the caller's environment")
            value = os.environ[name]
        env[name] = value
    return env


def _open_output(path: Optional[str], flag: str) -> Optional[int]:
    if path is None:
        return None
    from .transfer.host import open_output

    return open_output(path, flag)


def _open_input(path: Optional[str]) -> Optional[int]:
    if path is None:
        return None
    from .transfer.host import open_input

    return open_input(path, "--stdin")


def _sink(opened: Optional[int], ours: int, capture: bool) -> Union[str, int]:
    """Where one of the program's streams goes: a file given by flag, the result (--json), or our
    own stream; when that is a terminal, the program gets a pseudo-terminal of its own."""
    from . import supervisor

    if opened is not None:
        return opened
    if capture:
        return supervisor.CAPTURE
    return supervisor.TERMINAL if os.isatty(ours) else supervisor.PASS


@dataclass
class _Outputs:
    """What a run writes out: its one document (--json on stdout, --result FILE) and the files it
    collects.  The host files are found and held before the first box starts (a box may change what
    their names mean meanwhile).  However the run ends it leaves a document, as isolate always leaves
    its meta file: the result, or, when an error of the sandbox ends it, an IE document."""

    json: bool
    cases: Optional[list[str]] = None  # --cases: every case's name, once found (an empty list before)
    results: list["Result"] = field(default_factory=list)  # --cases: the results so far
    result: Optional["ResultFile"] = None
    collect: Optional["CollectDir"] = None
    written: bool = False

    def write(self, document: dict[str, Any]) -> None:
        """--json first: a --result file a box made unwritable must not cost the caller both.  Once:
        an error while writing it, or after it, never replaces it with an IE document."""
        self.written = True
        text = json.dumps(document, indent=2, sort_keys=True)
        if self.json:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
        if self.result is not None:
            self.result.write(text + "\n")

    def write_error(self, error: SandboxError) -> None:
        """The IE document of a run `error` ended: the keys the IE document always had (a run's:
        verdict, exit_code, signal, message; a batch's: verdict, message, cases, skipped) and `error`,
        the error's to_dict().  If it cannot be written, the one line that reports `error` says so too."""
        if self.written:
            return
        document: dict[str, Any] = {"verdict": "IE", "exit_code": None, "signal": None, "message": error.message}
        if self.cases is not None:
            document = {"verdict": "IE", "message": error.message, "cases": [r.to_dict() for r in self.results],
                        "skipped": self.cases[len(self.results):]}
        try:
            self.write({**document, "error": error.to_dict()})
        except SandboxError as failed:
            both = SandboxError(f"{error.message} (and no IE document: {failed.message})", **error.fields)
            both.exit_code = error.exit_code
            raise both from error

    def close(self) -> None:
        for held in (self.result, self.collect):
            if held is not None:
                held.close()


def _cmd_run(parser: argparse.ArgumentParser, tokens: list[str]) -> int:
    """Every error of the sandbox that ends the run leaves an IE document where --json and --result
    say, but two: flags that do not parse (nothing says where a document would go), and a --result
    path that cannot be used (the document goes to --json alone)."""
    options, script, rest = _split_command(parser, tokens)
    args = parser.parse_args(["run", *options])  # exempt: until the flags parse, no document has a place
    if args.spec is not None:
        _check_spec_options(parser, args, script, rest)
        args.json = True
    outputs = _Outputs(args.json, [] if args.cases is not None else None)
    try:
        if args.result:
            from .transfer.host import ResultFile

            outputs.result = ResultFile(args.result)  # exempt if this fails: the document goes to --json alone
        return _run_spec(args, outputs) if args.spec is not None else _run(args, tokens, script, rest, outputs)
    except SandboxError as e:
        outputs.write_error(e)
        raise
    finally:
        outputs.close()


def _run(args: argparse.Namespace, tokens: list[str], script: Optional[str], rest: list[str],
         outputs: _Outputs) -> int:
    """The run from its flags: the profile and the request, then one box or a batch of cases."""
    from .plan import Request
    from ._cache import load_profile

    _enter_systemd_scope(args.systemd_scope, args.cgroup_root)
    program = tuple(rest) if script is None else ()
    if script is None and not program:
        raise UsageError("sandbox run: nothing to run; give SCRIPT [ARGS] or -- PROGRAM [ARGS]")
    _check_case_and_file_options(args)
    profile = load_profile(args.profile)
    limits = parse_overrides({limit.name: getattr(args, limit.name) for limit in TABLE
                              if limit.flag and getattr(args, limit.name) is not None})
    with contextlib.ExitStack() as held:
        request = Request(
            program=program, script=script, script_args=tuple(rest) if script is not None else (),
            limits=limits, net=args.net,
            binds=tuple([_bind(b, False) for b in args.bind] + [_bind(b, True) for b in args.bind_rw]),
            workdir=args.workdir, env=tuple(_env(args.env).items()), cgroup_root=args.cgroup_root,
            rootfs=args.rootfs, overlay=_overlay(args.overlay), at_host_path=args.at_host_path,
            files=_files(args.file, held),
            collect=tuple(args.collect), collect_limit=parse_size_option("--collect-limit", args.collect_limit),
        )
        if args.collect:
            from .transfer.host import CollectDir

            outputs.collect = CollectDir(args.collect_dir or ".")
        try:
            return _run_cases(args, profile, request, outputs) if args.cases is not None \
                else _run_one(args, profile, request, outputs)
        except ExecError as e:
            raise _not_in_the_box(e, request) from None


SPEC_ALSO = ("spec", "json", "result", "cgroup_root", "systemd_scope")  # what --spec goes with


def _check_spec_options(parser: argparse.ArgumentParser, args: argparse.Namespace, script: Optional[str],
                        rest: list[str]) -> None:
    """--spec is the whole run: a program, or a flag the document has its own key for, beside it is refused."""
    if script is not None or rest:
        raise UsageError("run: --spec FILE is the whole run; give no SCRIPT or -- PROGRAM beside it")
    run = parser._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr,index]
    given = [a.option_strings[0] for a in run._actions
             if a.dest not in SPEC_ALSO and a.option_strings and getattr(args, a.dest, a.default) != a.default]
    if given:
        raise UsageError(f"run: --spec FILE cannot go with {', '.join(given)} (the spec has keys for what a run takes)")


def _run_spec(args: argparse.Namespace, outputs: _Outputs) -> int:
    """--spec FILE: the document run (runspec), its result document printed as --json prints one."""
    from .runspec import exit_code, run_spec_results

    document = _read_spec(args.spec)
    printed, results = run_spec_results(document, cgroup_root=args.cgroup_root, systemd_scope=args.systemd_scope)
    outputs.write(printed)
    _note_root(results[0])  # the same host for every member: said once
    return exit_code(printed, results)


def _read_spec(path: str) -> object:
    """The JSON document in FILE, or on our stdin for "-"."""
    from .transfer.host import open_input

    fd = 0 if path == "-" else open_input(path, "--spec")
    try:
        with open(fd, "rb", closefd=fd != 0) as f:
            text = f.read()
    except OSError as e:
        raise UsageError(f"--spec {path}: cannot read it: {e.strerror}") from None
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise UsageError(f"--spec {path}: not JSON: {e}") from None


def _not_in_the_box(error: ExecError, request: Request) -> ExecError:
    """A program not found in the box, said with why a user of a container often meets it: the box
    sees none of the caller's directories unless bound, so `-- ./prog` finds no ./prog there.  The
    hint is added when the name is relative (./prog, bin/prog) or the caller's directory has a
    file of that name, unless the caller already showed one to the box (--workdir, --overlay, --file)."""
    if error.exit_code != 127 or not request.program:
        return error
    name = request.program[0]
    shown = request.workdir is not None or request.overlay is not None or \
        any(entry[0] == os.path.normpath(name) for entry in request.files)
    if shown or name.startswith("/") or not ("/" in name or os.path.isfile(name)):
        return error
    copy = os.path.normpath(name)
    spec = copy if "/" not in copy else f"{copy}:{copy}"  # --file puts SRC at /work/BASENAME unless told
    return ExecError(f"{error.message} (the box does not see your current directory: show it with --workdir . "
                     f"or copy the file in with --file {spec}, then run ./{copy})", error.exit_code, error.errno)


def _files(specs: list[str], held: contextlib.ExitStack) -> tuple["FileEntry", ...]:
    """--file SRC[:NAME]: each source opened now and closed when `held` ends (the run, or an error)."""
    if not specs:
        return ()
    from .transfer.host import file_entry
    from .transfer.packing import FileSource

    entries = []
    for spec in specs:
        entry = file_entry(spec)
        if isinstance(entry[2], FileSource):
            held.callback(os.close, entry[2].fd)
        entries.append(entry)
    return tuple(entries)


def _run_one(args: argparse.Namespace, profile: Profile, request: Request, outputs: _Outputs) -> int:
    from . import supervisor
    from ._forkserver import fork_here
    from .interrupts import passed_on

    with contextlib.ExitStack() as held:
        stdout = _held(held, _open_output(args.stdout, "--stdout"))
        stderr = _held(held, _open_output(args.stderr, "--stderr"))
        stdio = supervisor.Stdio(
            stdin=_held(held, _open_input(args.stdin)),
            stdout=_sink(stdout, 1, args.json),
            stderr=_sink(stderr, 2, args.json),
        )
        with passed_on() as interrupts:  # Ctrl-C, SIGTERM, SIGHUP: to the program first, as bare
            result = supervisor.run(profile, request, stdio, fork_here, _named(args), interrupts)  # no other thread
    outputs.write(result.to_dict())  # before the files: a box may have spoiled their place
    _note_root(result)
    _write_collected(args, result, outputs)
    if result.verdict.value in NOTEWORTHY and not args.json:
        print(f"sandbox: {result.verdict.value}: {result.message}", file=sys.stderr)
    return result.cli_exit_code


def _note_root(result: "Result") -> None:
    """One line on stderr (--json too: stdout stays the document) for each limit a caller of uid 0
    does not get: the kernel exempts root from RLIMIT_NPROC, so a run as root has no process limit
    unless a delegated cgroup holds the box.  The result's enforced_by says so, as a Mechanism's
    text; it is read back as the Mechanism (Mechanism(text)), never matched as prose."""
    for limit in TABLE:
        text = result.enforced_by.get(limit.name)
        if limit.root_mechanism is not None and text is not None and Mechanism(text) is limit.root_mechanism:
            print(f"sandbox: note: running as root, the {limit.name} limit is {text}; a delegated cgroup "
                  f"(--cgroup-root) or an ordinary user gets it enforced", file=sys.stderr)


def _held(held: contextlib.ExitStack, fd: Optional[int]) -> Optional[int]:
    """A descriptor the run opened, closed when `held` ends."""
    if fd is not None:
        held.callback(os.close, fd)
    return fd


def _named(args: argparse.Namespace) -> "Optional[NamedBox]":
    """--name NAME: the run hook that lists the box while it runs (sandbox ps/exec/freeze/kill)."""
    if not args.name:
        return None
    from .live.registry import NamedBox

    return NamedBox(args.name)


def _check_case_and_file_options(args: argparse.Namespace) -> None:
    """Flags that mean something only together; one that would be silently ignored is an error."""
    if args.checker is None and args.checker_profile is not None:
        raise UsageError("--checker-profile goes with --checker PROGRAM")
    if args.cases is None:
        for flag, given in (("--fail-fast", args.fail_fast), ("--compare", args.compare is not None),
                            ("--checker", args.checker is not None)):
            if given:
                raise UsageError(f"{flag} goes with --cases DIR")
    else:
        if args.checker is not None and args.compare is not None:
            raise UsageError("--compare cannot go with --checker (the checker does the comparing)")
        from .cases import COMPARE_MODES

        if args.compare is not None and args.compare not in COMPARE_MODES:
            raise UsageError(f"--compare {args.compare!r}: expected one of {', '.join(COMPARE_MODES)}")
        why = {"stdin": "each case's stdin is DIR/NAME.in", "stdout": "each case's stdout is captured to compare",
               "stderr": "each case's stderr is passed through, or captured with --json"}
        for stream, reason in why.items():
            if getattr(args, stream) is not None:
                raise UsageError(f"--{stream} cannot go with --cases ({reason})")
    if not args.collect:
        for flag, value in (("--collect-dir", args.collect_dir), ("--collect-limit", args.collect_limit)):
            if value is not None:
                raise UsageError(f"{flag} goes with --collect NAME")


def _run_cases(args: argparse.Namespace, profile: Profile, request: Request, outputs: _Outputs) -> int:
    """--cases DIR: a fresh box per case, judged by cases.run_cases (the loop the API uses too);
    a line per case as it ends, the skipped ones, and a summary.  Exit 0 if every case is OK, else 1.
    The run's host paths are found once, before the first case (supervisor.prepare)."""
    from . import supervisor

    with supervisor.prepare(profile, request) as prepared:
        return _judge_cases(args, prepared, outputs)


def _judge_cases(args: argparse.Namespace, prepared: "Prepared", outputs: _Outputs) -> int:
    from . import supervisor
    from ._forkserver import fork_here
    from .api import stdin_source
    from .cases import Case, cases_from_dir, overall_verdict, run_cases
    from .interrupts import passed_on
    from .result import Verdict

    cases = cases_from_dir(args.cases)
    stderr = _sink(None, 2, args.json)
    hook = _named(args)
    width = max(len(case.name) for case in cases)
    outputs.cases, results = [case.name for case in cases], outputs.results  # what an IE document reports
    with passed_on() as interrupts:  # Ctrl-C reaches the case running; the cases after it are skipped
        def run_one(case: Case) -> Result:
            with stdin_source(case.stdin) as source:
                return supervisor.run_prepared(prepared, supervisor.Stdio(source, supervisor.CAPTURE, stderr),
                                               fork_here, hook, interrupts)

        check = _checking(args, interrupts)
        for result in run_cases(cases, run_one, compare=args.compare or "lines", fail_fast=args.fail_fast,
                                check=check):
            results.append(result)
            _write_collected(args, result, outputs, f"{result.case}/")
            if not args.json:
                print(_case_line(result, width), flush=True)
            if interrupts.seen or interrupts.pending():
                break
    skipped = [case.name for case in cases[len(results):]]
    if results:
        _note_root(results[0])  # once: every case's box had the same limits and mechanisms
    overall = overall_verdict(results)
    if not args.json:
        for name in skipped:
            print(f"{name:<{width}}  skipped")
        print(_summary(overall.value, [r.verdict.value for r in results], len(skipped)))
    outputs.write({"verdict": overall.value, "cases": [r.to_dict() for r in results], "skipped": skipped})
    return 0 if overall is Verdict.OK and not skipped else 1


def _checking(args: argparse.Namespace, interrupts: "Interrupts") -> "Optional[Check]":
    """--checker PROGRAM: read once, before the first case; each OK case is judged by it in a box
    of its own (sandbox.checker), cloned here as the cases' boxes are, with no hook of the cases'."""
    if args.checker is None:
        return None
    from . import supervisor
    from ._forkserver import fork_here
    from .checker import check, load_checker

    checker = load_checker(args.checker, args.checker_profile)

    def run_box(profile: Profile, request: Request) -> Result:
        stdio = supervisor.Stdio(b"", supervisor.CAPTURE, supervisor.STDOUT)
        return supervisor.run(profile, request, stdio, fork_here, None, interrupts)

    return lambda result, case: check(result, case, checker, run_box, args.cgroup_root)


def _case_line(result: Result, width: int) -> str:
    """NAME  VERDICT  cpu, wall, peak memory (when known), and why when not OK."""
    memory = "" if result.memory_peak is None else f"  mem {result.memory_peak / (1 << 20):.1f}M"
    line = (f"{result.case:<{width}}  {result.verdict.value:<3}  cpu {result.cpu_time:.3f}s  "
            f"wall {result.wall_time:.3f}s{memory}")
    return line if result.verdict.value == "OK" else f"{line}  ({result.message})"


def _summary(overall: str, verdicts: list[str], skipped: int) -> str:
    """E.g. "WA: 1 of 3 cases OK (1 WA, 1 skipped)"."""
    counts = [f"{verdicts.count(v)} {v}" for v in dict.fromkeys(verdicts) if v != "OK"]
    counts += [f"{skipped} skipped"] if skipped else []
    total = len(verdicts) + skipped
    return f"{overall}: {verdicts.count('OK')} of {total} cases OK" + (f" ({', '.join(counts)})" if counts else "")


def _write_collected(args: argparse.Namespace, result: Result, outputs: _Outputs, prefix: str = "") -> None:
    """--collect: each file the run brought out, written beneath --collect-dir as PREFIX+NAME; a
    missing or cut one is noted on stderr (the JSON result has them as `files` and `files_truncated`)."""
    for name in args.collect:
        if name in result.files and outputs.collect is not None:
            outputs.collect.write(prefix + name, result.files[name])
        if args.json:
            continue
        if name not in result.files:
            print(f"sandbox: --collect {prefix}{name}: no regular file of that name in /work", file=sys.stderr)
        elif name in result.files_truncated:
            print(f"sandbox: --collect {prefix}{name}: cut at the collect limit", file=sys.stderr)


def _cmd_profile(action: str, name: Optional[str]) -> None:
    """list | show NAME | check FILE; a bad profile is a one-line error (exit 125)."""
    from . import supervisor
    from ._cache import load_profile
    from .plan import seccomp_spec
    from .profile import list_shipped

    if action == "list":
        for shipped in list_shipped():
            print(f"{shipped:10} {load_profile(shipped).description}")
        return
    assert name is not None
    profile = load_profile(name)
    supervisor.compile_seccomp(seccomp_spec(profile), profile.source)  # unknown syscalls are profile errors too
    if action == "show":
        from ._record import asdict

        print(json.dumps(asdict(profile), indent=2, sort_keys=True))
    else:
        print(f"{profile.source}: ok (profile {profile.name})")


def _cmd_exec(parser: argparse.ArgumentParser, tokens: list[str]) -> int:
    """sandbox exec [--env ...] NAME -- PROGRAM [ARGS]: the exit code is the command's (137 if it was
    killed for passing the box's output limit, with one line on stderr, as `sandbox run` exits on OLE)."""
    from .live import registry
    from .live.exec import exec_in

    if "--" not in tokens:
        raise UsageError("sandbox exec: expected NAME -- PROGRAM [ARGS]")
    split = tokens.index("--")
    args = parser.parse_args(["exec", *tokens[:split]])
    box = registry.find(args.name)
    if box.cgroup:
        _enter_scope_to_join(box.cgroup)
    finished = exec_in(box, tokens[split + 1:], _env(args.env))
    if finished.output_limit is not None:
        print(f"sandbox: OLE: output limit exceeded (the box's {finished.output_limit} bytes; the command was killed)",
              file=sys.stderr)
    return finished.exit_code


def _enter_scope_to_join(box_cgroup: str) -> None:
    """Joining a box's cgroup needs write access to the cgroup.procs of the lowest cgroup above both ours
    and the box's.  A box in a scope of the user's systemd manager is joined from a login session's scope
    only through user-UID.slice, which is root's; from a scope of that manager too, through the manager's
    own.  So exec goes into a scope of its own first, where `sandbox run` would have."""
    from . import systemd

    try:
        if systemd.wanted(None, None):
            systemd.start_scope([os.getpid()], f"sandbox exec into {os.path.basename(box_cgroup)}")
    except systemd.ScopeRefused:
        pass  # the join says what was refused, in its own words


def _cmd_ps(as_json: bool) -> None:
    """The running named boxes, oldest first, with what each uses now."""
    from .live import control, registry

    rows: list[dict[str, Any]] = []
    for box in registry.live():
        now = control.usage(box)
        rows.append({"name": box.name, "id": box.id, "pid": box.pid, "profile": box.profile,
                     "state": "frozen" if now.frozen else "running", "cpu_time": round(now.cpu_time, 3),
                     "memory": now.memory, "pids": now.pids, "measured_by": now.measured_by,
                     "uptime": round(control.uptime(box), 1), "cgroup": box.cgroup, "command": list(box.command)})
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'NAME':<16} {'PID':>7} {'PROFILE':<8} {'STATE':<8} {'CPU':>8} {'MEMORY':>9} {'PIDS':>4} "
          f"{'UPTIME':>8}  COMMAND")
    for row in rows:
        memory = "-" if row["memory"] is None else f"{row['memory'] / (1 << 20):.1f}M"
        print(f"{row['name']:<16} {row['pid']:>7} {row['profile']:<8} {row['state']:<8} {row['cpu_time']:>7.2f}s "
              f"{memory:>9} {row['pids']:>4} {row['uptime']:>7.0f}s  {' '.join(row['command'])}")


def _cmd_control(verb: str, name: str) -> None:
    from .live import control, registry

    box = registry.find(name)
    if verb == "kill":
        control.kill(box)
    else:
        control.freeze(box, verb == "freeze")


def _enter_systemd_scope(flag: Optional[bool], cgroup_root: Optional[str]) -> None:
    """Move this process into a delegated scope of the user's systemd manager where that gives the
    boxes a cgroup (sandbox/systemd.py).  Where it was only our default and the manager refuses,
    the run goes on with rlimits, saying so in one line; where it was asked for, that is an error."""
    from . import systemd

    if not systemd.wanted(flag, cgroup_root):
        return
    try:
        systemd.start_scope([os.getpid()], "sandbox run")
    except systemd.ScopeRefused as e:
        if systemd.setting(flag):
            raise
        print(f"sandbox: note: {e.message}; limits are rlimits (--no-systemd-scope says not to ask)", file=sys.stderr)


def _cmd_doctor(cgroup_root: Optional[str]) -> int:
    from .hostcheck import report

    checks = report(cgroup_root)
    for check in checks:
        status = "ok" if check.ok else ("FAIL" if check.essential else "warn")
        print(f"{status:<5}{check.name}: {check.detail}")
        if not check.ok and check.fix:
            print(f"     {check.fix}")
            for line in check.more:
                print(f"         {line}")
    essential_failed = [c.name for c in checks if c.essential and not c.ok]
    print("the sandbox cannot run here: " + ", ".join(essential_failed) if essential_failed
          else "the sandbox can run here" + ("" if all(c.ok for c in checks) else " (see the warnings above)"))
    return 1 if essential_failed else 0


def main(argv: Optional[Sequence[str]] = None) -> NoReturn:
    tokens = list(sys.argv[1:] if argv is None else argv)
    parser = _parser(tokens[0] if tokens[:1] in (["run"], ["exec"]) else None)
    try:
        if not tokens:  # the one error of more than a line: what to type instead
            sys.stderr.write(parser.format_help())
            code = EXIT_SANDBOX_ERROR
        elif tokens[:1] == ["run"]:
            code = _cmd_run(parser, tokens[1:])
        elif tokens[:1] == ["exec"]:
            code = _cmd_exec(parser, tokens[1:])
        else:
            args = parser.parse_args(tokens)
            code = 0
            if args.command == "profiles":
                from .profile import list_shipped

                print("\n".join(list_shipped()))
            elif args.command == "profile":
                _cmd_profile(args.action, getattr(args, "profile", None))
            elif args.command == "doctor":
                code = _cmd_doctor(args.cgroup_root)
            elif args.command == "worker":
                from .worker import serve

                code = serve(args.broker, args.concurrency, args.visibility_timeout,
                             parse_size_option("worker --file-cache", args.file_cache), args.loglevel)
            elif args.command == "ps":
                _cmd_ps(args.json)
            elif args.command in ("freeze", "thaw", "kill"):
                _cmd_control(args.command, args.name)
    except SandboxError as e:
        print(f"sandbox: {e.message}", file=sys.stderr)
        code = e.exit_code
    except KeyboardInterrupt:
        code = 130
    except Exception as e:  # a bug of ours: still one line, unless asked for the traceback
        if os.environ.get("SANDBOX_DEBUG"):
            raise
        print(f"sandbox: internal error: {type(e).__name__}: {e} (SANDBOX_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        code = EXIT_SANDBOX_ERROR
    if argv is None:  # the console script: skip the interpreter's teardown (~20 ms of freeing modules)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except OSError:
                pass  # a reader that went away (`| head`) is not our error
        os._exit(code)
    sys.exit(code)
