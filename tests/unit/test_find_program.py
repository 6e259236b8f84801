"""sandbox._child._find_program: the program's path as execvp(3) finds it, so the CLI's exit code
is a shell's: 126 for a name that exists but cannot be executed, 127 only for one found nowhere."""
from __future__ import annotations

import pytest

from sandbox._child import _find_program


@pytest.fixture
def bins(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for where, mode in (("a/plain", 0o644), ("b/plain", 0o755), ("b/tool", 0o755)):
        (tmp_path / where).write_text("#!/bin/sh\n")
        (tmp_path / where).chmod(mode)
    (tmp_path / "a" / "tool").mkdir()  # a directory of the name comes first on PATH
    return tmp_path


@pytest.mark.parametrize("name, reason", [
    ("/dev/null", "not executable"),         # exists, is no regular file
    ("a/plain", "not executable"),           # no x bit
    ("a", "is a directory"),
])
def test_a_path_that_exists_but_cannot_run_is_permission_denied(bins, monkeypatch, name, reason):
    monkeypatch.chdir(bins)
    with pytest.raises(PermissionError) as info:
        _find_program(name, "")
    assert (info.value.errno, info.value.strerror) == (13, f"{name}: {reason}")


def test_a_path_found_nowhere_is_not_found(bins):
    with pytest.raises(FileNotFoundError, match="program not found in the box") as info:
        _find_program(str(bins / "missing"), "")
    assert info.value.errno == 2


def test_path_search_takes_the_first_executable_and_skips_what_cannot_run(bins):
    path = f"{bins}/a:{bins}/b"
    assert _find_program("plain", path) == f"{bins}/b/plain"
    assert _find_program("tool", path) == f"{bins}/b/tool"


def test_path_search_that_only_finds_what_cannot_run_is_permission_denied(bins):
    with pytest.raises(PermissionError) as info:
        _find_program("plain", f"{bins}/a")
    assert info.value.strerror == "plain: not executable"
    with pytest.raises(FileNotFoundError, match=r"\(PATH=/nowhere\)$"):
        _find_program("plain", "/nowhere")
