"""sandbox._record: value classes that behave as dataclasses make them, checked side by side with
dataclasses on the same class bodies (the package's classes are built by _record, issue 17)."""
from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Optional

import pytest

from sandbox import _record


def _both(frozen: bool):
    """The same class body made by dataclasses and by _record."""
    made = []
    for module in (dataclasses, _record):
        @module.dataclass(frozen=frozen)
        class Point:
            x: int
            y: int = 2
            tags: list = module.field(default_factory=list)
            note: Optional[str] = module.field(default=None, repr=False, compare=False)

        made.append(Point)
    return made


@pytest.mark.parametrize("frozen", [True, False])
def test_init_repr_eq_and_hash_are_those_of_dataclasses(frozen):
    real, ours = _both(frozen)
    for args, kwargs in [((1,), {}), ((1, 5), {"note": "n"}), ((), {"x": 3, "tags": ["a"]})]:
        a, b = real(*args, **kwargs), ours(*args, **kwargs)
        assert repr(a).split("(", 1)[1] == repr(b).split("(", 1)[1]
        assert vars(a) == vars(b)
        assert (ours(*args, **kwargs) == b) and not (b == real(*args, **kwargs))  # another class is never equal
        assert ours(1, note="x") == ours(1, note="y")  # compare=False
    assert real(1).tags is not real(1).tags and ours(1).tags is not ours(1).tags  # a fresh default each time
    if frozen:
        assert hash(ours(1, 2, ())) == hash(ours(1, 2, ()))
    else:
        assert real.__hash__ is None and ours.__hash__ is None


def test_wrong_arguments_are_type_errors_as_with_dataclasses():
    real, ours = _both(True)
    for args, kwargs in [((), {}), ((1, 2, [], None, 9), {}), ((1,), {"x": 2}), ((1,), {"z": 0})]:
        with pytest.raises(TypeError):
            real(*args, **kwargs)
        with pytest.raises(TypeError):
            ours(*args, **kwargs)


def test_a_frozen_instance_refuses_assignment_and_deletion():
    _, ours = _both(True)
    point = ours(1)
    with pytest.raises(_record.FrozenInstanceError):
        point.x = 2
    with pytest.raises(AttributeError):
        del point.x
    assert point.x == 1


def test_class_bodies_dataclasses_refuses_are_refused():
    with pytest.raises(TypeError):
        @_record.dataclass
        class NonDefaultAfterDefault:
            a: int = 1
            b: int
    with pytest.raises(ValueError):
        @_record.dataclass
        class MutableDefault:
            a: list = []  # noqa: RUF012


def test_replace_asdict_astuple_pickle_and_deepcopy():
    _, ours = _both(True)
    inner = ours(1, tags=[ours(2)])
    changed = _record.replace(inner, y=7)
    assert (changed.x, changed.y, changed.tags) == (1, 7, inner.tags)
    with pytest.raises(TypeError):
        _record.replace(inner, nonsense=1)
    assert _record.asdict(inner) == {"x": 1, "y": 2, "tags": [{"x": 2, "y": 2, "tags": [], "note": None}], "note": None}
    assert _record.astuple(ours(1, 2, [])) == (1, 2, [], None)


def test_the_real_dataclasses_functions_work_on_them():
    """Callers (and our tests) use dataclasses.fields/replace/asdict on the package's classes."""
    from sandbox.limits import Limits
    from sandbox.result import Result

    assert dataclasses.is_dataclass(Limits) and dataclasses.is_dataclass(Limits())
    names = [f.name for f in dataclasses.fields(Limits)]
    assert names[:3] == ["cpu_time", "wall_time", "memory"]
    assert all(f.default is None and f.type.startswith("Optional[") for f in dataclasses.fields(Limits))
    assert dataclasses.replace(Limits(memory=1), pids=2) == Limits(memory=1, pids=2)
    assert dataclasses.asdict(Limits(memory=1))["memory"] == 1
    (files,) = [f for f in dataclasses.fields(Result) if f.name == "files"]
    assert files.default_factory is dict


def test_instances_survive_pickle_and_deepcopy():
    from sandbox.limits import Limits

    limits = Limits(memory=64 << 20, cpu_time=1.5)
    assert pickle.loads(pickle.dumps(limits)) == limits
    assert copy.deepcopy(limits) == limits and copy.copy(limits) == limits


def test_no_module_of_a_run_imports_dataclasses():
    """The point of _record: a CLI run imports neither dataclasses nor inspect (~10 ms)."""
    import subprocess
    import sys

    code = ("import sys; import sandbox.cli, sandbox.api, sandbox.supervisor, sandbox._child, sandbox.cases, "
            "sandbox.checker; "
            "print(sorted(m for m in ('dataclasses', 'inspect', 'yaml', 'pyseccomp') if m in sys.modules))")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           cwd=__import__("os").path.dirname(__import__("os").path.dirname(_record.__file__)))
    assert shown.stdout.strip() == "[]"


def test_a_run_parses_with_the_same_run_parser_as_the_whole_command_line():
    """cli._parser(only="run") builds just `run` (issue 17): its flags and help stay those of the full parser."""
    from sandbox import cli

    def run_help(parser):  # type: ignore[no-untyped-def]
        return parser._subparsers._group_actions[0].choices["run"].format_help()

    assert run_help(cli._parser("run")) == run_help(cli._parser())
    exec_help = cli._parser("exec")._subparsers._group_actions[0].choices["exec"].format_help()
    assert exec_help == cli._parser()._subparsers._group_actions[0].choices["exec"].format_help()


def test_a_frozen_package_value_raises_the_real_frozen_instance_error():
    """A caller of the API catching dataclasses.FrozenInstanceError (what a frozen dataclass raises) still
    catches it on the package's frozen values (Profile, Plan, ...): the error is dataclasses' own, imported
    only when one is raised."""
    import dataclasses

    from sandbox.seccomp import SeccompSpec

    spec = SeccompSpec("kill", (), ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.default = "ENOSYS"
    with pytest.raises(dataclasses.FrozenInstanceError):
        del spec.default
    assert _record.FrozenInstanceError is dataclasses.FrozenInstanceError
