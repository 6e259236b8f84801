"""Sandbox: a validated profile, reusable for many runs.  Side: parent.

Validation (profile, limit overrides, seccomp compilation) happens once in the
constructor, so a judge that runs thousands of programs pays for it once and
learns about a bad profile before the first submission.  Each Sandbox has its
own fork server (started at the first run), so a run costs a fork, not a Python
start; close() (or the end of a `with` block, or of the process) stops it.
"""
from __future__ import annotations

import os
import warnings
import weakref
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Optional, Sequence, Union

from ._record import replace
from . import cgroup, supervisor, systemd
from ._cache import load_profile
from ._forkserver import ForkServer
from .boxio import HandedOver
from .cases import Case, CaseFile, Check, run_cases
from .errors import HostError, UsageError
from .interrupts import Interrupts
from .limits import NO_CGROUP, overridden, parse_overrides, parse_size_option
from .live.registry import NamedBox
from .plan import Bind, Request, seccomp_spec
from .profile import Profile
from .result import Result
from .transfer.host import open_input

if TYPE_CHECKING:
    from .checker import Checker


Sink = supervisor.Sink
CAPTURE = supervisor.CAPTURE
PASS = supervisor.PASS
STDOUT = supervisor.STDOUT
TERMINAL = supervisor.TERMINAL


