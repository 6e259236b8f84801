"""The launcher's own rules, without starting a box."""
from __future__ import annotations

import os
import socket
import threading

import pytest

from sandbox import _channel
from sandbox._channel import InitFds
from sandbox._forkserver import _init_from_reply, fork_here
from sandbox.errors import SetupError


def test_fork_here_refuses_a_threaded_process():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        with pytest.raises(RuntimeError, match="single-threaded"):
            fork_here(InitFds(0, 1, 2, -1, -1, -1))
    finally:
        stop.set()
        thread.join()


def distinct_files(tmp_path, count: int) -> list[int]:
    """`count` descriptors, each of a file of its own: a pair handed over swapped is seen by its inode."""
    return [os.open(tmp_path / f"file{index}", os.O_RDONLY | os.O_CREAT) for index in range(count)]


def assert_same_files_by_name(sent: InitFds, received: InitFds) -> None:
    for name in ("stdin", "stdout", "stderr", "plan", "status", "procs", "files"):
        mine, got = getattr(sent, name), getattr(received, name)
        mine, got = (mine, got) if name == "procs" else ((mine,) if mine >= 0 else (), (got,) if got >= 0 else ())
        assert len(mine) == len(got), name
        for ours, theirs in zip(mine, got):
            assert os.fstat(ours).st_ino == os.fstat(theirs).st_ino and ours != theirs, name


@pytest.mark.parametrize("with_cgroup", [True, False])
def test_handover_gives_the_init_the_same_files_in_order(tmp_path, with_cgroup):
    files = distinct_files(tmp_path, 6 if with_cgroup else 5)
    sent = InitFds(*files[:5], procs=tuple(files[5:]))
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours, theirs:
        taker = threading.Thread(target=lambda: taken.append(_channel.take_over(theirs)))
        taken: list = []
        taker.start()
        _channel.hand_over(ours, sent)  # returns once the other end has them
        taker.join()
        received = taken[0]
    assert received is not None and bool(received.procs) == with_cgroup
    assert_same_files_by_name(sent, received)
    for fd in sent.as_list() + received.as_list():
        os.close(fd)


def test_handing_over_to_an_init_that_died_raises():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    fd = os.open(os.devnull, os.O_RDONLY)
    theirs.close()
    with ours, pytest.raises(BrokenPipeError):
        _channel.hand_over(ours, InitFds(fd, fd, fd, fd, fd))
    os.close(fd)


def test_an_init_whose_launcher_went_away_takes_over_nothing():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.close()
    with theirs:
        assert _channel.take_over(theirs) is None


def test_a_server_error_reply_is_the_clone_error_and_closes_stray_fds():
    stray = os.open(os.devnull, os.O_RDONLY)
    with pytest.raises(OSError, match="clone: Operation not permitted") as caught:
        _init_from_reply(b"error 1 clone: Operation not permitted", [stray])
    assert caught.value.errno == 1
    with pytest.raises(OSError):
        os.fstat(stray)


def test_a_garbled_server_reply_is_a_setup_error():
    with pytest.raises(SetupError, match="fork server answered"):
        _init_from_reply(b"what?", [])


@pytest.mark.parametrize("procs, files", [(0, False), (1, False), (0, True), (1, True), (4, True)])
def test_the_optional_descriptors_keep_their_names_across_a_handover(tmp_path, procs, files):
    """procs: one per cgroup hierarchy the box joins (v2: one; v1: one per controller's hierarchy)."""
    base = distinct_files(tmp_path, 10)
    sent = InitFds(*base[:5], procs=tuple(base[5:5 + procs]), files=base[9] if files else -1)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours, theirs:
        _channel.send_init_fds(ours, b"spawn", sent)
        received = _channel.receive_init_fds(theirs, b"spawn")
    assert received is not None
    assert (len(received.procs), received.files >= 0) == (procs, files)
    assert_same_files_by_name(sent, received)
    for fd in base + received.as_list():
        os.close(fd)


def test_a_garbled_handover_is_refused_and_its_descriptors_closed():
    fd = os.open(os.devnull, os.O_RDONLY)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours, theirs:
        socket.send_fds(ours, [b"run bogus"], [fd] * 6)
        assert _channel.receive_init_fds(theirs, b"run") is None
    os.close(fd)
