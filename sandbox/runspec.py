"""Running a spec document (spec.py) and its result as JSON: for `sandbox run --spec`, the API, and
whatever carries documents between machines.  Side: parent.

One program runs in a Sandbox of its profile; a group through groups.run_group, each member in a
box of its own; a batch through Sandbox.run_cases, a box per case (and per checker run).  The
result document is Result.to_dict() with "collected" (each collected file, base64) beside it; a
group's is {"results": [...]} in the group's order; a batch's is `sandbox run --cases --json`'s
{"verdict", "cases", "skipped"}.
"""
from __future__ import annotations

from typing import Any, Optional

from .api import Sandbox
from .result import Result, Verdict
from .spec import BatchSpec, GroupSpec, RunSpec, collected, parse_spec


def run_spec(document: object, *, cgroup_root: Optional[str] = None,
             systemd_scope: Optional[bool] = None) -> dict[str, Any]:
    """Run a spec document (a dict, as parsed from JSON) and return its result document."""
    return run_spec_results(document, cgroup_root=cgroup_root, systemd_scope=systemd_scope)[0]


def run_spec_results(document: object, *, cgroup_root: Optional[str] = None,
                     systemd_scope: Optional[bool] = None) -> tuple[dict[str, Any], list[Result]]:
    """The result document and the Results behind it (the CLI takes its exit code from them)."""
    spec = parse_spec(document)
    if isinstance(spec, GroupSpec):
        results = _run_group(spec)
        return {"results": [result_document(r) for r in results]}, results
    if isinstance(spec, BatchSpec):
        return _run_batch(spec, cgroup_root, systemd_scope)
    result = _run_one(spec, cgroup_root, systemd_scope)
    return result_document(result), [result]


def result_document(result: Result) -> dict[str, Any]:
    document = result.to_dict()
    document["collected"] = collected(result.files)
    return document


def exit_code(document: dict[str, Any], results: list[Result]) -> int:
    """`sandbox run --spec`'s exit code: the program's, as `sandbox run` gives it; for a group the
    first member's that is not 0, in the group's order, else 0; for a batch `--cases`' (0 if every
    case ran and is OK, else 1)."""
    if "cases" in document:
        return 0 if document["verdict"] == Verdict.OK.value and not document["skipped"] else 1
    return next((r.cli_exit_code for r in results if r.cli_exit_code != 0), 0)


def _run_one(spec: RunSpec, cgroup_root: Optional[str], systemd_scope: Optional[bool]) -> Result:
    with Sandbox(spec.profile, cgroup_root=cgroup_root, systemd_scope=systemd_scope) as box:
        return box.run(list(spec.argv), **spec.run_kwargs())


def _run_group(spec: GroupSpec) -> list[Result]:
    from .groups import Member, Pipe, run_group

    fed = {target for _, _, target, _ in spec.pipes}
    members = [Member(m.profile, m.argv, m.run_kwargs(piped_stdin=i in fed)) for i, m in enumerate(spec.members)]
    pipes = [Pipe(source, source_fd, target, target_fd) for source, source_fd, target, target_fd in spec.pipes]
    return run_group(members, pipes, wall_time=spec.wall_time)


def _run_batch(spec: BatchSpec, cgroup_root: Optional[str],
               systemd_scope: Optional[bool]) -> tuple[dict[str, Any], list[Result]]:
    from .cases import Case, overall_verdict

    checker = None
    if spec.checker is not None:
        from .checker import checker_of

        checker = checker_of(spec.checker.name, spec.checker.content, spec.checker.profile)
    cases = [Case(case.name, case.stdin, case.expected) for case in spec.cases]
    run = spec.run
    with Sandbox(run.profile, cgroup_root=cgroup_root, systemd_scope=systemd_scope) as box:
        results = box.run_cases(list(run.argv), cases, fail_fast=spec.fail_fast, compare=spec.compare,
                                checker=checker, **run.run_kwargs(piped_stdin=True))
    document = {"verdict": overall_verdict(results).value, "cases": [result_document(r) for r in results],
                "skipped": [case.name for case in cases[len(results):]]}
    return document, results
