"""A per-user disk cache of parsed profiles and compiled seccomp filters.  Side: parent.

Every CLI run is a fresh interpreter.  Parsing a profile (importing PyYAML) and
compiling its filter (importing pyseccomp, which runs `ldconfig -p` to find
libseccomp) cost about 30 ms of each run, for the same answer every time.  The
cache keeps both answers, keyed by what they depend on: the content of every
profile file read, and the installed code that parses and compiles (as CPython
keys .pyc files on their source).

Fail safe: a cache entry is a pickle, and a pickle from someone else's hands is
code, so the directory is used only if it is ours and nobody else may write it.
Anything wrong with the cache (missing, foreign, corrupt, unwritable) means the
answer is computed afresh, never an error.  $SANDBOX_CACHE_DIR moves the cache;
set it empty to turn the cache off.
"""
from __future__ import annotations

import os
import pickle
import stat
import sys
from typing import Any, Callable, Optional


from . import profile as profiles
from .profile import Profile
from .seccomp import SeccompSpec

CACHE_DIR_ENV = "SANDBOX_CACHE_DIR"
_FORMAT = 1
_HERE = os.path.dirname(os.path.abspath(__file__))
# The code whose behaviour the cached answers depend on.
_PROFILE_CODE = ("profile.py", "units.py", "_cache.py")
_FILTER_CODE = ("seccomp.py", "_cache.py")
_LIBSECCOMP = ("/usr/lib/x86_64-linux-gnu/libseccomp.so.2", "/lib/x86_64-linux-gnu/libseccomp.so.2",
               "/usr/lib64/libseccomp.so.2", "/usr/lib/libseccomp.so.2")


def cache_dir() -> Optional[str]:
    """Our cache directory, created if missing; None if it is off or not safely ours."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured == "":
        return None
    if configured is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        configured = os.path.join(base, "sandbox")
    try:
        os.makedirs(configured, mode=0o700, exist_ok=True)
        info = os.stat(configured, follow_symlinks=False)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        return None
    return configured


def load_profile(name_or_path: str) -> Profile:
    """profile.load_profile, answered from the cache when no file it read has changed since
    (each is read again and compared by digest: the profile, what it extends, the groups)."""
    path = profiles.resolve_profile_path(name_or_path)
    key = _digest(repr(("profile", path, _code_signature(_PROFILE_CODE))))
    cached = _lookup(key)
    if isinstance(cached, Profile) and cached.sources and all(_unchanged(f, d) for f, d in cached.sources):
        return cached
    profile = profiles.load_profile(path)
    _store(key, profile)
    return profile


def seccomp_filter(spec: SeccompSpec, compile_filter: Callable[[SeccompSpec], bytes]) -> bytes:
    """compile_filter(spec), answered from the cache when the code and libseccomp are unchanged."""
    key = _digest(repr(("filter", spec, _code_signature(_FILTER_CODE), _libseccomp_signature())))
    return _cached(key, lambda: compile_filter(spec))


def _cached(key: str, compute: Callable[[], Any]) -> Any:
    value = _lookup(key)
    if value is None:
        value = compute()
        _store(key, value)
    return value


def _lookup(key: str) -> Any:
    """The stored value, or None (no cache, no entry, a damaged one)."""
    directory = cache_dir()
    if directory is None:
        return None
    try:
        with open(os.path.join(directory, key), "rb") as f:
            stored_key, value = pickle.load(f)
        return value if stored_key == key else None
    except Exception:  # noqa: BLE001 - a missing or damaged entry is recomputed
        return None


def _store(key: str, value: Any) -> None:
    """Write atomically (a temp file renamed over the entry); a failure only costs the cache."""
    directory = cache_dir()
    if directory is None:
        return
    entry = os.path.join(directory, key)
    temp = f"{entry}.{os.getpid()}.tmp"
    try:
        with open(temp, "wb") as f:
            pickle.dump((key, value), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temp, entry)
    except OSError:
        try:
            os.unlink(temp)
        except OSError:
            pass


def _unchanged(path: str, digest: str) -> bool:
    try:
        with open(path, "rb") as f:
            return profiles.digest(f.read()) == digest
    except OSError:
        return False


def _digest(text: str) -> str:
    return profiles.digest(f"{_FORMAT}:{sys.version}:{text}".encode())[:40]


def _stat_signature(path: str) -> tuple[Any, ...]:
    try:
        info = os.stat(path)
    except OSError:
        return (path, None)
    return (path, info.st_ino, info.st_size, info.st_mtime_ns)


def _code_signature(files: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(_stat_signature(os.path.join(_HERE, name)) for name in files)


def _libseccomp_signature() -> tuple[Any, ...]:
    """The installed pyseccomp and libseccomp, found without importing pyseccomp."""
    module = next((os.path.join(d, name) for d in sys.path for name in ("pyseccomp.py", "pyseccomp/__init__.py")
                   if os.path.isfile(os.path.join(d, name))), "pyseccomp")
    return (_stat_signature(module),) + tuple(_stat_signature(os.path.realpath(p)) for p in _LIBSECCOMP
                                              if os.path.exists(p))
