"""sandbox.result: decide_verdict's fixed precedence and the stable result record."""
from __future__ import annotations

import json
import signal

import pytest

from sandbox.limits import Limits
from sandbox.result import Result, Usage, Verdict, decide_verdict

LIMITS = Limits(cpu_time=1.0, wall_time=2.0, memory=64 << 20)
NO_LIMITS = Limits()

OK_USAGE = dict(exit_code=0, cpu_time=0.1, wall_time=0.2, memory_peak=1 << 20)


def verdict(limits=LIMITS, **usage):
    fields = {**OK_USAGE, **usage}
    return decide_verdict(Usage(**fields), limits)


# --- single outcomes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "usage, expected",
    [
        ({}, (Verdict.OK, None)),
        ({"exit_code": 1}, (Verdict.RE, None)),
        ({"exit_code": 255}, (Verdict.RE, None)),
        ({"exit_code": None, "signal": signal.SIGSEGV}, (Verdict.RE, None)),
        ({"exit_code": None, "signal": signal.SIGABRT}, (Verdict.RE, None)),
        ({"exit_code": None, "signal": signal.SIGKILL}, (Verdict.RE, None)),
        ({"exit_code": None, "signal": signal.SIGSYS}, (Verdict.SV, None)),
        # RLIMIT_CPU's SIGXCPU at the limit (rusage may read a few ms short) is TLE ...
        ({"exit_code": None, "signal": signal.SIGXCPU, "cpu_time": 0.99}, (Verdict.TLE, "cpu_time")),
        ({"exit_code": None, "signal": signal.SIGXCPU, "cpu_time": 0.92}, (Verdict.TLE, "cpu_time")),  # under load
        # ... but a SIGXCPU the program raised on itself long before it is its own death: RE.
        ({"exit_code": None, "signal": signal.SIGXCPU, "cpu_time": 0.02}, (Verdict.RE, None)),
        ({"exit_code": None, "signal": signal.SIGXFSZ}, (Verdict.OLE, "output")),
        ({"killed_for": "wall_time", "exit_code": None, "signal": signal.SIGKILL}, (Verdict.TLE, "wall_time")),
        ({"killed_for": "cpu_time", "exit_code": None, "signal": signal.SIGKILL}, (Verdict.TLE, "cpu_time")),
        ({"killed_for": "output", "exit_code": None, "signal": signal.SIGKILL}, (Verdict.OLE, "output")),
        ({"cpu_time": 1.01}, (Verdict.TLE, "cpu_time")),
        ({"memory_peak": (64 << 20) + 1}, (Verdict.MLE, "memory")),
        ({"oom_killed": True, "exit_code": None, "signal": signal.SIGKILL}, (Verdict.MLE, "memory")),
        ({"output_exceeded": True}, (Verdict.OLE, "output")),
    ],
)
def test_single_outcome(usage, expected):
    assert verdict(**usage) == expected


def test_usage_exactly_at_the_limit_is_ok():
    assert verdict(cpu_time=1.0, memory_peak=64 << 20) == (Verdict.OK, None)


def test_no_limits_no_limit_verdicts():
    assert verdict(NO_LIMITS, cpu_time=1e6, memory_peak=1 << 40) == (Verdict.OK, None)


def test_unknown_memory_peak_is_not_mle():
    assert verdict(memory_peak=None) == (Verdict.OK, None)


# --- precedence: TLE > MLE > OLE > SV > RE > OK ---------------------------------------------------

TLE = {"killed_for": "wall_time"}
TLE_CPU = {"cpu_time": 5.0}
MLE = {"oom_killed": True}
MLE_PEAK = {"memory_peak": 1 << 30}
OLE = {"output_exceeded": True}
SV = {"signal": signal.SIGSYS, "exit_code": None}
RE = {"exit_code": 3}


@pytest.mark.parametrize(
    "parts, expected",
    [
        ((TLE, MLE), Verdict.TLE),
        ((TLE_CPU, MLE_PEAK), Verdict.TLE),
        ((TLE, OLE), Verdict.TLE),
        ((TLE_CPU, SV), Verdict.TLE),
        ((TLE, RE), Verdict.TLE),
        ((TLE, MLE, OLE, SV), Verdict.TLE),
        ((MLE, OLE), Verdict.MLE),
        ((MLE_PEAK, OLE), Verdict.MLE),
        ((MLE, SV), Verdict.MLE),
        ((MLE_PEAK, RE), Verdict.MLE),
        ((MLE, OLE, SV), Verdict.MLE),
        ((OLE, SV), Verdict.OLE),
        ((OLE, RE), Verdict.OLE),
        ((SV, RE), Verdict.SV),
        ((RE,), Verdict.RE),
        ((), Verdict.OK),
    ],
)
def test_precedence(parts, expected):
    usage = {}
    for part in parts:
        usage.update(part)
    assert verdict(**usage)[0] == expected


