"""sandbox._channel: the parent <-> child wire format."""
from __future__ import annotations

import json
import os
import threading

import pytest

from sandbox import _channel
from sandbox.plan import Request
from sandbox.profile import load_profile
from sandbox.result import Verdict

from planning import plan_here


@pytest.fixture
def pipe():
    read_fd, write_fd = os.pipe()
    fds = {"r": read_fd, "w": write_fd}
    yield fds
    for fd in fds.values():
        try:
            os.close(fd)
        except OSError:
            pass


def _close(fds, end):
    os.close(fds[end])
    fds[end] = -1


# --- RecordReader --------------------------------------------------------------------------------


def test_whole_records():
    reader = _channel.RecordReader()
    records = list(reader.feed(b'{"kind":"started"}\n{"kind":"exited","status":0}\n'))
    assert records == [{"kind": "started"}, {"kind": "exited", "status": 0}]


def test_partial_record_waits_for_its_newline():
    reader = _channel.RecordReader()
    assert list(reader.feed(b'{"kind":"sta')) == []
    assert list(reader.feed(b'rted"}')) == []
    assert list(reader.feed(b'\n{"kind":"exited"')) == [{"kind": "started"}]
    assert list(reader.feed(b',"status":3}\n')) == [{"kind": "exited", "status": 3}]
    assert list(reader.feed(b"")) == []


STREAM = b"".join(
    json.dumps(r).encode() + b"\n"
    for r in [
        {"kind": "started"},
        {"kind": "setup_failed", "step": "mount", "message": "caf\u00e9 \u2603 / no such file"},
        {"kind": "exited", "status": 9, "usage": {"cpu": 0.5}},
    ]
)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 16, len(STREAM)])
def test_any_split_gives_the_same_records(size):
    reader = _channel.RecordReader()
    records = []
    for start in range(0, len(STREAM), size):
        records.extend(reader.feed(STREAM[start:start + size]))
    assert [r["kind"] for r in records] == ["started", "setup_failed", "exited"]
    assert records[1]["message"] == "caf\u00e9 \u2603 / no such file"
    assert records[2]["usage"] == {"cpu": 0.5}


def test_utf8_split_inside_a_character():
    line = '{"kind":"x","m":"\u00e9"}\n'.encode()  # raw UTF-8, not \u-escaped
    cut = line.index(b"\xc3") + 1
    reader = _channel.RecordReader()
    assert list(reader.feed(line[:cut])) == []
    assert list(reader.feed(line[cut:])) == [{"kind": "x", "m": "\u00e9"}]


def test_empty_lines_are_skipped():
    reader = _channel.RecordReader()
    assert list(reader.feed(b'\n\n{"kind":"a"}\n\n')) == [{"kind": "a"}]


# --- send_record -> RecordReader over a pipe -----------------------------------------------------


def test_send_record_round_trip(pipe):
    _channel.send_record(pipe["w"], _channel.STARTED)
    _channel.send_record(pipe["w"], _channel.EXITED, status=256, cpu_time=0.125, note="\u00e9")
    _close(pipe, "w")
    data = os.read(pipe["r"], 1 << 16)
    assert data.count(b"\n") == 2
    records = list(_channel.RecordReader().feed(data))
    assert records == [
        {"kind": "started"},
        {"kind": "exited", "status": 256, "cpu_time": 0.125, "note": "\u00e9"},
    ]


def test_send_record_keeps_huge_records_below_pipe_buf(pipe):
    _channel.send_record(pipe["w"], _channel.SETUP_FAILED, step="mount", message="x" * 100_000)
    _close(pipe, "w")
    data = os.read(pipe["r"], 1 << 20)
    assert len(data) <= 4096
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    (record,) = _channel.RecordReader().feed(data)
    assert record["kind"] == _channel.SETUP_FAILED
    assert record["message"].startswith("xxx")


def test_send_record_keeps_huge_non_ascii_records_below_pipe_buf(pipe):
    _channel.send_record(pipe["w"], _channel.SETUP_FAILED, message="\u00e9" * 5000)
    _close(pipe, "w")
    assert len(os.read(pipe["r"], 1 << 20)) <= 4096


def test_record_kinds_are_distinct():
    kinds = [_channel.STARTED, _channel.EXITED, _channel.SETUP_FAILED, _channel.EXEC_FAILED]
    assert len(set(kinds)) == len(kinds)


# --- plan_memfd / receive_plan ------------------------------------------------------------------------


def test_plan_round_trip(minimal_profile_path):
    plan = plan_here(load_profile(minimal_profile_path), Request(program=("/bin/true",)), 1000, 1000)
    payload = (plan, b"\x06\x00\x00\x00\x00\x00\xff\x7f")
    fd = _channel.plan_memfd(payload)
    try:
        received = _channel.receive_plan(fd)
    finally:
        os.close(fd)
    assert received == payload
    assert received[0] is not plan


def test_a_plan_of_any_size_travels_without_a_pipe():
    """A memfd: no pipe buffer to grow, so no per-user pipe quota (which a box can drain) to depend on."""
    with open("/proc/sys/fs/pipe-max-size") as f:
        limit = int(f.read())
    payload = {"bpf": os.urandom(limit + 4096), "verdict": Verdict.MLE, "nested": [list(range(1000))] * 5}
    fd = _channel.plan_memfd(payload)
    try:
        assert _channel.receive_plan(fd) == payload
        assert "memfd:sandbox-plan" in os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)
