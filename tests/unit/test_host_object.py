"""mountns.host_object: the init takes a host object only by its canonical path *and* identity."""
from __future__ import annotations

import os

import pytest

from sandbox.mountns import host_object


@pytest.fixture
def host():
    fd = os.open("/", os.O_PATH | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def identity(path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino


def test_the_object_found_is_taken(host, tmp_path):
    fd = host_object(host, str(tmp_path), identity(tmp_path))
    try:
        assert (os.fstat(fd).st_dev, os.fstat(fd).st_ino) == identity(tmp_path)
    finally:
        os.close(fd)


def test_another_object_at_that_name_is_refused(host, tmp_path):
    (tmp_path / "data").mkdir()
    noted = identity(tmp_path / "data")
    (tmp_path / "data").rename(tmp_path / "moved")
    (tmp_path / "data").mkdir()  # someone else's directory took the name
    with pytest.raises(OSError, match="changed after it was checked"):
        host_object(host, str(tmp_path / "data"), noted)


def test_a_symlink_anywhere_on_the_path_is_refused(host, tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    with pytest.raises(OSError, match="changed after it was checked"):
        host_object(host, str(tmp_path / "link"), identity(tmp_path / "real"))


def test_nothing_is_taken_on_its_name_alone(host, tmp_path):
    with pytest.raises(OSError, match="no identity"):
        host_object(host, str(tmp_path), None)