def test_wall_time_kill_wins_over_cpu_overrun():
    assert verdict(killed_for="wall_time", cpu_time=5.0) == (Verdict.TLE, "wall_time")


def test_cpu_overrun_wins_over_an_oom_kill():
    assert verdict(oom_killed=True, cpu_time=5.0) == (Verdict.TLE, "cpu_time")


def test_memory_wins_over_an_output_kill():
    assert verdict(killed_for="output", oom_killed=True) == (Verdict.MLE, "memory")


# --- Result --------------------------------------------------------------------------------------


def make_result(**fields):
    base = dict(
        verdict=Verdict.OK, exit_code=0, signal=None, limit=None, cpu_time=0.25, user_time=0.2, system_time=0.05,
        wall_time=0.5, memory_peak=12345, pids_peak=2, oom_killed=False,
        enforced_by={"memory": "cgroup memory.max", "cpu_time": "RLIMIT_CPU"}, message="",
        stdout=b"hello\n", stderr=b"",
    )
    base.update(fields)
    return Result(**base)


@pytest.mark.parametrize(
    "exit_code, sig, expected",
    [
        (0, None, 0),
        (1, None, 1),
        (42, None, 42),
        (None, signal.SIGKILL, 128 + 9),
        (None, signal.SIGSEGV, 128 + 11),
        (None, signal.SIGXCPU, 128 + 24),
        (None, signal.SIGSYS, 128 + 31),
        (None, None, 125),
    ],
)
def test_cli_exit_code(exit_code, sig, expected):
    assert make_result(exit_code=exit_code, signal=sig).cli_exit_code == expected


CONTRACT_KEYS = {
    "verdict", "exit_code", "signal", "limit", "cpu_time", "wall_time", "memory_peak", "pids_peak", "oom_killed",
    "enforced_by", "message", "stdout",
}


def test_to_dict_has_the_contract_keys():
    document = make_result().to_dict()
    assert CONTRACT_KEYS <= set(document)


def test_to_dict_values():
    document = make_result(
        verdict=Verdict.TLE, exit_code=None, signal=signal.SIGKILL, limit="cpu_time", message="cpu_time limit",
    ).to_dict()
    assert document["verdict"] == "TLE"
    assert type(document["verdict"]) is str
    assert document["exit_code"] is None
    assert document["signal"] == 9
    assert document["limit"] == "cpu_time"
    assert document["cpu_time"] == 0.25
    assert document["wall_time"] == 0.5
    assert document["memory_peak"] == 12345
    assert document["pids_peak"] == 2
    assert document["oom_killed"] is False
    assert document["enforced_by"] == {"memory": "cgroup memory.max", "cpu_time": "RLIMIT_CPU"}
    assert document["message"] == "cpu_time limit"
    assert document["stdout"] == "hello\n"
    assert document["stderr"] == ""


def test_to_dict_is_json_serialisable_and_round_trips():
    document = make_result(verdict=Verdict.RE, exit_code=None, signal=signal.SIGSEGV).to_dict()
    again = json.loads(json.dumps(document))
    assert again == document
    assert again["verdict"] == "RE"


def test_to_dict_decodes_stdout_with_replacement():
    document = make_result(stdout=b"caf\xc3\xa9 \xff", stderr=None).to_dict()
    assert document["stdout"] == "caf\u00e9 \ufffd"
    assert document["stderr"] is None


def test_to_dict_stdout_none_when_not_captured():
    assert make_result(stdout=None).to_dict()["stdout"] is None


def test_to_dict_does_not_alias_enforced_by():
    result = make_result()
    result.to_dict()["enforced_by"]["memory"] = "changed"
    assert result.enforced_by["memory"] == "cgroup memory.max"


@pytest.mark.parametrize("value", list(Verdict))
def test_verdict_values_are_their_names(value):
    assert value.value == value.name
    assert make_result(verdict=value).to_dict()["verdict"] == value.name


def test_verdict_set_is_the_contract():
    assert {v.value for v in Verdict} == {"OK", "RE", "TLE", "MLE", "OLE", "SV", "IE", "WA", "PE"}


def test_to_dict_names_the_case_of_a_batch_and_none_for_a_plain_run():
    assert make_result().to_dict()["case"] is None
    assert make_result(case="07").to_dict()["case"] == "07"


def test_to_dict_with_a_realtime_signal():
    sig = signal.SIGRTMIN + 6
    document = make_result(exit_code=None, signal=sig, verdict=Verdict.RE).to_dict()
    assert document["signal"] == sig


@pytest.mark.parametrize("sig, name", [(None, None), (signal.SIGKILL, "SIGKILL"), (signal.SIGABRT, "SIGABRT"), (40, "SIG40")])
def test_the_api_result_has_the_signal_name_the_json_has(sig, name):
    result = make_result(signal=sig)
    assert result.signal_name == name
    assert result.to_dict()["signal_name"] == name
