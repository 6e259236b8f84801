"""sandbox.hostpaths: host paths walked once, held as descriptors, symlinks followed only where safe."""
from __future__ import annotations

import os
import stat

import pytest

from sandbox import hostpaths
from sandbox.errors import UsageError
from sandbox.hostpaths import FOLLOW, LINK, WRITTEN, HostPaths, resolve

ME = os.geteuid()
OTHER = ME + 4321
# Run as root, the caller's own directories are root's, where a symlink is followed even on the way to a
# file we write (only root may write there): what these tests refuse, root's policy allows.
ROOTS_OWN = "as root, the caller's own directory is root's, whose symlinks are followed even for written files"
NOT_AS_ROOT = pytest.mark.skipif(ME == 0, reason=ROOTS_OWN)


def fake_stat(mode: int, uid: int) -> os.stat_result:
    return os.stat_result((mode, 1, 1, 1, uid, 0, 0, 0, 0, 0))


DIR = stat.S_IFDIR
LINK_STAT_MINE = fake_stat(stat.S_IFLNK | 0o777, ME)
LINK_STAT_OTHER = fake_stat(stat.S_IFLNK | 0o777, OTHER)


def refusal(directory: os.stat_result, link: os.stat_result, written: bool) -> str:
    """Why the policy refuses to follow the link, or "" if it follows it."""
    try:
        hostpaths._check_may_follow(directory, link, written, "/d/link", "/d")
    except hostpaths._Refused as e:
        return str(e)
    return ""


@pytest.mark.parametrize("directory, link, allowed", [
    (fake_stat(DIR | 0o755, ME), LINK_STAT_MINE, True),              # the caller's own directory
    (fake_stat(DIR | 0o755, 0), LINK_STAT_OTHER, True),              # root's
    (fake_stat(DIR | 0o755, OTHER), LINK_STAT_MINE, False),          # another user's: they can swap it
    (fake_stat(DIR | 0o777, ME), LINK_STAT_MINE, False),             # world-writable, not sticky
    (fake_stat(DIR | 0o1777, 0), LINK_STAT_MINE, True),              # /tmp: nobody else may replace ours
    (fake_stat(DIR | 0o1777, 0), LINK_STAT_OTHER, False),            # /tmp: another user's symlink
    (fake_stat(DIR | 0o1777, OTHER), LINK_STAT_MINE, False),         # a sticky dir of another user's: they may
])
def test_a_symlink_is_followed_only_where_nobody_else_could_have_made_it(directory, link, allowed):
    why = refusal(directory, link, written=False)
    assert (why == "") == allowed, why
    assert allowed or "may be written by other users" in why


def test_a_group_writable_directory_is_trusted_only_for_the_callers_private_group():
    import grp
    import pwd

    try:  # inside a box (the unit tier also runs in the ci profile) there is no user database
        me = pwd.getpwuid(ME)
        private = me.pw_gid if grp.getgrgid(me.pw_gid).gr_name == me.pw_name else None
    except KeyError:
        private = None
    if private is not None:  # a user-private group (umask 002 systems)
        assert refusal(os.stat_result((DIR | 0o775, 1, 1, 1, ME, private, 0, 0, 0, 0)), LINK_STAT_MINE, False) == ""
    # Any group but that one (for root, group 0 is its own private group: OTHER is not).
    assert refusal(os.stat_result((DIR | 0o775, 1, 1, 1, ME, OTHER, 0, 0, 0, 0)), LINK_STAT_MINE, False) != ""


@pytest.mark.parametrize("directory, allowed", [
    (fake_stat(DIR | 0o755, 0), True),      # /dev/stdout: only root may write /dev
    pytest.param(fake_stat(DIR | 0o755, ME), False, marks=NOT_AS_ROOT),  # the caller's own: a box's symlink?
    (fake_stat(DIR | 0o1777, 0), False),
])
def test_no_symlink_is_followed_on_the_way_to_a_file_we_write_but_in_roots_directories(directory, allowed):
    why = refusal(directory, LINK_STAT_MINE, written=True)
    assert (why == "") == allowed, why
    assert allowed or "never reached through one" in why


def test_the_canonical_path_has_no_symlink_left(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("x")
    (tmp_path / "rel").symlink_to("real")
    (tmp_path / "abs").symlink_to(tmp_path / "real")
    for given in ("rel/f", "abs/f", "rel/../real/f", "abs/../real/./f"):
        found = resolve(str(tmp_path / given), "test")
        try:
            assert found.path == str(tmp_path / "real" / "f")
            assert found.identity == (os.stat(tmp_path / "real" / "f").st_dev, os.stat(tmp_path / "real" / "f").st_ino)
            assert found.info.st_mode & stat.S_IFMT(found.info.st_mode) == stat.S_IFREG
        finally:
            os.close(found.fd)


def test_a_relative_path_starts_at_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "f").write_text("x")
    monkeypatch.chdir(tmp_path)
    found = resolve("f", "test")
    os.close(found.fd)
    assert found.path == str(tmp_path / "f")


