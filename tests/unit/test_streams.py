"""Outlets never block and never touch the caller's own open file description; the Relay applies
back-pressure.  Pipes and socket pairs stand in for the caller's stdout and its reader."""
from __future__ import annotations

import fcntl
import os
import selectors
import socket

import pytest

from sandbox import streams
from sandbox.streams import PENDING_LIMIT, Outlet, Relay, outlets_for


@pytest.fixture
def pipe():
    read, write = os.pipe()
    yield read, write
    for fd in (read, write):
        try:
            os.close(fd)
        except OSError:
            pass


def drain(fd: int) -> bytes:
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.set_blocking(fd, True)
    return b"".join(chunks)


def read_all_it_sends(outlet: Outlet, read: int) -> bytes:
    """Be the reader until nothing waits in the outlet."""
    received = bytearray()
    while outlet.waiting:
        received += drain(read)
        outlet.flush()
    return bytes(received + drain(read))


def test_a_full_pipe_keeps_the_bytes_waiting_and_the_callers_description_blocking(pipe):
    read, write = pipe
    outlet = Outlet(write)
    try:
        assert outlet.mode == "private" and outlet.watch_fd != write
        outlet.send(b"x" * (4 << 20))  # far more than the pipe holds: returns at once
        assert outlet.waiting and 0 < len(outlet.pending) < 4 << 20
        assert not fcntl.fcntl(write, fcntl.F_GETFL) & os.O_NONBLOCK  # the caller's description untouched
        assert read_all_it_sends(outlet, read) == b"x" * (4 << 20)
    finally:
        outlet.close()


def test_a_reader_that_went_away_means_discard(pipe):
    read, write = pipe
    os.close(read)
    outlet = Outlet(write)
    try:
        outlet.send(b"lost")
        assert outlet.gone and not outlet.waiting and not outlet.full
        outlet.send(b"more")
        outlet.finish()  # nothing to wait for
    finally:
        outlet.close()


def test_without_the_reopen_it_writes_pipe_buf_at_a_time_and_only_when_writable(pipe, monkeypatch):
    monkeypatch.setattr(streams, "reopen_nonblocking", lambda fd: -1)
    read, write = pipe
    outlet = Outlet(write)
    assert outlet.mode == "polled" and outlet.watch_fd == write
    outlet.send(b"y" * (1 << 20))  # would block a plain write: the pipe holds 64 KiB
    assert outlet.waiting
    assert read_all_it_sends(outlet, read) == b"y" * (1 << 20)


def test_a_socket_gets_non_blocking_sends():
    ours, reader = socket.socketpair()
    with ours, reader:
        outlet = Outlet(ours.fileno())
        try:
            assert outlet.mode == "socket"
            outlet.send(b"z" * (8 << 20))
            assert outlet.waiting
            assert ours.getblocking()  # the caller's socket is untouched
        finally:
            outlet.close()


def test_a_regular_file_takes_plain_writes(tmp_path):
    with open(tmp_path / "out", "wb") as f:
        outlet = Outlet(f.fileno())
        outlet.send(b"all of it")
        assert outlet.mode == "plain" and not outlet.waiting
    assert (tmp_path / "out").read_bytes() == b"all of it"


def test_finish_delivers_everything_in_order(pipe):
    read, write = pipe
    outlet = Outlet(write)
    chunks = [bytes([65 + i % 26]) * 50000 for i in range(40)]
    for chunk in chunks:
        outlet.send(chunk)
    pid = os.fork()
    if pid == 0:  # a slow reader, so finish() has to wait for it
        outlet.close()
        os.close(write)
        received = bytearray()
        while data := os.read(read, 4096):
            received += data
        os._exit(0 if received == b"".join(chunks) else 1)
    os.close(read)
    outlet.finish()
    outlet.close()
    os.close(write)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def test_streams_into_the_same_pipe_share_one_outlet(pipe):
    _, write = pipe
    duplicate = os.dup(write)
    try:
        outlets = outlets_for({"stdout": write, "stderr": duplicate})
        assert outlets["stdout"] is outlets["stderr"]
    finally:
        for outlet in set(outlets.values()):
            outlet.close()
        os.close(duplicate)


def test_the_relay_stops_reading_a_stream_while_its_outlet_is_full_and_resumes(pipe):
    read, write = pipe
    box_read, box_write = os.pipe()
    outlet = Outlet(write)
    with selectors.DefaultSelector() as selector:
        relay = Relay(selector)
        relay.read(box_read)
        outlet.send(b"w" * (PENDING_LIMIT + (1 << 17)))
        relay.sent(box_read, outlet)
        assert box_read not in selector.get_map() and relay.paused == {box_read: outlet}
        assert selector.get_map()[outlet.watch_fd].data is outlet  # watched for writability
        while outlet.full:
            drain(read)
            relay.writable(outlet)
        assert box_read in selector.get_map() and relay.paused == {}
        while outlet.waiting:
            drain(read)
            relay.writable(outlet)
        assert outlet.watch_fd not in selector.get_map()  # nothing waits: not watched
        relay.forget(box_read)
        assert box_read not in selector.get_map()
    outlet.close()
    for fd in (box_read, box_write):
        os.close(fd)
