"""A run as one JSON document: what judges in other languages send, and what a worker carries.  Side: parent.

Everything `Sandbox.run` takes that makes sense on the wire, as plain JSON (issue 18's contract;
tests outside this repository use these keys):

  {"profile": "py3",                       a shipped name or a profile file's path
   "argv": ["python3", "-c", "..."],       or "script": PATH with "args": [...]
   "stdin": "text" | {"base64": "..."},    default: empty
   "files": {"NAME": "text" | {"base64": "...", "mode": 493}},   into /work before the program
   "collect": ["NAME", ...],               out of /work after it: the result's "collected"
   "limits": {"cpu_time": "1s", "memory": "64M"},   the profile's limit names and units
   "env": {"NAME": "value"}}

A group runs several such programs at once, each in a box of its own, their streams joined:

  {"group": [SPEC, SPEC, ...], "pipes": [{"from": [i, 1], "to": [j, 0]}, ...], "wall_time": "10s"}

A batch runs one program against many test cases, each in a fresh box (Sandbox.run_cases), judged by
comparison or by a checker program (sandbox.checker) that travels in the document:

  {SPEC's keys but stdin,
   "cases": [{"name": "1", "stdin": CONTENT, "expected": CONTENT}, ...],   expected: optional
   "compare": "lines" | "exact",  or  "checker": {"name": "check.py", "content": CONTENT, "profile": "py3"},
   "fail_fast": false}

The result is Result.to_dict() plus "collected" ({name: base64}); a group's is {"results": [...]}
in the group's order; a batch's is `sandbox run --cases --json`'s {"verdict", "cases": [...], "skipped"}.
The document is checked strictly, every problem a UsageError naming its key; `spec_schema()` is the
same rules as a JSON Schema (shipped as profiles/spec.schema.json; a unit test keeps them one).
"""
from __future__ import annotations

import base64
import binascii
from typing import Any, Mapping, Optional, Sequence, Union

from ._record import dataclass
from .cases import COMPARE_MODES
from .errors import UsageError
from .limits import TABLE, limits_schema, parse_overrides

RUN_KEYS = ("profile", "argv", "script", "args", "stdin", "files", "collect", "limits", "env")
GROUP_KEYS = ("group", "pipes", "wall_time")
BATCH_KEYS = tuple(key for key in RUN_KEYS if key != "stdin") + ("cases", "compare", "checker", "fail_fast")
CASE_KEYS = ("name", "stdin", "expected")
CHECKER_KEYS = ("name", "content", "profile")
PIPE_FDS = {"from": (1, 2), "to": (0,)}


@dataclass(frozen=True)
class RunSpec:
    """One program's run, checked: Sandbox(profile).run(argv, **run_kwargs()) runs it."""

    profile: str
    argv: tuple[str, ...] = ()
    script: Optional[str] = None
    args: tuple[str, ...] = ()
    stdin: Optional[bytes] = None
    files: tuple[tuple[str, bytes, int], ...] = ()
    collect: tuple[str, ...] = ()
    limits: tuple[tuple[str, object], ...] = ()
    env: tuple[tuple[str, str], ...] = ()

    def run_kwargs(self, piped_stdin: bool = False) -> dict[str, Any]:
        """Sandbox.run's keywords (argv aside); with piped_stdin, something else feeds fd 0 (a group's
        pipe, a batch's cases), so no stdin keyword."""
        kwargs: dict[str, Any] = {"files": {name: (content, mode) for name, content, mode in self.files},
                                  "collect": list(self.collect), "env": dict(self.env), **dict(self.limits)}
        if self.script is not None:
            kwargs.update(script=self.script, args=list(self.args))
        if not piped_stdin:
            kwargs["stdin"] = self.stdin if self.stdin is not None else b""
        return kwargs


@dataclass(frozen=True)
class GroupSpec:
    """Programs run at once, fd 1 (or 2) of one feeding fd 0 of another, per pipe."""

    members: tuple[RunSpec, ...]
    pipes: tuple[tuple[int, int, int, int], ...]  # (source, source_fd, target, target_fd)
    wall_time: Optional[float] = None  # seconds, parsed as the wall_time limit is