def test_link_mode_answers_the_symlink_itself(tmp_path):
    (tmp_path / "link").symlink_to("usr/bin")
    found = resolve(str(tmp_path / "link"), "test", last=LINK)
    try:
        assert found.is_link and os.readlink("", dir_fd=found.fd) == "usr/bin"
    finally:
        os.close(found.fd)


@NOT_AS_ROOT
def test_a_file_we_write_is_never_reached_through_a_symlink_of_the_callers(tmp_path):
    (tmp_path / "target").write_text("precious\n")
    (tmp_path / "result.json").symlink_to("target")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    with pytest.raises(UsageError, match="result.json is a symlink"):
        resolve(str(tmp_path / "result.json"), "--result", flags, last=WRITTEN)
    assert (tmp_path / "target").read_text() == "precious\n"


def test_roots_symlinks_to_our_own_descriptors_still_work(tmp_path):
    read, write = os.pipe()
    try:
        found = resolve(f"/dev/fd/{write}", "--stdout", os.O_WRONLY, last=WRITTEN)
        try:
            assert stat.S_ISFIFO(found.info.st_mode)
            os.write(found.fd, b"through /dev/fd")
        finally:
            os.close(found.fd)
        assert os.read(read, 100) == b"through /dev/fd"
    finally:
        os.close(read)
        os.close(write)


@pytest.mark.parametrize("given, words", [
    ("missing", "no such file or directory"),
    ("file/below", "not a directory (or a parent is not)"),
    ("loop", "too many levels of symbolic links"),
])
def test_failures_are_one_line_usage_errors(tmp_path, given, words):
    (tmp_path / "file").write_text("x")
    (tmp_path / "loop").symlink_to("loop")
    with pytest.raises(UsageError) as caught:
        resolve(str(tmp_path / given), "--bind")
    assert caught.value.message == f"--bind {tmp_path / given}: {words}"


def test_a_made_directory_is_never_a_symlink(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "planted").symlink_to(tmp_path / "elsewhere")
    with HostPaths() as paths:
        parent, name = paths.parent(str(tmp_path / "planted"), "--overlay upper")
        with pytest.raises(UsageError, match="not a directory"):
            paths.made_directory(parent, name, "--overlay upper")
        made = paths.made_directory(*paths.parent(str(tmp_path / "new"), "--overlay upper"), "--overlay upper")
        assert made.is_dir and made.path == str(tmp_path / "new")


def test_directory_beneath_never_follows_a_symlink(tmp_path):
    (tmp_path / "image" / "real" / "x").mkdir(parents=True)
    (tmp_path / "outside" / "x").mkdir(parents=True)
    (tmp_path / "image" / "mnt").symlink_to("../outside")
    with HostPaths() as paths:
        image = paths.directory(str(tmp_path / "image"), "rootfs")
        assert hostpaths.directory_beneath(image, "/real/x")
        assert not hostpaths.directory_beneath(image, "/mnt/x")
        assert not hostpaths.directory_beneath(image, "/real/../real/x")


def test_host_paths_hold_their_descriptors_until_closed(tmp_path):
    paths = HostPaths()
    found = paths.find(str(tmp_path), "test", last=FOLLOW)
    os.fstat(found.fd)  # open
    paths.close()
    with pytest.raises(OSError):
        os.fstat(found.fd)


def test_a_relative_path_starts_at_the_working_directory_itself_not_its_name(tmp_path, monkeypatch):
    """Between getcwd() and an open of its answer, someone who may write an ancestor could point that
    name elsewhere; the walk starts at "." and uses the name only to spell the canonical path."""
    (tmp_path / "real").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "real")
    monkeypatch.setattr(os, "getcwd", lambda: str(tmp_path / "elsewhere"))  # the name now leads elsewhere
    found = resolve("out.txt", "--stdout", os.O_WRONLY | os.O_CREAT, last=WRITTEN)
    os.close(found.fd)
    assert os.listdir(tmp_path / "elsewhere") == []
    assert os.listdir(tmp_path / "real") == ["out.txt"]


@pytest.mark.parametrize("name, number", [("/dev/stdout", 1), ("/dev/stderr", 2), ("/dev/stdin", 0)])
def test_the_standard_names_are_our_own_descriptors_wherever_we_run(name, number):
    found = resolve(name, "--result", os.O_PATH, last=WRITTEN)
    try:
        assert found.own and os.path.samestat(os.fstat(found.fd), os.fstat(number))
    finally:
        os.close(found.fd)


def test_a_descriptor_that_is_not_open_is_a_one_line_error():
    with pytest.raises(UsageError, match="--stdout /dev/fd/999: Bad file descriptor"):
        resolve("/dev/fd/999", "--stdout", os.O_WRONLY, last=WRITTEN)
