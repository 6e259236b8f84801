"""Value classes as `dataclasses` makes them, without its cost at import.  Side: both.

Why not `dataclasses` itself: a CLI run starts a fresh interpreter, and in Python 3.11 the module
imports `inspect` (with ast, dis, tokenize) and compiles the source of every generated method
with exec(): ~10 ms for the import and ~0.4 ms per class, ~25 ms of a `sandbox run` whose box
costs less (issue 17).  Here each method is one function shared by every class, reading the
class's field names from a tuple: no exec, no compile.

What it makes is what `@dataclass` / `@dataclass(frozen=True)` make for the classes of this
package (no inheritance between them, no ClassVar, InitVar or __post_init__, no ordering): `__init__` with
defaults and default factories, `__repr__`, `__eq__`, `__hash__` (frozen: of the compared
fields; else None, as dataclasses does), a frozen class's `__setattr__`/`__delattr__`
raising dataclasses.FrozenInstanceError (imported then), `__match_args__`; a method the class body
defines itself is kept.  `dataclasses.fields`, `replace`, `asdict` and `is_dataclass` keep
working on them: `__dataclass_fields__` is built by the real module on first use.  mypy sees the
real `dataclasses` (TYPE_CHECKING), so the classes are checked as dataclasses.
"""
from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING, Any, Callable

__all__ = ["FrozenInstanceError", "asdict", "astuple", "dataclass", "field", "replace"]

if TYPE_CHECKING:
    from dataclasses import FrozenInstanceError, asdict, astuple, dataclass, field, replace