@dataclass(frozen=True)
class CaseSpec:
    """One test of a batch: its stdin, and the output expected (None: the checker gets an empty answer)."""

    name: str
    stdin: bytes = b""
    expected: Optional[bytes] = None


@dataclass(frozen=True)
class CheckerSpec:
    """A batch's checker program as it travels: its file name (whose suffix picks the default profile,
    as for --checker), its content, and its profile (None: by the name)."""

    name: str
    content: bytes
    profile: Optional[str] = None


@dataclass(frozen=True)
class BatchSpec:
    """One program against many cases, each in a fresh box: Sandbox(run.profile).run_cases(...)."""

    run: RunSpec
    cases: tuple[CaseSpec, ...]
    compare: Optional[str] = None
    checker: Optional[CheckerSpec] = None
    fail_fast: bool = False


Spec = Union[RunSpec, GroupSpec, BatchSpec]


def parse_spec(document: object) -> Spec:
    """The document checked and made typed; every problem is a UsageError naming where it is."""
    if not isinstance(document, dict):
        raise UsageError("spec: expected a JSON object")
    if "group" in document:
        return _group(document)
    if "cases" in document:
        return _batch(document)
    return _run(document, "spec")


def _run(document: object, where: str) -> RunSpec:
    if not isinstance(document, dict):
        raise UsageError(f"{where}: expected a JSON object")
    _only(document, RUN_KEYS, where)
    profile = _text(document.get("profile", "py3"), f"{where}.profile")
    argv, script = document.get("argv"), document.get("script")
    if (argv is None) == (script is None):
        raise UsageError(f"{where}: give argv (a list) or script (a path), not both or neither")
    if argv is not None and not _texts(argv, f"{where}.argv"):  # a list of strings, and not an empty one
        raise UsageError(f"{where}.argv: expected a non-empty list of strings")
    if "args" in document and script is None:
        raise UsageError(f"{where}.args: goes with script (argv carries a program's arguments)")
    return RunSpec(
        profile=profile, argv=tuple(argv or ()),
        script=None if script is None else _text(script, f"{where}.script"),
        args=tuple(_texts(document.get("args", []), f"{where}.args")),
        stdin=None if "stdin" not in document else _content(document["stdin"], f"{where}.stdin")[0],
        files=tuple(_files(document.get("files", {}), f"{where}.files")),
        collect=tuple(_texts(document.get("collect", []), f"{where}.collect")),
        limits=tuple(_limits(document.get("limits", {}), f"{where}.limits").items()),
        env=tuple(_strings(document.get("env", {}), f"{where}.env").items()),
    )


def _group(document: dict[str, Any]) -> GroupSpec:
    _only(document, GROUP_KEYS, "spec")
    members = document["group"]
    if not isinstance(members, list) or not members:
        raise UsageError("spec.group: expected a non-empty list of run specs")
    runs = tuple(_run(member, f"spec.group[{i}]") for i, member in enumerate(members))
    pipes = document.get("pipes", [])
    if not isinstance(pipes, list):
        raise UsageError("spec.pipes: expected a list of {\"from\": [i, fd], \"to\": [j, fd]}")
    joined = tuple(_pipe(pipe, f"spec.pipes[{k}]", len(runs)) for k, pipe in enumerate(pipes))
    fed = [target for _, _, target, _ in joined]
    for target in fed:
        if fed.count(target) > 1:
            raise UsageError(f"spec.pipes: more than one pipe feeds fd 0 of program {target}")
        if runs[target].stdin is not None:
            raise UsageError(f"spec.group[{target}].stdin: a pipe feeds its fd 0 already")
    wall_time = parse_overrides({"wall_time": document.get("wall_time")})["wall_time"]  # "10s", 10, null
    return GroupSpec(runs, joined, wall_time)


