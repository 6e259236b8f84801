"""Files addressed by content, kept once per machine: big files travel once (issue 19, point 3).  Side: parent.

A spec a worker takes may name a file of /work (or stdin, a batch's case input or expected output, its
checker) by its SHA-256 instead of carrying it:

  "files": {"NAME": {"sha256": "HEX", "mode": 493}},  "cases": [{"name": "1", "stdin": {"sha256": "HEX"}}]

The worker looks in its cache directory (one per user and machine, shared by its pool processes, cut to
a size cap, oldest used first), and on a miss fetches the content once from the broker, where the client
put it with the task `sandbox.put`; the content is checked against its hash before use.  `resolve` turns
such a document into the plain one sandbox.spec takes (the file's content as base64), so a run is the
same run either way.  No celery here: the fetch is the caller's function.
"""
from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import re
import tempfile
from typing import Any, Callable, Optional

from .errors import UsageError

HASH = re.compile(r"[0-9a-f]{64}")
LOCK = ".lock"
Fetch = Callable[[str], Optional[bytes]]


class FileCache:
    """A directory of files named by their SHA-256, at most `cap` bytes in all."""

    def __init__(self, directory: str, cap: int) -> None:
        self.directory = directory
        self.cap = cap
        os.makedirs(directory, mode=0o700, exist_ok=True)

    def get(self, digest: str, fetch: Fetch) -> bytes:
        """The content, from the directory, or fetched once and kept (written aside, then renamed: a
        pool process beside us never reads half a file).  A miss is handled under the directory's
        lock, looking again once it is held: slots that miss the same file at once fetch it once."""
        kept = self._kept(digest)
        if kept is not None:
            return kept
        with open(os.path.join(self.directory, LOCK), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed
            kept = self._kept(digest)
            if kept is not None:
                return kept
            fetched = fetch(digest)
            if fetched is None or hashlib.sha256(fetched).hexdigest() != digest:
                raise UsageError(f"files: no file with sha256 {digest} on the broker (put it first: task sandbox.put)")
            self._keep(digest, fetched)
            return fetched

    def _kept(self, digest: str) -> Optional[bytes]:
        """The file's content if the directory has it whole (its hash checked), else None."""
        path = os.path.join(self.directory, digest)
        try:
            with open(path, "rb") as f:
                content = f.read()
        except FileNotFoundError:
            return None
        if hashlib.sha256(content).hexdigest() != digest:
            return None
        os.utime(path)  # used now: evicted last
        return content

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
    """The document with each {"sha256": ...} content made {"base64": ...} (a file's "mode" kept): a
    file of /work, stdin, a batch's case inputs and expected outputs, its checker; anything else as
    it was (sandbox.spec checks the rest, and refuses a malformed hash's neighbours as ever)."""
    if not isinstance(document, dict):
        return document
    resolved = dict(document)
    if isinstance(document.get("group"), list):
        resolved["group"] = [resolve(member, cache, fetch) for member in document["group"]]
    if isinstance(document.get("files"), dict):
        resolved["files"] = {name: _resolved(value, f"spec.files.{name}", cache, fetch, mode=True)
                             for name, value in document["files"].items()}
    if "stdin" in document:
        resolved["stdin"] = _resolved(document["stdin"], "spec.stdin", cache, fetch)
    if isinstance(document.get("cases"), list):
        resolved["cases"] = [_resolved_case(case, f"spec.cases[{i}]", cache, fetch)
                             for i, case in enumerate(document["cases"])]
    checker = document.get("checker")
    if isinstance(checker, dict) and "content" in checker:
        resolved["checker"] = {**checker,
                               "content": _resolved(checker["content"], "spec.checker.content", cache, fetch)}
    return resolved


def _resolved_case(case: object, where: str, cache: FileCache, fetch: Fetch) -> object:
    if not isinstance(case, dict):
        return case
    return {**case, **{key: _resolved(case[key], f"{where}.{key}", cache, fetch)
                       for key in ("stdin", "expected") if key in case}}


def _resolved(value: Any, where: str, cache: FileCache, fetch: Fetch, mode: bool = False) -> Any:
    if not (isinstance(value, dict) and "sha256" in value):
        return value
    digest = value["sha256"]
    keys = {"sha256", "mode"} if mode else {"sha256"}
    if not isinstance(digest, str) or not HASH.fullmatch(digest) or not set(value) <= keys:
        shape = ', "mode": ...' if mode else ""
        raise UsageError(f"{where}: expected {{\"sha256\": 64 lowercase hex digits{shape}}}")
    content = base64.b64encode(cache.get(digest, fetch)).decode("ascii")
    return {"base64": content, **({"mode": value["mode"]} if "mode" in value else {})}