else:
    _MISSING = object()
    _FIELDS = "_record_fields"  # the class's tuple of _Field, in declaration order

    def __getattr__(name: str) -> Any:
        """FrozenInstanceError is dataclasses' own, so a caller catching that one catches ours: the module
        is imported only when the name is asked for, or when a frozen instance refuses a change."""
        if name == "FrozenInstanceError":
            import dataclasses

            return dataclasses.FrozenInstanceError
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    class _Field:
        """One declared field; `field(...)` returns one to be found in the class body."""

        __slots__ = ("name", "type", "default", "default_factory", "repr", "compare")

        def __init__(self, default: Any = _MISSING, default_factory: Any = _MISSING, repr: bool = True,
                     compare: bool = True) -> None:
            if default is not _MISSING and default_factory is not _MISSING:
                raise ValueError("cannot specify both default and default_factory")
            self.name, self.type = "", ""
            self.default, self.default_factory, self.repr, self.compare = default, default_factory, repr, compare

    def field(*, default: Any = _MISSING, default_factory: Any = _MISSING, repr: bool = True,
              compare: bool = True) -> Any:
        return _Field(default, default_factory, repr, compare)

    def dataclass(cls: Any = None, /, *, frozen: bool = False) -> Any:
        def wrap(cls: type) -> type:
            return _make(cls, frozen)

        return wrap if cls is None else wrap(cls)

    def _make(cls: type, frozen: bool) -> type:
        fields = _declared_fields(cls)
        setattr(cls, _FIELDS, fields)
        names = tuple(f.name for f in fields)
        cls._record_compared = _tuple_getter([f.name for f in fields if f.compare])  # type: ignore[attr-defined]
        _set_new(cls, "__init__", _init)
        _set_new(cls, "__repr__", _repr)
        _set_new(cls, "__eq__", _eq)
        _set_new(cls, "__match_args__", names)
        if frozen:
            for name, method in (("__setattr__", _frozen_setattr), ("__delattr__", _frozen_delattr)):
                if name in cls.__dict__:
                    raise TypeError(f"cannot overwrite attribute {name} in class {cls.__name__}")
                setattr(cls, name, method)
            if "__hash__" in cls.__dict__ and cls.__dict__["__hash__"] is not None:
                raise TypeError(f"cannot overwrite attribute __hash__ in class {cls.__name__}")
            cls.__hash__ = _hash  # type: ignore[assignment]
        elif "__hash__" not in cls.__dict__ or cls.__dict__["__hash__"] is None:
            cls.__hash__ = None  # type: ignore[assignment]  # eq without frozen: unhashable, as dataclasses
        cls.__dataclass_fields__ = _RealFields()  # type: ignore[attr-defined]
        cls._record_frozen = frozen  # type: ignore[attr-defined]
        return cls

    def _tuple_getter(names: list[str]) -> Callable[[Any], tuple[Any, ...]]:
        """The named attributes as a tuple, read in C (attrgetter): a run hashes its seccomp spec,
        hundreds of rules, to find its compiled filter."""
        if len(names) > 1:
            return attrgetter(*names)
        if names:
            one = attrgetter(names[0])
            return lambda obj: (one(obj),)
        return lambda obj: ()

    def _declared_fields(cls: type) -> tuple[_Field, ...]:
        """The annotated names of the class body, in order, with their defaults (the class keeps a
        plain default as its attribute, as dataclasses does; a field() is taken off)."""
        fields, seen_default = [], False
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():
            found = cls.__dict__.get(name, _MISSING)
            declared = found if isinstance(found, _Field) else _Field(default=found)
            declared.name, declared.type = name, annotation
            if isinstance(found, _Field):
                if declared.default is _MISSING:
                    delattr(cls, name)
                else:
                    setattr(cls, name, declared.default)
            if isinstance(declared.default, (list, dict, set)):
                raise ValueError(f"mutable default {type(declared.default)} for field {name} is not allowed: "
                                 "use default_factory")
            has_default = declared.default is not _MISSING or declared.default_factory is not _MISSING
            if seen_default and not has_default:
                raise TypeError(f"non-default argument {name!r} follows default argument")
            seen_default = seen_default or has_default
            fields.append(declared)
        return tuple(fields)

    def _set_new(cls: type, name: str, value: Any) -> None:
        if name not in cls.__dict__:
            setattr(cls, name, value)

    def _init(self: Any, *args: Any, **kwargs: Any) -> None:
        fields = getattr(type(self), _FIELDS)
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__}() takes {len(fields)} arguments but {len(args)} were given")
        for index, declared in enumerate(fields):
            if index < len(args):
                if declared.name in kwargs:
                    raise TypeError(f"{type(self).__name__}() got multiple values for argument {declared.name!r}")
                value = args[index]
            elif declared.name in kwargs:
                value = kwargs.pop(declared.name)
            elif declared.default is not _MISSING:
                value = declared.default
            elif declared.default_factory is not _MISSING:
                value = declared.default_factory()
            else:
                raise TypeError(f"{type(self).__name__}() missing required argument: {declared.name!r}")
            object.__setattr__(self, declared.name, value)
        if kwargs:  # every known name was taken off above
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {next(iter(kwargs))!r}")

    def _repr(self: Any) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in getattr(type(self), _FIELDS) if f.repr)
        return f"{type(self).__qualname__}({shown})"

    def _compared(self: Any) -> tuple[Any, ...]:
        return type(self)._record_compared(self)  # type: ignore[no-any-return]

    def _eq(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return _compared(self) == _compared(other)
        return NotImplemented

    def _hash(self: Any) -> int:
        return hash(_compared(self))

    def _frozen_setattr(self: Any, name: str, value: Any) -> None:
        import dataclasses

        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def _frozen_delattr(self: Any, name: str) -> None:
        import dataclasses

        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    class _RealFields:
        """`__dataclass_fields__`, made by the real dataclasses module the first time anything asks
        (dataclasses.fields, replace, asdict, is_dataclass): a twin class from make_dataclass with
        the same names, types and defaults lends its Field objects."""

        def __get__(self, instance: Any, owner: type) -> dict[str, Any]:
            made = owner.__dict__.get("_record_real_fields")
            if made is None:
                import dataclasses

                specs = []
                for f in getattr(owner, _FIELDS):
                    options = {"repr": f.repr, "compare": f.compare}
                    if f.default is not _MISSING:
                        options["default"] = f.default
                    if f.default_factory is not _MISSING:
                        options["default_factory"] = f.default_factory
                    specs.append((f.name, f.type, dataclasses.field(**options)))
                twin = dataclasses.make_dataclass(owner.__name__, specs, frozen=owner._record_frozen)
                made = dict(twin.__dataclass_fields__)
                type.__setattr__(owner, "_record_real_fields", made)
            return made

    def replace(obj: Any, /, **changes: Any) -> Any:
        """A copy of obj with some fields changed (dataclasses.replace)."""
        for f in getattr(type(obj), _FIELDS):
            if f.name not in changes:
                changes[f.name] = getattr(obj, f.name)
        return type(obj)(**changes)

    def asdict(obj: Any, *, dict_factory: Callable[[Any], Any] = dict) -> Any:
        """obj as a dict, recursively through records, lists, tuples and dicts (dataclasses.asdict)."""
        def record(value: Any) -> Any:
            return dict_factory([(f.name, _plain(getattr(value, f.name), record)) for f in getattr(type(value), _FIELDS)])

        return record(obj)

    def astuple(obj: Any) -> tuple[Any, ...]:
        """obj's fields as a tuple, recursively (dataclasses.astuple)."""
        return tuple(_plain(getattr(obj, f.name), astuple) for f in getattr(type(obj), _FIELDS))

    def _plain(value: Any, record: Callable[[Any], Any]) -> Any:
        if hasattr(type(value), _FIELDS):
            return record(value)
        if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
            return type(value)(_plain(v, record) for v in value)
        if isinstance(value, dict):
            return type(value)((_plain(k, record), _plain(v, record)) for k, v in value.items())
        if isinstance(value, (str, bytes, int, float, bool, type(None))):
            return value
        import copy

        return copy.deepcopy(value)