def _batch(document: dict[str, Any]) -> BatchSpec:
    if "stdin" in document:
        raise UsageError("spec.stdin: a batch's cases each have their own (spec.cases[i].stdin)")
    _only(document, BATCH_KEYS, "spec")
    run = _run({key: value for key, value in document.items() if key in RUN_KEYS}, "spec")
    cases = document["cases"]
    if not isinstance(cases, list) or not cases:
        raise UsageError("spec.cases: expected a non-empty list of {\"name\": ..., \"stdin\": ..., \"expected\": ...}")
    parsed = tuple(_case(case, f"spec.cases[{i}]") for i, case in enumerate(cases))
    names = [case.name for case in parsed]
    repeated = next((name for name in names if names.count(name) > 1), None)
    if repeated is not None:
        raise UsageError(f"spec.cases: the name {repeated!r} is given twice (each case names its result)")
    compare = document.get("compare")
    if compare is not None and compare not in COMPARE_MODES:
        raise UsageError(f"spec.compare: expected one of {', '.join(COMPARE_MODES)}")
    checker = None if document.get("checker") is None else _checker(document["checker"], "spec.checker")
    if "checker" in document and "compare" in document:
        raise UsageError("spec: give compare or checker, not both (the checker does the comparing)")
    fail_fast = document.get("fail_fast", False)
    if type(fail_fast) is not bool:
        raise UsageError("spec.fail_fast: expected true or false")
    return BatchSpec(run, parsed, compare, checker, fail_fast)


def _case(document: object, where: str) -> CaseSpec:
    if not isinstance(document, dict):
        raise UsageError(f"{where}: expected a JSON object")
    _only(document, CASE_KEYS, where)
    return CaseSpec(_text(document.get("name"), f"{where}.name"),
                    _content(document.get("stdin", ""), f"{where}.stdin")[0],
                    None if document.get("expected") is None else _content(document["expected"], f"{where}.expected")[0])


def _checker(document: object, where: str) -> CheckerSpec:
    if not isinstance(document, dict) or "content" not in document:
        raise UsageError(f"{where}: expected {{\"name\": ..., \"content\": ..., \"profile\": ...}}")
    _only(document, CHECKER_KEYS, where)
    name = _text(document.get("name", "checker"), f"{where}.name")
    if "/" in name:
        raise UsageError(f"{where}.name: a file name, without /")
    profile = None if document.get("profile") is None else _text(document["profile"], f"{where}.profile")
    return CheckerSpec(name, _content(document["content"], f"{where}.content")[0], profile)


def _pipe(pipe: object, where: str, members: int) -> tuple[int, int, int, int]:
    if not isinstance(pipe, dict) or set(pipe) != {"from", "to"}:
        raise UsageError(f"{where}: expected {{\"from\": [i, fd], \"to\": [j, fd]}}")
    ends = []
    for end in ("from", "to"):
        value = pipe[end]
        if not (isinstance(value, list) and len(value) == 2 and all(type(v) is int for v in value)):
            raise UsageError(f"{where}.{end}: expected [program index, fd]")
        index, fd = value
        if not 0 <= index < members:
            raise UsageError(f"{where}.{end}: no program {index} in a group of {members}")
        if fd not in PIPE_FDS[end]:
            raise UsageError(f"{where}.{end}: fd {fd}; a pipe goes from fd 1 or 2 to fd 0")
        ends += [index, fd]
    return ends[0], ends[1], ends[2], ends[3]


def _only(document: Mapping[str, object], known: Sequence[str], where: str) -> None:
    unknown = sorted(set(document) - set(known))
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(known)})")


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise UsageError(f"{where}: expected a non-empty string")
    return value


def _texts(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where}: expected a list of strings")
    return value


