"""The launcher's own rules, without starting a box."""
from __future__ import annotations

import os
import threading

import pytest

from sandbox._forkserver import ProxyFds, _proxy_from_reply, fork_here
from sandbox.errors import SetupError


def test_fork_here_refuses_a_threaded_process():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        with pytest.raises(RuntimeError, match="single-threaded"):
            fork_here(ProxyFds(0, 1, 2, -1, -1, -1))
    finally:
        stop.set()
        thread.join()


def test_proxy_fds_round_trip_with_and_without_a_cgroup():
    with_cgroup = ProxyFds(3, 4, 5, 6, 7, 8)
    assert vars(ProxyFds.from_list(with_cgroup.as_list())) == vars(with_cgroup)
    without = ProxyFds(3, 4, 5, 6, 7, -1)
    assert without.as_list() == [3, 4, 5, 6, 7]
    assert ProxyFds.from_list(without.as_list()).procs == -1


def test_a_server_error_reply_becomes_a_setup_error_and_closes_stray_fds():
    stray = os.open(os.devnull, os.O_RDONLY)
    with pytest.raises(SetupError, match="Resource temporarily unavailable") as caught:
        _proxy_from_reply(b"error 11 [Errno 11] Resource temporarily unavailable", [stray])
    assert caught.value.fields["errno"] == 11
    with pytest.raises(OSError):
        os.fstat(stray)
