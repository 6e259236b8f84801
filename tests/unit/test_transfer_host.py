"""sandbox.hostfiles: the supervisor's own files, found once and never reached through a planted name."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sandbox.errors import UsageError
from sandbox.transfer.host import CollectDir, ResultFile, file_entry, open_input, open_output, write_beneath
from sandbox.transfer.packing import FileSource

# Run as root, the caller's own directories (tmp_path) are root's, where hostpaths follows a symlink even
# on the way to a file it writes (only root may write there); and root may write a directory of mode 0500.
ROOTS_OWN = "as root, tmp_path is a directory of root's, whose symlinks hostpaths follows even for written files"
NOT_AS_ROOT = pytest.mark.skipif(os.geteuid() == 0, reason=ROOTS_OWN)
NOT_AS_ROOT_NOR_WRITABLE = pytest.mark.skipif(os.geteuid() == 0, reason=ROOTS_OWN + "; and root may write a "
                                              "directory of mode 0500")


def test_file_entry_keeps_the_mode_and_holds_the_source_open(tmp_path):
    source = tmp_path / "run.sh"
    source.write_bytes(b"#!/bin/sh\n")
    source.chmod(0o750)
    for spec, name in ((str(source), "run.sh"), (f"{source}:bin/go", "bin/go")):
        entry_name, mode, content = file_entry(spec)
        assert (entry_name, mode) == (name, 0o750)
        assert isinstance(content, FileSource) and content.size == 10
        assert os.pread(content.fd, 100, 0) == b"#!/bin/sh\n"
        os.close(content.fd)


@pytest.mark.parametrize("spec, fragment", [
    ("missing.txt", "--file missing.txt: no such file or directory"),
    (".", "--file .: not a regular file"),
    ("fifo", "--file fifo: not a regular file"),
    (":name", "expected SRC[:NAME]"),
])
def test_file_entry_errors_name_the_source(tmp_path, monkeypatch, spec, fragment):
    monkeypatch.chdir(tmp_path)
    os.mkfifo(tmp_path / "fifo")  # opened without waiting for a writer, then refused
    with pytest.raises(UsageError, match=fragment.replace(".", r"\.").replace("[", r"\[")):
        file_entry(spec)


@NOT_AS_ROOT
def test_outputs_never_follow_a_symlink_the_caller_did_not_get_from_root(tmp_path):
    (tmp_path / "bashrc").write_text("keep\n")
    (tmp_path / "out.txt").symlink_to("bashrc")
    with pytest.raises(UsageError, match="out.txt is a symlink"):
        open_output(str(tmp_path / "out.txt"), "--stdout")
    assert (tmp_path / "bashrc").read_text() == "keep\n"
    fd = open_output("/dev/null", "--stdout")  # a device in root's /dev is fine
    os.close(fd)


def test_an_output_fifo_is_refused_without_waiting_for_a_reader(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(UsageError, match="--stdout .*fifo: nothing behind it"):
        open_output(str(tmp_path / "fifo"), "--stdout")


def test_stdin_may_be_a_file_a_device_or_our_own_pipe_but_not_a_fifo_in_a_directory(tmp_path):
    (tmp_path / "in.txt").write_text("data")
    os.mkfifo(tmp_path / "fifo")
    for path in (str(tmp_path / "in.txt"), "/dev/null"):
        os.close(open_input(path, "--stdin"))
    read, write = os.pipe()
    try:
        fd = open_input(f"/dev/fd/{read}", "--stdin")  # <(...) in a shell
        assert os.get_blocking(fd)  # a pipe of ours, as it was
        os.close(fd)
    finally:
        os.close(read)
        os.close(write)
    with pytest.raises(UsageError, match="fifo: not a regular file"):
        open_input(str(tmp_path / "fifo"), "--stdin")


def test_the_result_replaces_whatever_the_box_left_at_its_name(tmp_path):
    """01_result_symlink: the name becomes a symlink to the caller's ~/.bashrc during the run."""
    (tmp_path / "bashrc").write_text("keep\n")
    result = ResultFile(str(tmp_path / "result.json"))
    try:
        (tmp_path / "result.json").symlink_to("bashrc")  # planted after the result file was found
        result.write('{"verdict": "OK"}\n')
    finally:
        result.close()
    assert (tmp_path / "bashrc").read_text() == "keep\n"
    assert not (tmp_path / "result.json").is_symlink()
    assert (tmp_path / "result.json").read_text() == '{"verdict": "OK"}\n'
    assert sorted(os.listdir(tmp_path)) == ["bashrc", "result.json"]  # no temp file left


