"""Files addressed by content, kept once per machine: big files travel once (issue 19, point 3).  Side: parent.

A spec a worker takes may name a file of /work by its SHA-256 instead of carrying it:

  "files": {"NAME": {"sha256": "HEX", "mode": 493}}

The worker looks in its cache directory (one per user and machine, shared by its pool processes, cut to
a size cap, oldest used first), and on a miss fetches the content once from the broker, where the client
put it with the task `sandbox.put`; the content is checked against its hash before use.  `resolve` turns
such a document into the plain one sandbox.spec takes (the file's content as base64), so a run is the
same run either way.  No celery here: the fetch is the caller's function.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
from typing import Any, Callable, Optional

from .errors import UsageError

HASH = re.compile(r"[0-9a-f]{64}")
Fetch = Callable[[str], Optional[bytes]]


class FileCache:
    """A directory of files named by their SHA-256, at most `cap` bytes in all."""

    def __init__(self, directory: str, cap: int) -> None:
        self.directory = directory
        self.cap = cap
        os.makedirs(directory, mode=0o700, exist_ok=True)

    def get(self, digest: str, fetch: Fetch) -> bytes:
        """The content, from the directory, or fetched once and kept (written aside, then renamed: a
        pool process beside us never reads half a file)."""
        path = os.path.join(self.directory, digest)
        try:
            with open(path, "rb") as f:
                content = f.read()
            if hashlib.sha256(content).hexdigest() == digest:
                os.utime(path)  # used now: evicted last
                return content
        except FileNotFoundError:
            pass
        fetched = fetch(digest)
        if fetched is None or hashlib.sha256(fetched).hexdigest() != digest:
            raise UsageError(f"files: no file with sha256 {digest} on the broker (put it first: task sandbox.put)")
        self._keep(digest, fetched)
        return fetched

    def _keep(self, digest: str, content: bytes) -> None:
        if len(content) > self.cap:
            return  # used this once, never kept
        self._evict(self.cap - len(content))
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".part-")
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.replace(temporary, os.path.join(self.directory, digest))

    def _evict(self, room: int) -> None:
        """Remove the least recently used files until the rest fit in `room` bytes."""
        entries = []
        for name in os.listdir(self.directory):
            if HASH.fullmatch(name):
                try:
                    stat = os.stat(os.path.join(self.directory, name))
                except FileNotFoundError:
                    continue
                entries.append((stat.st_mtime, stat.st_size, name))
        total = sum(size for _, size, _ in entries)
        for _, size, name in sorted(entries):
            if total <= room:
                break
            try:
                os.unlink(os.path.join(self.directory, name))
            except FileNotFoundError:
                pass
            total -= size


def resolve(document: object, cache: FileCache, fetch: Fetch) -> object:
    """The document with each {"sha256": ...} file made {"base64": ..., "mode": ...}; anything else as it was
    (sandbox.spec checks the rest, and refuses a malformed hash's neighbours as ever)."""
    if not isinstance(document, dict):
        return document
    if isinstance(document.get("group"), list):
        return {**document, "group": [resolve(member, cache, fetch) for member in document["group"]]}
    files = document.get("files")
    if not isinstance(files, dict):
        return document
    return {**document, "files": {name: _resolved(name, value, cache, fetch) for name, value in files.items()}}


def _resolved(name: str, value: Any, cache: FileCache, fetch: Fetch) -> Any:
    if not (isinstance(value, dict) and "sha256" in value):
        return value
    digest = value["sha256"]
    if not isinstance(digest, str) or not HASH.fullmatch(digest) or not set(value) <= {"sha256", "mode"}:
        raise UsageError(f"spec.files.{name}: expected {{\"sha256\": 64 lowercase hex digits, \"mode\": ...}}")
    content = base64.b64encode(cache.get(digest, fetch)).decode("ascii")
    return {"base64": content, **({"mode": value["mode"]} if "mode" in value else {})}