class Sandbox:
    """A profile plus limit overrides, checked once; call run() as often as needed."""

    def __init__(self, profile: Union[str, Profile] = "py3", *, cgroup_root: Optional[str] = None,
                 systemd_scope: Optional[bool] = None, **limits: object) -> None:
        """cgroup_root: a delegated cgroup v2 subtree for the boxes (default: $SANDBOX_CGROUP_ROOT,
        else this process's own cgroup if it is delegated, else a transient delegated scope of the
        user's systemd manager holding this Sandbox's fork server, else rlimits only).
        systemd_scope: True insists on that scope, False never asks for one (default:
        $SANDBOX_SYSTEMD_SCOPE, else automatic).  limits: the profile's, overridden by name for
        every run (memory="64M"; the names are sandbox.limits' table); a run's own keywords
        override them in turn, the same way."""
        base = profile if isinstance(profile, Profile) else load_profile(profile)
        self.profile = replace(base, limits=overridden(base.limits, parse_overrides(limits)))
        self.cgroup_root = cgroup_root
        self._given_root = cgroup_root  # what a refused scope falls back to (cgroup_root becomes the scope's)
        supervisor.compile_seccomp(seccomp_spec(self.profile), self.profile.source)
        self._systemd_scope = systemd_scope
        self._scoped = systemd.wanted(systemd_scope, cgroup_root)
        self._server = ForkServer(on_start=_weakly(self._into_scope) if self._scoped else None)
        weakref.finalize(self, self._server.close)
        if self._scoped:
            self._server.start()  # now: its scope, or the host's refusal, comes before the first run
        else:  # a host refusal (no subtree, or one without the controllers the profile requires) surfaces here, once
            supervisor.box_controllers(self.profile, supervisor.cgroup_subtree(cgroup_root, self.profile))

    def _into_scope(self, server: int) -> None:
        """Put a starting fork server into a new delegated scope of the user's systemd manager, and
        make that scope this Sandbox's cgroup root: the caller stays where it is, the server moves
        into a leaf of the scope, and each box gets a cgroup beside it.  Where the scope was only
        our default and cannot be had, runs go on with what the caller's own cgroup gives."""
        try:
            scope = systemd.start_scope([server], f"fork server of pid {os.getpid()}")
            supervisor.box_controllers(self.profile, supervisor.cgroup_subtree(scope, self.profile, residents=(server,)))
        except systemd.ScopeRefused as e:
            if systemd.setting(self._systemd_scope):
                raise
            warnings.warn(f"{e.message}; limits are rlimits (systemd_scope=False says not to ask)", stacklevel=3)
            self.cgroup_root = self._given_root  # not an earlier server's scope: gone with that server
            supervisor.box_controllers(self.profile, supervisor.cgroup_subtree(self.cgroup_root, self.profile))
            return
        self.cgroup_root = scope

    def close(self) -> None:
        """Stop this Sandbox's fork server; a later run() starts a new one."""
        self._server.close()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def run(
        self,
        argv: Sequence[str] = (),
        *,
        script: Optional[str] = None,
        args: Sequence[str] = (),
        stdin: Union[None, int, bytes, str, "os.PathLike[str]", HandedOver] = None,
        stdout: Sink = CAPTURE,
        stderr: Sink = CAPTURE,
        env: Optional[Mapping[str, str]] = None,
        binds: Sequence[Bind] = (),
        workdir: Optional[str] = None,
        net: Optional[str] = None,
        files: Optional[Mapping[str, FileContent]] = None,
        collect: Sequence[str] = (),
        collect_limit: Union[None, int, str] = None,
        name: Optional[str] = None,
        rootfs: Optional[str] = None,
        overlay: Union[None, str, tuple[str, Optional[str]]] = None,
        at_host_path: bool = False,
        timeout: Union[None, float, str] = None,
        **limits: object,
    ) -> Result:
        """Run one program (argv) or script in a fresh box; the program's outcome is in the Result.

        stdin: bytes to feed, a file's path, an open descriptor, or None for ours.
        stdout, stderr: CAPTURE (into the Result), PASS (to ours), TERMINAL (to ours, the
        program seeing a pseudo-terminal of its own: use it when ours is a terminal), or a
        descriptor; stderr=STDOUT merges it into stdout, in the order written.
        files: {path under /work: content} put into the box's work dir before the program
        starts; content is bytes, text, or (bytes or text, mode) (default mode 0o644).
        collect: paths under /work brought out after the program ends, into Result.files,
        each cut at collect_limit (default: the file_size limit, else 16M; cut names are in
        Result.files_truncated).  Regular files only; a missing one is simply absent.
        rootfs: a root file system (a directory: an unpacked image) instead of the host's.
        overlay: a host directory shown at /work under a writable layer, thrown away after the
        run, or (lower, upper) to keep the layer in upper (as upper/upper and upper/work).
        at_host_path: show the work dir (workdir, or overlay's lower) at its own host path, start
        there, and make /work a symlink to it (an editable install's recorded path still holds).
        name: list the running box under this name for `sandbox ps`, `exec`, `freeze`, `kill`.
        timeout: the wall-time limit of this run (as subprocess.run's; a TLE verdict, not an
        exception); the other limits by name, e.g. cpu_time="1s", memory="64M".
        """
        request = self._request(argv, script=script, args=args, env=env, binds=binds, workdir=workdir, net=net,
                                files=files, collect=collect, collect_limit=collect_limit, rootfs=rootfs,
                                overlay=overlay, at_host_path=at_host_path, timeout=timeout, **limits)
        return self._run_request(request, stdin, stdout, stderr, name)

    def _run_request(self, request: Request, stdin: Union[None, int, bytes, str, "os.PathLike[str]", HandedOver],
                     stdout: Sink, stderr: Sink, name: Optional[str], interrupts: Optional[Interrupts] = None) -> Result:
        """run() once its Request is made.  interrupts: signal numbers written to its pipe are passed on
        to the program, a second one ends the box (groups.py ends the members of a failed group so)."""
        if stdout == STDOUT:
            raise UsageError("stdout=STDOUT: only stderr can be merged into stdout")
        hook = _named(name)
        with stdin_source(stdin) as source:
            return self._scope_may_go(lambda: supervisor.run(
                self.profile, replace(request, cgroup_root=self._run_cgroup_root()),
                supervisor.Stdio(source, stdout, stderr), self._server.spawn, hook, interrupts))

    def _request(self, argv: Sequence[str] = (), *, script: Optional[str] = None, args: Sequence[str] = (),
                 env: Optional[Mapping[str, str]] = None, binds: Sequence[Bind] = (), workdir: Optional[str] = None,
                 net: Optional[str] = None, files: Optional[Mapping[str, FileContent]] = None,
                 collect: Sequence[str] = (), collect_limit: Union[None, int, str] = None,
                 rootfs: Optional[str] = None, overlay: Union[None, str, tuple[str, Optional[str]]] = None,
                 at_host_path: bool = False, timeout: Union[None, float, str] = None, **limits: object) -> Request:
        """run()'s arguments but the streams, as the Request the supervisor plans from."""
        if timeout is not None:
            if "wall_time" in limits:
                raise UsageError("give timeout or wall_time, not both: they are the same limit")
            limits["wall_time"] = timeout
        return Request(
            program=tuple(argv), script=script, script_args=tuple(args),
            limits=parse_overrides(limits), net=net, binds=tuple(binds), workdir=workdir,
            env=tuple((env or {}).items()), cgroup_root=self._run_cgroup_root(),
            files=tuple(_file_entry(name, content) for name, content in (files or {}).items()),
            collect=tuple(collect), collect_limit=parse_size_option("collect_limit", collect_limit),
            rootfs=rootfs, overlay=(overlay, None) if isinstance(overlay, str) else overlay, at_host_path=at_host_path,
        )

    def _run_cgroup_root(self) -> Optional[str]:
        """The cgroup root for a run starting now.  With a scope, the fork server is started first
        (after close(), or in a forked caller, a new one in a new scope), so it is that scope's."""
        if self._scoped:
            self._server.start()
        return self.cgroup_root

    def _scope_may_go(self, attempt: Callable[[], Result]) -> Result:
        """One attempt more where the scope vanished under a run about to make its box's cgroup there
        (its fork server killed from outside, after the run took its root): the attempt takes the
        root again, which starts a server in a new scope.  Nothing of the run had started."""
        try:
            return attempt()
        except cgroup.SubtreeGone:
            if not self._scoped:
                raise
            return attempt()

    def _in_current_scope(self, prepared: supervisor.Prepared) -> supervisor.Prepared:
        """A batch prepared in one scope whose fork server was since killed from outside and started
        again in a new scope (the old one collected): the same host paths and plan, the new scope's
        subtree, provided it gives the boxes the controllers the plan was made for."""
        root = self._run_cgroup_root()
        if not self._scoped or root == prepared.request.cgroup_root:
            return prepared
        subtree = supervisor.cgroup_subtree(root, self.profile)
        planned = prepared.subtree.controllers if prepared.subtree is not None else NO_CGROUP
        if supervisor.box_controllers(self.profile, subtree) != planned:
            raise HostError(f"the fork server's new scope ({root or 'none'}) gives the boxes other cgroup controllers "
                            f"than the batch was planned for; run the remaining cases again")
        return replace(prepared, subtree=subtree, request=replace(prepared.request, cgroup_root=root))

    def run_cases(
        self,
        argv: Sequence[str] = (),
        cases: Sequence[Case] = (),
        *,
        fail_fast: bool = False,
        compare: Optional[str] = None,
        checker: Union[None, str, "os.PathLike[str]", "Checker"] = None,
        checker_profile: Union[None, str, Profile] = None,
        **run_kwargs: Any,
    ) -> list[Result]:
        """Run argv (or script=...) once per case, each in a fresh box; one Result per case run, in case order.

        Each Result names its case (Result.case).  A case with `expected` turns an OK run
        whose stdout differs into WA: compare="lines" (the default) ignores trailing
        whitespace on each line and trailing blank lines, "exact" wants the same bytes.
        checker: a host path to a checker program (sandbox.checker) that judges each OK run
        instead of the comparison, in a fresh box of its own, called as CHECKER INPUT OUTPUT
        ANSWER; its exit code gives the verdict (0 OK, 1 WA, 2 PE, anything else IE) and its
        output is Result.checker_message.  checker_profile: its profile (default py3 for a .py
        file, else native).  A checker already in memory (sandbox.checker.checker_of: a run
        spec's) is taken as it is, with its own profile.  A run that is not OK keeps its verdict; no checker runs for it.
        fail_fast=True stops after the first case whose verdict is not OK: the list then
        ends with that case's Result and is shorter than `cases`; the cases after it were
        not run.  run_kwargs are run()'s, the same for every case, except stdin (each
        case's own) and stdout (captured, to compare).  An error of the sandbox itself
        (e.g. ExecError: the program does not exist) is raised, as from run().  The host
        paths the runs name are found once, before the first case, and every case's box
        gets those very objects (a box cannot steer where a later case's paths lead).
        """
        for taken in ("stdin", "stdout"):
            if taken in run_kwargs:
                raise UsageError(f"run_cases: {taken} is not an argument here (each case has its own stdin; "
                                 f"stdout is captured to compare)")
        check = self._checking(checker, checker_profile, compare)
        stderr = run_kwargs.pop("stderr", CAPTURE)
        hook = _named(run_kwargs.pop("name", None))
        with supervisor.prepare(self.profile, self._request(argv, **run_kwargs)) as prepared:
            def run_one(case: Case) -> Result:
                with stdin_source(case.stdin) as source:
                    return self._scope_may_go(lambda: supervisor.run_prepared(
                        self._in_current_scope(prepared), supervisor.Stdio(source, CAPTURE, stderr),
                        self._server.spawn, hook))

            return list(run_cases(cases, run_one, compare=compare or "lines", fail_fast=fail_fast, check=check))

    def _checking(self, checker: Union[None, str, "os.PathLike[str]", "Checker"],
                  profile: Union[None, str, Profile], compare: Optional[str]) -> Optional[Check]:
        """run_cases' checker, read once now, as the judge of each OK case (sandbox.checker); its
        boxes come from this Sandbox's fork server, each with the checker's own profile."""
        if checker is None:
            if profile is not None:
                raise UsageError("run_cases: checker_profile goes with checker")
            return None
        if compare is not None:
            raise UsageError("run_cases: give compare or checker, not both (the checker does the comparing)")
        from .checker import Checker, check, load_checker

        if isinstance(checker, Checker) and profile is not None:
            raise UsageError("run_cases: checker_profile goes with a checker's path (a loaded checker has its profile)")
        loaded = checker if isinstance(checker, Checker) else load_checker(checker, profile)

        def run_box(box_profile: Profile, request: Request) -> Result:
            return self._scope_may_go(lambda: supervisor.run(
                box_profile, replace(request, cgroup_root=self._run_cgroup_root()),
                supervisor.Stdio(b"", CAPTURE, STDOUT), self._server.spawn))

        return lambda result, case: check(result, case, loaded, run_box)