def _strings(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise UsageError(f"{where}: expected an object of strings")
    return value


def _content(value: object, where: str, mode: bool = False) -> tuple[bytes, int]:
    """A string (UTF-8), or {"base64": "..."} (with "mode" where files take one); the mode or 0o644."""
    if isinstance(value, str):
        return value.encode(), 0o644
    keys = {"base64", "mode"} if mode else {"base64"}
    if not isinstance(value, dict) or "base64" not in value or not set(value) <= keys:
        shape = '{"base64": ..., "mode": ...}' if mode else '{"base64": ...}'
        raise UsageError(f"{where}: expected a string or {shape}")
    try:
        data = base64.b64decode(value["base64"], validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise UsageError(f"{where}.base64: not base64") from None
    file_mode = value.get("mode", 0o644)
    if type(file_mode) is not int or not 0 <= file_mode <= 0o777:
        raise UsageError(f"{where}.mode: expected permission bits, 0 to 511 (0o777)")
    return data, file_mode


def _files(value: object, where: str) -> list[tuple[str, bytes, int]]:
    if not isinstance(value, dict):
        raise UsageError(f"{where}: expected an object {{name: content}}")
    return [(name, *_content(content, f"{where}.{name}", mode=True)) for name, content in value.items()]


def _limits(value: object, where: str) -> dict[str, object]:
    """Names the profile's (parsed later, by the run, with the profile's units and messages)."""
    if not isinstance(value, dict):
        raise UsageError(f"{where}: expected an object {{limit: value}}")
    known = [limit.name for limit in TABLE]
    _only(value, known, where)
    return value


def spec_schema() -> dict[str, object]:
    """The JSON Schema of a spec document (profiles/spec.schema.json holds it; scripts/profile-schema
    writes it): the rules parse_spec applies, said for tools that validate before they send."""
    content = {"anyOf": [{"type": "string"}, {"type": "object", "additionalProperties": False,
                                                "required": ["base64"], "properties": {"base64": {"type": "string"}}}]}
    file_content = {"anyOf": [{"type": "string"}, {
        "type": "object", "additionalProperties": False, "required": ["base64"],
        "properties": {"base64": {"type": "string"}, "mode": {"type": "integer", "minimum": 0, "maximum": 511}}}]}
    strings = {"type": "array", "items": {"type": "string"}}
    text = {"type": "string", "minLength": 1}
    program = [{"required": ["argv"], "not": {"anyOf": [{"required": ["script"]}, {"required": ["args"]}]}},
               {"required": ["script"], "not": {"required": ["argv"]}}]
    run_properties = {
        "profile": text, "argv": {**strings, "minItems": 1}, "script": text, "args": strings, "stdin": content,
        "files": {"type": "object", "additionalProperties": file_content}, "collect": strings,
        "limits": limits_schema(), "env": {"type": "object", "additionalProperties": {"type": "string"}}}
    run = {"type": "object", "additionalProperties": False, "oneOf": program, "properties": run_properties}
    case = {"type": "object", "additionalProperties": False, "required": ["name"],
            "properties": {"name": text, "stdin": content, "expected": {"anyOf": [content, {"type": "null"}]}}}
    checker = {"type": "object", "additionalProperties": False, "required": ["content"],
               "properties": {"name": {**text, "pattern": "^[^/]+$"}, "content": content,
                              "profile": {"anyOf": [text, {"type": "null"}]}}}
    batch = {"type": "object", "additionalProperties": False, "required": ["cases"], "oneOf": program,
             "not": {"required": ["compare", "checker"]},
             "properties": {**{key: value for key, value in run_properties.items() if key != "stdin"},
                            "cases": {"type": "array", "minItems": 1, "items": case},
                            "compare": {"enum": [*COMPARE_MODES, None]},
                            "checker": {"anyOf": [checker, {"type": "null"}]}, "fail_fast": {"type": "boolean"}}}
    def end(fds: tuple[int, ...]) -> dict[str, object]:
        return {"type": "array", "minItems": 2, "items": False,
                "prefixItems": [{"type": "integer", "minimum": 0}, {"enum": list(fds)}]}

    pipe = {"type": "object", "additionalProperties": False, "required": ["from", "to"],
            "properties": {"from": end(PIPE_FDS["from"]), "to": end(PIPE_FDS["to"])}}
    group = {"type": "object", "additionalProperties": False, "required": ["group"],
             "properties": {"group": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/run"}},
                            "pipes": {"type": "array", "items": pipe},
                            "wall_time": limits_schema()["properties"]["wall_time"]}}  # type: ignore[index]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "sandbox run spec",
            "$defs": {"run": run}, "oneOf": [{"$ref": "#/$defs/run"}, group, batch]}


def collected(files: Mapping[str, bytes]) -> dict[str, str]:
    """The result's "collected": each collected file's content, base64."""
    return {name: base64.b64encode(content).decode("ascii") for name, content in files.items()}
