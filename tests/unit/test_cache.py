"""The disk cache of profiles and filters: answers only what it may, never trusts what it must not."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sandbox import _cache
from sandbox import profile as profiles
from sandbox.errors import ProfileError
from sandbox.plan import seccomp_spec


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    monkeypatch.setenv(_cache.CACHE_DIR_ENV, str(directory))
    return directory


@pytest.fixture
def loads(monkeypatch):
    """Counts the real parses behind the cache."""
    calls = []
    real = profiles.load_profile

    def counting(path):
        calls.append(path)
        return real(path)

    monkeypatch.setattr(profiles, "load_profile", counting)
    return calls


def test_a_second_load_is_answered_from_the_cache(cache_dir, loads, minimal_profile_path):
    first = _cache.load_profile(minimal_profile_path)
    second = _cache.load_profile(minimal_profile_path)
    assert first == second and second is not first
    assert len(loads) == 1
    assert oct(cache_dir.stat().st_mode & 0o777) == "0o700"


def test_a_changed_profile_is_parsed_again_even_with_the_same_size_and_mtime(cache_dir, loads, write_profile,
                                                                            minimal_profile_text):
    path = write_profile(minimal_profile_text.replace("memory: 64M", "memory: 32M"), "p.yaml")
    assert _cache.load_profile(path).limits.memory == 32 << 20
    before = os.stat(path)
    with open(path, "w") as f:
        f.write(minimal_profile_text.replace("memory: 32M", "memory: 16M").replace("memory: 64M", "memory: 16M"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size
    assert _cache.load_profile(path).limits.memory == 16 << 20
    assert len(loads) == 2


def test_a_directory_others_may_write_is_not_used(cache_dir, loads, minimal_profile_path):
    cache_dir.mkdir()
    cache_dir.chmod(0o777)
    _cache.load_profile(minimal_profile_path)
    _cache.load_profile(minimal_profile_path)
    assert len(loads) == 2 and os.listdir(cache_dir) == []


def test_an_empty_setting_turns_the_cache_off(monkeypatch, loads, minimal_profile_path):
    monkeypatch.setenv(_cache.CACHE_DIR_ENV, "")
    assert _cache.cache_dir() is None
    _cache.load_profile(minimal_profile_path)
    _cache.load_profile(minimal_profile_path)
    assert len(loads) == 2


def test_a_damaged_entry_is_recomputed_and_replaced(cache_dir, loads, minimal_profile_path):
    expected = _cache.load_profile(minimal_profile_path)
    (entry,) = cache_dir.iterdir()
    entry.write_bytes(b"not a pickle")
    assert _cache.load_profile(minimal_profile_path) == expected
    assert _cache.load_profile(minimal_profile_path) == expected
    assert len(loads) == 2


def test_profile_errors_are_not_cached(cache_dir, write_profile):
    path = write_profile("description: 3\n", "bad.yaml")
    for _ in range(2):
        with pytest.raises(ProfileError):
            _cache.load_profile(path)
    assert os.listdir(cache_dir) == []


def test_filters_are_cached_per_policy(cache_dir, minimal_profile_path, write_profile, minimal_profile_text):
    compiled = []

    def compile_filter(spec):
        compiled.append(spec)
        return repr(spec).encode()

    one = seccomp_spec(profiles.load_profile(minimal_profile_path))
    other = seccomp_spec(profiles.load_profile(write_profile(minimal_profile_text.replace("kill: [ptrace]", "kill: []"))))
    assert _cache.seccomp_filter(one, compile_filter) == _cache.seccomp_filter(one, compile_filter) == repr(one).encode()
    assert _cache.seccomp_filter(other, compile_filter) == repr(other).encode()
    assert compiled == [one, other]


def test_a_warm_cache_spares_a_fresh_process_yaml_and_libseccomp(cache_dir):
    code = ("import sys; from sandbox import _cache, supervisor; from sandbox.plan import seccomp_spec; "
            "p = _cache.load_profile('py3'); supervisor.compile_seccomp(seccomp_spec(p), p.source); "
            "print(sorted(m for m in ('yaml', 'pyseccomp') if m in sys.modules))")
    env = {**os.environ, _cache.CACHE_DIR_ENV: str(cache_dir)}
    cold = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    warm = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert cold.stdout.strip() == "['pyseccomp', 'yaml']"
    assert warm.stdout.strip() == "[]"
