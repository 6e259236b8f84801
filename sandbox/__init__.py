"""sandbox: run untrusted programs in a rootless Linux sandbox.

The public API only; everything else is private to the package.  Names are
imported on first use, so the box's own helper process, which imports
sandbox._child, does not pay for the API, the supervisor and YAML on every run.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "CAPTURE": "api", "PASS": "api", "STDOUT": "api", "TERMINAL": "api", "Sandbox": "api", "run": "api",
    "Member": "groups", "Pipe": "groups", "run_group": "groups",
    "Case": "cases", "cases_from_dir": "cases",
    "Bind": "plan",
    "run_spec": "runspec", "parse_spec": "spec", "interaction_verdict": "checker", "checker_verdict": "checker",
    "Limits": "limits", "Profile": "profile", "load_profile": "profile",
    "Result": "result", "Verdict": "result",
    "SandboxError": "errors", "UsageError": "errors", "ProfileError": "errors", "HostError": "errors",
    "SetupError": "errors", "ExecError": "errors",
}
__all__ = list(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
    value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