@pytest.mark.parametrize("replacement", ["symlink", "directory"])
def test_a_result_directory_moved_during_the_run_is_an_error_and_never_written_through(tmp_path, replacement):
    """The box moves the result's directory away and puts a symlink, or a directory holding a
    forged document, at its name: the caller must not read a forgery as the run's result."""
    (tmp_path / "out").mkdir()
    (tmp_path / "home").mkdir()
    result = ResultFile(str(tmp_path / "out" / "result.json"))
    try:
        (tmp_path / "out").rename(tmp_path / "moved")
        if replacement == "symlink":
            (tmp_path / "out").symlink_to("home")
        else:
            (tmp_path / "out").mkdir()
            (tmp_path / "out" / "result.json").write_text('{"verdict": "OK"}\n')
        with pytest.raises(UsageError, match="its directory was moved or replaced while the box ran"):
            result.write('{"verdict": "RE"}\n')
    finally:
        result.close()
    assert os.listdir(tmp_path / "home") == []
    assert (tmp_path / "moved" / "result.json").read_text() == '{"verdict": "RE"}\n'


def test_the_result_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    (tmp_path / "result.json").write_text("old\n")
    (tmp_path / "result.json").chmod(0o600)
    result = ResultFile(str(tmp_path / "result.json"))
    try:
        result.write("new\n")
    finally:
        result.close()
    assert stat.S_IMODE(os.stat(tmp_path / "result.json").st_mode) == 0o600


def test_our_own_descriptors_are_shared_not_opened_again(tmp_path):
    """--result /dev/stdout > log: the document goes after what was written, not over it."""
    log = open(tmp_path / "log", "w")
    try:
        log.write("the program's output\n")
        log.flush()
        result = ResultFile(f"/dev/fd/{log.fileno()}")
        try:
            result.write("{}\n")
        finally:
            result.close()
        fd = open_output(f"/dev/fd/{log.fileno()}", "--stdout")  # not emptied either
        os.close(fd)
    finally:
        log.close()
    assert (tmp_path / "log").read_text() == "the program's output\n{}\n"


def test_a_result_on_a_device_or_our_own_descriptor_is_written_through(tmp_path):
    read, write = os.pipe()
    try:
        result = ResultFile(f"/dev/fd/{write}")
        result.write("{}\n")
        result.close()
        assert os.read(read, 10) == b"{}\n"
    finally:
        os.close(read)
        os.close(write)
    with pytest.raises(UsageError, match="not a regular file"):
        os.mkfifo(tmp_path / "fifo")
        ResultFile(str(tmp_path / "fifo"))


def _write(directory: Path, name: str, content: bytes) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        write_beneath(fd, str(directory), name, content)
    finally:
        os.close(fd)


def test_write_beneath_creates_parents_and_replaces_a_regular_file(tmp_path):
    _write(tmp_path, "case1/out/a.txt", b"first")
    _write(tmp_path, "case1/out/a.txt", b"2nd")
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
        _write(into, "victim", b"overwritten")
    with pytest.raises(UsageError, match="writing dir/victim: a parent is a symlink"):
        _write(into, "dir/victim", b"overwritten")
    assert (outside / "victim").read_bytes() == b"keep"
    assert sorted(os.listdir(outside)) == ["victim"]


