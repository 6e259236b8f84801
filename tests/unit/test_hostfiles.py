"""sandbox.hostfiles: --file sources read with their modes; collected files written only beneath --collect-dir."""
from __future__ import annotations

import os

import pytest

from sandbox.errors import UsageError
from sandbox.hostfiles import check_directory, file_entry, write_beneath


def test_file_entry_keeps_the_mode_and_defaults_the_name_to_the_basename(tmp_path):
    source = tmp_path / "run.sh"
    source.write_bytes(b"#!/bin/sh\n")
    source.chmod(0o750)
    assert file_entry(str(source)) == ("run.sh", 0o750, b"#!/bin/sh\n")
    assert file_entry(f"{source}:bin/go") == ("bin/go", 0o750, b"#!/bin/sh\n")


@pytest.mark.parametrize("spec, fragment", [
    ("missing.txt", "--file missing.txt: No such file or directory"),
    (".", "--file .: not a regular file"),
    (":name", "expected SRC[:NAME]"),
])
def test_file_entry_errors_name_the_source(tmp_path, monkeypatch, spec, fragment):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=fragment.replace(".", r"\.").replace("[", r"\[")):
        file_entry(spec)


def test_write_beneath_creates_parents_and_replaces_a_regular_file(tmp_path):
    write_beneath(str(tmp_path), "case1/out/a.txt", b"first")
    write_beneath(str(tmp_path), "case1/out/a.txt", b"2nd")
    assert (tmp_path / "case1" / "out" / "a.txt").read_bytes() == b"2nd"


def test_write_beneath_never_follows_a_symlink(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_bytes(b"keep")
    into = tmp_path / "into"
    into.mkdir()
    (into / "victim").symlink_to(outside / "victim")
    (into / "dir").symlink_to(outside)
    with pytest.raises(UsageError, match="writing victim: it is a symlink"):
        write_beneath(str(into), "victim", b"overwritten")
    with pytest.raises(UsageError, match="writing dir/victim: a parent is a symlink"):
        write_beneath(str(into), "dir/victim", b"overwritten")
    assert (outside / "victim").read_bytes() == b"keep"
    assert sorted(os.listdir(outside)) == ["victim"]


def test_write_beneath_refuses_a_fifo_without_waiting_and_names_outside_the_directory(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(UsageError, match="writing fifo"):
        write_beneath(str(tmp_path), "fifo", b"x")
    for name in ("../up", "/etc/passwd", "a/../../b"):
        with pytest.raises(UsageError, match="--collect"):
            write_beneath(str(tmp_path), name, b"x")
    assert sorted(os.listdir(tmp_path)) == ["fifo"]


def test_check_directory_refuses_a_missing_or_unusable_directory(tmp_path):
    check_directory(str(tmp_path))
    with pytest.raises(UsageError, match="no such directory"):
        check_directory(str(tmp_path / "missing"))
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="not a directory"):
        check_directory(str(tmp_path / "file"))
    (tmp_path / "ro").mkdir(mode=0o500)  # the unit tier runs unprivileged, like the others
    with pytest.raises(UsageError, match="not writable"):
        check_directory(str(tmp_path / "ro"))
