"""The disk cache of profiles and filters: answers only what it may, never trusts what it must not."""
from __future__ import annotations

import os
import pickle
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
    """The YAML parses behind the cache, of profiles (the syscall groups are parsed once per process anyway)."""
    import yaml

    with open(os.path.join(profiles.shipped_profiles_dir(), profiles.GROUPS_FILE)) as f:
        groups = f.read()
    calls = []
    real = yaml.load

    def counting(stream, Loader):  # noqa: N803 - yaml's own name
        if stream != groups:
            calls.append(stream)
        return real(stream, Loader=Loader)

    monkeypatch.setattr(yaml, "load", counting)
    return calls


class _Marker:
    """Unpickling this creates a file: what a planted pickle could do as the caller."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


FAKE_BPF = bytes(range(8)) * 16  # what a fake compiler returns: easy to find in an entry


def fill(minimal_profile_path: str):
    """Cache a profile and its filter; the filter's spec."""
    spec = seccomp_spec(_cache.load_profile(minimal_profile_path))
    _cache.seccomp_filter(spec, lambda s: FAKE_BPF)
    return spec


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
    for entry in cache_dir.iterdir():
        entry.write_bytes(b"not an entry")
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


def test_an_entry_is_never_unpickled(cache_dir, minimal_profile_path, tmp_path):
    """Entries cannot run code when read: a pickle under a key is damage, not an answer."""
    spec = fill(minimal_profile_path)
    expected = _cache.load_profile(minimal_profile_path)
    marker = tmp_path / "ran"
    for entry in cache_dir.iterdir():
        entry.write_bytes(pickle.dumps((entry.name, _Marker(str(marker)))))
    answers = (_cache.load_profile(minimal_profile_path), _cache.seccomp_filter(spec, lambda s: FAKE_BPF))
    assert not marker.exists(), "a cache entry ran code"
    assert answers == (expected, FAKE_BPF)


def test_a_damaged_filter_entry_is_recompiled_not_loaded(cache_dir, minimal_profile_path):
    spec = fill(minimal_profile_path)
    damaged = 0
    for entry in cache_dir.iterdir():
        data = entry.read_bytes()
        if FAKE_BPF in data:  # one bit of the filter flipped, the rest of the entry intact
            entry.write_bytes(data.replace(FAKE_BPF, bytes([FAKE_BPF[0] ^ 1]) + FAKE_BPF[1:]))
            damaged += 1
    assert damaged == 1
    assert _cache.seccomp_filter(spec, lambda s: FAKE_BPF) == FAKE_BPF


def test_a_symlink_planted_as_an_entry_is_not_followed(cache_dir, loads, minimal_profile_path, tmp_path):
    spec = fill(minimal_profile_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for entry in list(cache_dir.iterdir()):
        entry.rename(elsewhere / entry.name)
        entry.symlink_to(elsewhere / entry.name)
    compiled = []
    _cache.load_profile(minimal_profile_path)
    _cache.seccomp_filter(spec, lambda s: compiled.append(s) or FAKE_BPF)
    assert len(loads) == 2 and compiled == [spec], "an entry was read through a symlink"
    assert not any(entry.is_symlink() for entry in cache_dir.iterdir())  # replaced by entries of its own


def test_an_entry_others_may_write_is_not_used(cache_dir, loads, minimal_profile_path):
    spec = fill(minimal_profile_path)
    for entry in cache_dir.iterdir():
        entry.chmod(0o666)
    compiled = []
    _cache.load_profile(minimal_profile_path)
    _cache.seccomp_filter(spec, lambda s: compiled.append(s) or FAKE_BPF)
    assert len(loads) == 2 and compiled == [spec]


def test_a_fifo_planted_as_an_entry_does_not_hang_a_run(cache_dir, minimal_profile_path):
    fill(minimal_profile_path)
    for entry in list(cache_dir.iterdir()):
        entry.unlink()
        os.mkfifo(entry)
    code = ("import sys; from sandbox import _cache; from sandbox.plan import seccomp_spec; "
            "spec = seccomp_spec(_cache.load_profile(sys.argv[1])); "
            "print(_cache.seccomp_filter(spec, lambda s: b'12345678').hex())")
    env = {**os.environ, _cache.CACHE_DIR_ENV: str(cache_dir)}
    try:
        completed = subprocess.run([sys.executable, "-c", code, minimal_profile_path], env=env, capture_output=True,
                                   text=True, timeout=45)
    except subprocess.TimeoutExpired:
        pytest.fail("a FIFO in the cache blocked the run")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == b"12345678".hex()


def test_a_symlink_at_the_cache_path_means_no_cache(tmp_path, monkeypatch, loads, minimal_profile_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    monkeypatch.setenv(_cache.CACHE_DIR_ENV, str(tmp_path / "link"))
    (tmp_path / "link").symlink_to(real)
    assert _cache.cache_dir() is None
    for _ in range(2):
        _cache.load_profile(minimal_profile_path)
    assert len(loads) == 2 and os.listdir(real) == []


@pytest.mark.parametrize("document", [{1: "a"}, {"day": __import__("datetime").date(2026, 12, 1)}, [float("nan")],
                                      {"pair": ("a", "b")}, {"set": {"a"}}, {"bytes": b"a"}])
def test_a_document_json_cannot_give_back_exactly_is_never_cached(document):
    """A cached document must validate exactly as the parsed one: YAML has more types than JSON."""
    assert _cache._as_json(document) is None


def test_a_document_of_plain_values_is_cached_as_json():
    document = {"a": [1, 2.5, True, None, "x", {"b": -3}]}
    assert _cache._as_json(document) == b'{"a": [1, 2.5, true, null, "x", {"b": -3}]}'


def test_a_document_with_a_cycle_is_never_cached():
    cycle: list = []
    cycle.append(cycle)
    assert _cache._as_json({"a": cycle}) is None
