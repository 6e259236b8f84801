"""The launcher's own rules, without starting a box."""
from __future__ import annotations

import os
import threading

import pytest

from sandbox._forkserver import InitFds, _init_from_reply, fork_here
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


def test_init_fds_round_trip_with_and_without_a_cgroup():
    with_cgroup = InitFds(3, 4, 5, 6, 7, 8)
    assert vars(InitFds.from_list(with_cgroup.as_list())) == vars(with_cgroup)
    without = InitFds(3, 4, 5, 6, 7, -1)
    assert without.as_list() == [3, 4, 5, 6, 7]
    assert InitFds.from_list(without.as_list()).procs == -1


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
