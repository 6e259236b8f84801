"""The SandboxError tree.  Side: both.

An error *of the sandbox* (bad profile, host refusal, setup failure) is never
confused with an outcome *of the program* (those are verdicts in result.py).
Every error carries structured fields and an exit code for the CLI.
"""
from __future__ import annotations


class SandboxError(Exception):
    """Base of every error the sandbox raises; `exit_code` is what the CLI exits with."""

    exit_code = 125

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields


class UsageError(SandboxError):
    """The caller asked for something invalid (bad flag value, missing file)."""


class ProfileError(SandboxError):
    """A profile is invalid; `problems` lists every one as "FILE: KEY: what was expected"."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("; ".join(f"{source}: {p}" for p in problems), source=source, problems=problems)


class HostError(SandboxError):
    """The host refuses something the sandbox needs; the message names the fix."""


class SetupError(SandboxError):
    """Building the box failed before the program ran (reported by the child)."""


class ExecError(SandboxError):
    """The program could not be executed inside the box: 127 not found, 126 not executable."""

    def __init__(self, message: str, exit_code: int, **fields: object) -> None:
        super().__init__(message, **fields)
        self.exit_code = exit_code
