"""sandbox/filecache.py: files named by content in a worker's specs, fetched once, kept under a cap."""
from __future__ import annotations

import base64
import hashlib

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
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == sorted(digest(b) for b in blobs[1:])