def test_write_beneath_refuses_a_fifo_without_waiting_and_names_outside_the_directory(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(UsageError, match="writing fifo"):
        _write(tmp_path, "fifo", b"x")
    for name in ("../up", "/etc/passwd", "a/../../b"):
        with pytest.raises(UsageError, match="--collect"):
            _write(tmp_path, name, b"x")
    assert sorted(os.listdir(tmp_path)) == ["fifo"]


def test_the_collect_dir_is_found_before_the_run_and_checked(tmp_path):
    (tmp_path / "home").mkdir()
    (tmp_path / "out").mkdir()
    collect = CollectDir(str(tmp_path / "out"))
    try:
        (tmp_path / "out").rename(tmp_path / "moved")
        (tmp_path / "out").symlink_to("home")  # a box swapped the directory during the run
        collect.write(".bashrc", b"evil")
    finally:
        collect.close()
    assert os.listdir(tmp_path / "home") == []
    assert (tmp_path / "moved" / ".bashrc").read_bytes() == b"evil"
    with pytest.raises(UsageError, match="no such file or directory"):
        CollectDir(str(tmp_path / "missing"))
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="not a directory"):
        CollectDir(str(tmp_path / "file"))


@NOT_AS_ROOT_NOR_WRITABLE
def test_a_collect_dir_through_a_symlink_of_the_callers_or_unwritable_is_refused(tmp_path):
    (tmp_path / "home").mkdir()
    (tmp_path / "out").symlink_to("home")  # a box may have made it
    with pytest.raises(UsageError, match="out is a symlink"):
        CollectDir(str(tmp_path / "out"))
    (tmp_path / "ro").mkdir(mode=0o500)
    with pytest.raises(UsageError, match="not writable"):
        CollectDir(str(tmp_path / "ro"))
    assert stat.S_ISDIR(os.stat(tmp_path / "ro").st_mode)


def test_the_callers_own_descriptor_keeps_its_flags(tmp_path):
    """/dev/fd/N shares the caller's open file: its O_NONBLOCK (set by whoever owns it) is not ours to clear."""
    read, write = os.pipe()
    try:
        os.set_blocking(write, False)
        os.close(open_output(f"/dev/fd/{write}", "--stdout"))
        os.set_blocking(read, False)
        os.close(open_input(f"/dev/fd/{read}", "--stdin"))
        assert not os.get_blocking(write) and not os.get_blocking(read)
    finally:
        os.close(read)
        os.close(write)


@pytest.mark.parametrize("mode, umask, expected", [
    (0o755, 0o022, 0o755),   # a compiled binary stays executable
    (0o4755, 0o022, 0o755),  # no setuid (nor setgid, nor sticky) on the host
    (0o7777, 0o022, 0o755),  # the umask still holds back what the caller gives no new file
    (0o600, 0o022, 0o600),   # a private file stays private
    (0o777, 0o077, 0o700),
])
def test_a_collected_file_keeps_the_mode_it_had_in_the_box(tmp_path, mode, umask, expected):
    from sandbox.transfer.packing import CollectedFile

    (tmp_path / "main").write_bytes(b"old")
    os.chmod(tmp_path / "main", 0o644)  # a file already there gets the box's mode too
    collect = CollectDir(str(tmp_path))
    old = os.umask(umask)
    try:
        collect.write("main", CollectedFile(b"\x7fELF", mode))
        collect.write("new/main", CollectedFile(b"\x7fELF", mode))
        collect.write("plain", b"bytes with no mode")
    finally:
        os.umask(old)
        collect.close()
    for name in ("main", "new/main"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == expected
        assert (tmp_path / name).read_bytes() == b"\x7fELF"
    assert stat.S_IMODE(os.stat(tmp_path / "plain").st_mode) == 0o644 & ~umask