def _weakly(method: Callable[[int], None]) -> Callable[[int], None]:
    """A bound method the fork server can hold without keeping its Sandbox alive (weakref.finalize
    closes the server when the Sandbox goes; a strong reference back would delay that to the gc)."""
    ref = weakref.WeakMethod(method)

    def call(pid: int) -> None:
        bound = ref()
        if bound is not None:
            bound(pid)
    return call


@contextmanager
def stdin_source(stdin: Union[None, int, bytes, str, "os.PathLike[str]", HandedOver]) -> Iterator[supervisor.Source]:
    """What the supervisor reads for stdin: None, a descriptor or bytes as given (or a descriptor
    handed over: groups.py's pipe ends); a file's path opened for the length of the run (a missing
    file is the caller's error)."""
    if isinstance(stdin, (type(None), int, bytes, HandedOver)):
        yield stdin
        return
    fd = stdin.open() if isinstance(stdin, CaseFile) else open_input(os.fspath(stdin), "stdin")
    try:
        yield fd
    finally:
        os.close(fd)


FileContent = Union[bytes, str, tuple[Union[bytes, str], int]]


def _named(name: Optional[str]) -> Optional[NamedBox]:
    """The run hook that lists a box under its name while it runs (sandbox ps/exec/freeze/kill)."""
    return NamedBox(name) if name else None


def _file_entry(name: str, content: FileContent) -> tuple[str, int, bytes]:
    mode = 0o644
    if isinstance(content, tuple):
        content, mode = content
    if isinstance(content, str):
        content = content.encode()
    if not isinstance(content, bytes) or not isinstance(mode, int):
        raise UsageError(f"files[{name!r}]: expected bytes, text, or (content, mode)")
    return name, mode, content


def run(argv: Sequence[str], profile: Union[str, Profile] = "py3", **kwargs: object) -> Result:
    """One-shot convenience: Sandbox(profile).run(argv, **kwargs)."""
    with Sandbox(profile) as sandbox:
        return sandbox.run(argv, **kwargs)  # type: ignore[arg-type]
