"""Files in and out of the work dir: the wire format, the names allowed, and reading out safely."""
from __future__ import annotations

import dataclasses
import os

import pytest

from sandbox.transfer import box as workfiles, packing
from sandbox.errors import UsageError
from sandbox.plan import Bind, Request
from sandbox.profile import load_profile

from planning import plan_here


def _packed(entries) -> int:
    fd = os.memfd_create("test-files")
    packing.pack_files(fd, entries)
    return fd


def test_pack_and_unpack_round_trip(tmp_path):
    (tmp_path / "host.bin").write_bytes(b"from the host " * 1000)
    with open(tmp_path / "host.bin", "rb") as host:
        source = packing.FileSource(host.fileno(), os.fstat(host.fileno()).st_size)
        fd = _packed([("main.c", 0o644, b"int main(){}"), ("bin/a.out", 0o755, bytes(range(256)) * 10),
                      ("empty", 0o600, b""), ("data/host.bin", 0o640, source)])
    try:
        assert packing.unpack_files(fd) == [("main.c", 0o644, b"int main(){}"),
                                             ("bin/a.out", 0o755, bytes(range(256)) * 10), ("empty", 0o600, b""),
                                             ("data/host.bin", 0o640, b"from the host " * 1000)]
    finally:
        os.close(fd)


@pytest.mark.parametrize("cut", [1, 9, 20])
def test_unpack_refuses_a_truncated_stream(cut):
    fd = _packed([("x", 0o644, b"0123456789")])
    try:
        os.ftruncate(fd, os.fstat(fd).st_size - cut)
        with pytest.raises(ValueError):
            packing.unpack_files(fd)
    finally:
        os.close(fd)


def test_files_larger_than_the_work_dir_are_refused_before_anything_is_read(minimal_profile_path, tmp_path):
    profile = load_profile(minimal_profile_path)  # tmp_size 16M
    big = packing.FileSource(-1, 17 << 20)  # never read: the size decides
    with pytest.raises(UsageError, match="do not fit in the work dir, which holds 16.0 MiB"):
        plan_here(profile, Request(program=("true",), files=(("big", 0o644, big),)), 1000, 1000)
    with pytest.raises(UsageError, match="'b'"):
        plan_here(profile, Request(program=("true",), files=(("a", 0o644, b"x" * (8 << 20)),
                                                             ("b", 0o644, b"x" * (9 << 20)))), 1000, 1000)


@pytest.mark.parametrize("name", ["", "/etc/passwd", "../up", "a/../b", "a//b", "./a", "a\0b"])
def test_bad_names_are_refused(name):
    assert packing.check_name(name)


def test_the_plan_refuses_bad_names_and_a_host_workdir(minimal_profile_path, tmp_path):
    profile = load_profile(minimal_profile_path)
    with pytest.raises(UsageError, match="relative path"):
        plan_here(profile, Request(program=("true",), collect=("/etc/passwd",)), 1000, 1000)
    with pytest.raises(UsageError, match="host directory bound read-only"):
        plan_here(profile, Request(program=("true",), files=(("a", 0o644, b""),), workdir=str(tmp_path)), 1000, 1000)
    with pytest.raises(UsageError, match="host directory bound read-write"):
        plan_here(profile, Request(program=("true",), collect=("a",), binds=(Bind(str(tmp_path), "/work", True),)),
                  1000, 1000)


def test_files_may_go_into_a_throwaway_layer_over_a_host_workdir(minimal_profile_path, tmp_path):
    profile = dataclasses.replace(load_profile(minimal_profile_path), workdir="overlay")
    plan = plan_here(profile, Request(program=("true",), files=(("a", 0o644, b""),), collect=("a",),
                                      workdir=str(tmp_path)), 1000, 1000)
    assert plan.collect == ("a",)


def test_write_into_creates_files_with_their_modes_and_directories(tmp_path):
    fd = _packed([("src/main.c", 0o644, b"code"), ("run.sh", 0o755, b"#!/bin/sh\n")])
    try:
        workfiles.write_into(str(tmp_path), fd, packing.packed_files(fd))
    finally:
        os.close(fd)
    assert (tmp_path / "src" / "main.c").read_bytes() == b"code"
    assert os.stat(tmp_path / "run.sh").st_mode & 0o777 == 0o755


def test_read_out_takes_regular_files_cut_at_the_limit_and_nothing_through_symlinks(tmp_path):
    (tmp_path / "small").write_bytes(b"abc")
    (tmp_path / "big").write_bytes(b"x" * 100)
    (tmp_path / "secret").write_bytes(b"outside")
    (tmp_path / "link").symlink_to(tmp_path / "secret")
    (tmp_path / "dir").symlink_to("/etc")
    os.mkfifo(tmp_path / "fifo")
    found, cut = workfiles.read_out(str(tmp_path), ("small", "big", "link", "dir/hostname", "fifo", "missing"), 10)
    assert found == [("small", os.stat(tmp_path / "small").st_mode & 0o777, b"abc"),
                     ("big", os.stat(tmp_path / "big").st_mode & 0o777, b"x" * 10)]
    assert cut == ["big"]


def test_unpacked_files_carry_their_mode_and_keep_it_through_pickle(tmp_path):
    import pickle

    fd = _packed([("main", 0o755, b"\x7fELF"), ("notes", 0o600, b"n")])
    try:
        (_, _, binary), (_, _, notes) = packing.unpack_files(fd)
    finally:
        os.close(fd)
    assert isinstance(binary, bytes) and binary == b"\x7fELF" and binary.mode == 0o755  # type: ignore[attr-defined]
    assert notes.mode == 0o600  # type: ignore[attr-defined]
    again = pickle.loads(pickle.dumps(binary))
    assert (again, again.mode) == (b"\x7fELF", 0o755)
    assert packing.CollectedFile(b"x", 0o6755).mode == 0o755  # never setuid, setgid or sticky
