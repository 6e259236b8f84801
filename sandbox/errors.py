"""The SandboxError tree.  Side: both.

An error *of the sandbox* (bad profile, host refusal, setup failure) is never
confused with an outcome *of the program* (those are verdicts in result.py).
Every error carries structured fields (as attributes, and in to_dict() for a
judge's logs) and an exit code for the CLI.  Every error crosses process boundaries
whole: it pickles (a worker pool, a task queue) and to_dict() is JSON.

Through a queue that carries JSON only (sandbox.worker: Celery stores a failed task's exception as its
class's module and name and its `args`, and the caller rebuilds it as `cls(*args)`), an error travels in
its wire form, `on_the_wire()`: args (message, to_dict()).  The caller without this package gets a class
of the same name with the message at args[0] and every field at args[1]; the caller with sandbox.errors
imported gets the real class back whole, because calling any class of the tree with exactly its own wire
form rebuilds the error (`_Rebuilt`) instead of running the class's __init__.
"""
from __future__ import annotations

from typing import Any, Optional


class _Rebuilt(type):
    """The tree's metaclass: `Cls(message, document)`, where document is an error's to_dict() naming Cls
    and that message, is the error rebuilt from its wire form; any other call is the class's own."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if not kwargs and len(args) == 2 and _is_wire_form(cls, args[0], args[1]):
            return _from_document(cls, args[1])
        return super().__call__(*args, **kwargs)


def _is_wire_form(cls: type, message: object, document: object) -> bool:
    return (isinstance(message, str) and isinstance(document, dict) and document.get("error") == cls.__name__
            and document.get("message") == message)


def _from_document(cls: type, document: dict[str, Any]) -> "SandboxError":
    """The error as raised: its message, its fields (as `fields` and as attributes, as __init__ sets them)."""
    fields = {k: v for k, v in document.items() if k not in ("error", "message")}
    error: Any = cls.__new__(cls, document["message"])  # type: ignore[call-overload]
    error.__dict__.update(fields, message=document["message"], fields=fields)
    return error


class SandboxError(Exception, metaclass=_Rebuilt):
    """Base of every error the sandbox raises; `exit_code` is what the CLI exits with."""

    exit_code = 125

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def to_dict(self) -> dict[str, object]:
        """{"error": class name, "message": ..., and the fields}: JSON-ready."""
        return {"error": type(self).__name__, "message": self.message, **self.fields}

    def on_the_wire(self) -> "SandboxError":
        """This error with args (message, to_dict()): what a JSON queue carries (the module docstring)."""
        wire = _remade(type(self), self.message, self.to_dict())
        wire.__dict__.update(self.__dict__)
        return wire

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its state, not as a call of __init__: Exception's own reduce calls the class
        again with the message alone, which a subclass with arguments of its own (ProfileError(source,
        problems)) refuses with a TypeError, so a worker pool or a task queue would lose the error.
        Unpickling makes the object without __init__ (args set as raised) and restores __dict__."""
        return _remade, (type(self), *self.args), self.__dict__


def _remade(cls: type[SandboxError], *args: object) -> SandboxError:
    """An error as unpickling finds it: its class and args, without __init__ (its state follows)."""
    return cls.__new__(cls, *args)


class UsageError(SandboxError):
    """The caller asked for something invalid (bad flag value, missing file)."""


class ProfileError(SandboxError):
    """A profile is invalid; `problems` lists every one as "KEY: what was expected", `source` names the file."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("; ".join(f"{source}: {p}" for p in problems), source=source, problems=problems)


class _StepError(SandboxError):
    """An error at one step of building the box: `step` names it, `errno` is the kernel's answer if any."""

    def __init__(self, message: str, step: Optional[str] = None, errno: Optional[int] = None) -> None:
        super().__init__(message, step=step, errno=errno)
        self.step = step
        self.errno = errno


class HostError(_StepError):
    """The host refuses something the sandbox needs; the message names the fix."""


class SetupError(_StepError):
    """Building the box failed before the program ran (reported by the child)."""


class ExecError(SandboxError):
    """The program could not be executed inside the box: exit_code 127 not found, 126 not executable."""

    def __init__(self, message: str, exit_code: int, errno: Optional[int] = None) -> None:
        super().__init__(message, exit_code=exit_code, errno=errno)
        self.exit_code = exit_code
        self.errno = errno

    @classmethod
    def from_record(cls, failure: dict) -> "ExecError":
        """From the box's exec_failed record, which says its exit code (older records: by errno)."""
        code = failure.get("exit_code") or (127 if failure.get("errno") == 2 else 126)
        return cls(failure["message"], code, errno=failure.get("errno"))
