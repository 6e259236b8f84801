"""Starting a process of our own: never code from the caller's current directory or environment.  Side: parent.

`python -m sandbox` puts the current directory first on sys.path, and PYTHONPATH,
PYTHONSTARTUP, PYTHONHOME and the user site steer any interpreter that honours the
environment: run from an untrusted checkout that ships a `sandbox/` package, such a
re-execution would run the project's code on the host, as the caller, in no box.
So every Python we start (the fork server) is `-I` (no PYTHON* variables, no user
site, nothing prepended to sys.path) running `-c` code that puts this package's own
parent directory first.  (No program is looked up on PATH: the systemd scope is asked
for over D-Bus, sandbox/systemd.py.)  Man page: python(1) (-I).
"""
from __future__ import annotations

import os
import sys
from typing import Sequence

from .errors import HostError


def package_parent() -> str:
    """The directory this `sandbox` package is imported from."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python_command(code: str, paths: Sequence[str] = (), site: bool = True) -> list[str]:
    """argv for this interpreter, isolated, running `code` with `paths` first on sys.path (default:
    this package's parent, and the user's site-packages if this process imports from it: -I
    leaves it out, and a `pip install --user` keeps our dependencies there).  site=False also
    skips site-packages (-S): only `paths` are added."""
    executable = sys.executable
    if not executable or not os.path.isabs(executable):
        raise HostError(f"cannot start a Python of our own: the interpreter's path is unknown ({executable!r})")
    entries = list(paths) or [package_parent(), *(_user_site() if site else [])]
    boot = f"import sys; sys.path[:0] = {entries!r}; {code}"
    return [executable, "-I", *([] if site else ["-S"]), "-c", boot]


def _user_site() -> list[str]:
    import site

    user = site.getusersitepackages()
    return [user] if site.ENABLE_USER_SITE and user in sys.path else []
