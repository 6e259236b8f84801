"""sandbox/filecache.py: files named by content in a worker's specs, fetched once, kept under a cap."""
from __future__ import annotations

import base64
import hashlib
import os
import time

import pytest

from sandbox.errors import UsageError
from sandbox.filecache import FileCache, resolve


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_file_is_fetched_once_and_named_files_become_base64(tmp_path):
    data, fetched = b"x" * 1000, []
    store = {digest(data): data}

    def fetch(key: str):  # type: ignore[no-untyped-def]
        fetched.append(key)
        return store.get(key)

    cache = FileCache(str(tmp_path / "files"), 1 << 20)
    spec = {"group": [{"argv": ["cat", "a"], "files": {"a": {"sha256": digest(data), "mode": 0o755}, "b": "text"}},
                      {"argv": ["cat", "a"], "files": {"a": {"sha256": digest(data)}}}]}
    for _ in range(3):
        resolved = resolve(spec, cache, fetch)
    assert fetched == [digest(data)]
    first = resolved["group"][0]["files"]  # type: ignore[index]
    assert first == {"a": {"base64": base64.b64encode(data).decode(), "mode": 0o755}, "b": "text"}


def test_a_file_not_on_the_broker_or_a_bad_hash_is_a_usage_error(tmp_path):
    cache = FileCache(str(tmp_path), 1 << 20)
    with pytest.raises(UsageError, match="no file with sha256"):
        resolve({"argv": ["x"], "files": {"a": {"sha256": "0" * 64}}}, cache, lambda key: None)
    with pytest.raises(UsageError, match="files.a: expected"):
        resolve({"argv": ["x"], "files": {"a": {"sha256": "XYZ"}}}, cache, lambda key: None)
    with pytest.raises(UsageError, match="no file with sha256"):  # content that is not what its name says
        resolve({"argv": ["x"], "files": {"a": {"sha256": "0" * 64}}}, cache, lambda key: b"other")


def test_the_cache_keeps_under_its_cap_dropping_the_least_recently_used(tmp_path):
    cache = FileCache(str(tmp_path), 2500)
    blobs = [bytes([i]) * 1000 for i in range(3)]
    for blob in blobs:
        cache.get(digest(blob), lambda key, blob=blob: blob)
    kept = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert kept == sorted(digest(b) for b in blobs[1:])


def test_a_batch_s_cases_stdin_and_checker_may_be_named_by_hash(tmp_path):
    given, answer, checker = b"1 2\n", b"3\n", b"import sys\n"
    store = {digest(d): d for d in (given, answer, checker)}
    cache = FileCache(str(tmp_path), 1 << 20)
    spec = {"argv": ["./a"], "cases": [{"name": "1", "stdin": {"sha256": digest(given)},
                                        "expected": {"sha256": digest(answer)}}, {"name": "2", "stdin": "x"}],
            "checker": {"name": "c.py", "content": {"sha256": digest(checker)}}}
    resolved = resolve(spec, cache, store.get)
    b64 = lambda data: {"base64": base64.b64encode(data).decode()}  # noqa: E731
    assert resolved == {**spec, "cases": [{"name": "1", "stdin": b64(given), "expected": b64(answer)},
                                          {"name": "2", "stdin": "x"}],
                        "checker": {"name": "c.py", "content": b64(checker)}}
    assert resolve({"argv": ["x"], "stdin": {"sha256": digest(given)}}, cache, store.get)["stdin"] == b64(given)
    with pytest.raises(UsageError, match=r"spec.cases\[0\].stdin: expected"):  # a mode is a file's, not stdin's
        resolve({"argv": ["x"], "cases": [{"name": "1", "stdin": {"sha256": digest(given), "mode": 1}}]},
                cache, store.get)


def test_slots_that_miss_the_same_file_at_once_fetch_it_once(tmp_path):
    """Two processes (a worker's pool slots) want one file neither has: one fetches, the other waits
    for the lock and finds it kept."""
    data = os.urandom(4096)
    log = tmp_path / "fetches"
    cache_dir = str(tmp_path / "files")

    def fetch(key: str) -> bytes:
        with open(log, "a") as f:
            f.write(key + "\n")
        time.sleep(0.5)  # long enough that the other process misses too
        return data

    children = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            ok = False
            try:
                ok = FileCache(cache_dir, 1 << 20).get(digest(data), fetch) == data
            finally:
                os._exit(0 if ok else 1)
        children.append(pid)
    assert all(os.waitpid(pid, 0)[1] == 0 for pid in children)
    assert log.read_text().splitlines() == [digest(data)]
