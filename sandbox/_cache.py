"""A per-user disk cache of parsed profile files and compiled seccomp filters.  Side: parent.

Every CLI run is a fresh interpreter.  Parsing a profile (importing PyYAML) and
compiling its filter (importing pyseccomp, which runs `ldconfig -p` to find
libseccomp) cost about 30 ms of each run, for the same answer every time.  The
cache keeps both answers, keyed by what they depend on: the bytes of each
profile file (as CPython keys .pyc files on their source), and the installed
code (and libseccomp) that parses and compiles.

Nothing read from the cache can run code, and nothing in it is trusted more
than the files it stands for: an entry holds data only, a profile file's YAML
*document* as JSON (checked by the same validation code as a freshly parsed one,
every run) or a filter's BPF bytes, after a header naming its key and the
SHA-256 of its payload.  The directory is opened once and checked by its
descriptor, and entries are read through it (sandbox.privatedir): a cache under
a directory another user owns cannot be swapped for theirs between the check
and the read.  Anything wrong with the cache (missing, a symlink, foreign,
writable by others, an entry damaged, a FIFO, unwritable) means the answer is
computed afresh, never an error.  $SANDBOX_CACHE_DIR moves the cache; set it
empty to turn the cache off.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable, Optional

from . import profile as profiles
from .privatedir import NotPrivate, PrivateDir, open_private
from .profile import Profile
from .seccomp import SeccompSpec

CACHE_DIR_ENV = "SANDBOX_CACHE_DIR"
_FORMAT = 2  # 1: pickles
_HERE = os.path.dirname(os.path.abspath(__file__))
# The code whose behaviour the cached answers depend on.
_DOCUMENT_CODE = ("profile.py", "_cache.py")
_FILTER_CODE = ("seccomp.py", "_cache.py")
_LIBSECCOMP = ("/usr/lib/x86_64-linux-gnu/libseccomp.so.2", "/lib/x86_64-linux-gnu/libseccomp.so.2",
               "/usr/lib64/libseccomp.so.2", "/usr/lib/libseccomp.so.2")


def cache_dir() -> Optional[str]:
    """Our cache directory, created if missing; None if it is off or not safely ours."""
    cache = _open()
    if cache is None:
        return None
    cache.close()
    return cache.path


def load_profile(name_or_path: str) -> Profile:
    """profile.load_profile, with each file's YAML document answered from the cache when its
    bytes (read and hashed every time) are ones parsed before; validated afresh either way."""
    path = profiles.resolve_profile_path(name_or_path)
    cache = _open()
    if cache is None:
        return profiles.load_profile(path)
    with cache:
        documents = _Documents(cache)
        profile = profiles.load_profile(path, documents.parse)
        documents.store()  # only once the profile is valid: a typo being fixed is not kept
        return profile


def seccomp_filter(spec: SeccompSpec, compile_filter: Callable[[SeccompSpec], bytes]) -> bytes:
    """compile_filter(spec), answered from the cache when the code and libseccomp are unchanged."""
    cache = _open()
    if cache is None:
        return compile_filter(spec)
    with cache:
        key = _key(repr(("filter", spec, _code_signature(_FILTER_CODE), _libseccomp_signature())))
        bpf = _get(cache, key)
        if bpf is None:
            bpf = compile_filter(spec)
            _put(cache, key, bpf)
        return bpf


class _Documents:
    """profile.Parse backed by the cache: a file's document by the digest of its bytes."""

    def __init__(self, cache: PrivateDir) -> None:
        self._cache = cache
        self._code = repr((_code_signature(_DOCUMENT_CODE), _module_signature("yaml")))
        self._new: list[tuple[str, bytes]] = []

    def parse(self, path: str, raw: bytes, raw_digest: str) -> Any:
        key = _key(repr(("document", raw_digest, self._code)))
        stored = _get(self._cache, key)
        if stored is not None:
            try:
                return json.loads(stored, parse_constant=_no_constant)
            except (ValueError, RecursionError):
                pass  # damaged: parsed afresh below
        document = profiles.parse_yaml(path, raw, raw_digest)
        text = _as_json(document)  # now: validation may change the document
        if text is not None:
            self._new.append((key, text))
        return document

    def store(self) -> None:
        for key, text in self._new:
            _put(self._cache, key, text)


def _as_json(document: Any) -> Optional[bytes]:
    """document as JSON, if JSON gives back exactly the same values (YAML also has dates, non-string
    keys, tuples, ...; such a document is never cached, so a cached one is always the parsed one)."""
    try:
        text = json.dumps(document, allow_nan=False)  # ValueError on NaN and on a cycle (YAML anchors)
        return text.encode() if _plain(document) else None
    except (TypeError, ValueError, RecursionError):
        return None


def _plain(value: Any) -> bool:
    if type(value) is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if type(value) is list:
        return all(_plain(v) for v in value)
    return type(value) in (str, int, float, bool, type(None))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is never stored")


def _open() -> Optional[PrivateDir]:
    """The cache directory, opened and checked; None if it is off or not safely ours."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured == "":
        return None
    if configured is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        configured = os.path.join(base, "sandbox")
    try:
        return open_private(configured)
    except (OSError, NotPrivate):
        return None


def _get(cache: PrivateDir, key: str) -> Optional[bytes]:
    """The entry's payload, or None (no entry, not a file of ours, damaged)."""
    try:
        data = cache.read(key)
    except OSError:
        return None
    if data is None:
        return None
    header, newline, payload = data.partition(b"\n")
    if not newline or header != _header(key, payload):
        return None
    return payload


def _put(cache: PrivateDir, key: str, payload: bytes) -> None:
    """Store atomically; a failure only costs the cache."""
    try:
        cache.replace(key, _header(key, payload) + b"\n" + payload)
    except OSError:
        pass


def _header(key: str, payload: bytes) -> bytes:
    return f"{key} {profiles.digest(payload)}".encode()


def _key(text: str) -> str:
    return profiles.digest(f"{_FORMAT}:{sys.version}:{text}".encode())[:40]


def _stat_signature(path: str) -> tuple[Any, ...]:
    try:
        info = os.stat(path)
    except OSError:
        return (path, None)
    return (path, info.st_ino, info.st_size, info.st_mtime_ns)


def _code_signature(files: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(_stat_signature(os.path.join(_HERE, name)) for name in files)


def _module_signature(name: str) -> tuple[Any, ...]:
    """An installed module's signature, found without importing it (importing is what the cache spares)."""
    for directory in sys.path:
        for candidate in (f"{name}.py", f"{name}/__init__.py"):
            path = os.path.join(directory, candidate)
            if os.path.isfile(path):
                return _stat_signature(path)
    return (name, None)


def _libseccomp_signature() -> tuple[Any, ...]:
    """The installed pyseccomp and libseccomp."""
    return (_module_signature("pyseccomp"),) + tuple(_stat_signature(os.path.realpath(p)) for p in _LIBSECCOMP
                                                    if os.path.exists(p))
