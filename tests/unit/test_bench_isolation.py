"""bench/'s judgement of what the isolation probe saw (pure: the probe's JSON in, problems out)."""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "bench"))
import bench  # noqa: E402

OURS = {name: f"{name}:[4026531{i}]" for i, name in enumerate(bench.NAMESPACES)}
FRESH = {name: f"{name}:[4026532{i}]" for i, name in enumerate(bench.NAMESPACES)}
BOX = {"ns": FRESH, "Seccomp": "2", "NoNewPrivs": "1", "CapEff": "0000000000000000", "pid": 2,
       "interfaces": ["lo"], "writable_outside_tmp": {"/dev/shm": "tmpfs", "/work": "tmpfs"}}


def test_a_box_as_our_profiles_make_it_has_no_problem():
    assert bench.isolation_problems(BOX, OURS) == []


@pytest.mark.parametrize("change, problem", [
    ({"ns": {**FRESH, "net": OURS["net"], "ipc": OURS["ipc"]}},
     "namespaces shared with the bench (or unreadable): net, ipc"),
    ({"ns": {**FRESH, "cgroup": None}}, "namespaces shared with the bench (or unreadable): cgroup"),
    ({"Seccomp": "0"}, "seccomp mode 0, not 2 (filter)"),
    ({"NoNewPrivs": "0"}, "no_new_privs 0, not 1"),
    ({"interfaces": ["eth0", "lo"]}, "network interfaces besides lo: eth0"),
    ({"interfaces": None}, "network interfaces besides lo: unreadable"),
    ({"writable_outside_tmp": {"/var/tmp": "ext4"}}, "writes a disk outside /tmp: /var/tmp (ext4)"),
])
def test_each_missing_piece_is_named(change, problem):
    assert bench.isolation_problems({**BOX, **change}, OURS) == [problem]


def test_an_empty_network_namespace_without_lo_is_fine():
    assert bench.isolation_problems({**BOX, "interfaces": []}, OURS) == []
