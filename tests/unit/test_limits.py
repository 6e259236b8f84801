"""sandbox.limits: the one limit table, and everything that reads it (flags, keywords, profiles, plans, messages)."""
from __future__ import annotations

import dataclasses
import itertools

import pytest

from sandbox import cli, rlimits, supervisor
from sandbox.api import Sandbox
from sandbox.cgroup import CONTROLLERS, CgroupLimits
from sandbox.errors import ProfileError, UsageError
from sandbox.hostside import HostSide
from sandbox.limits import (
    BY_NAME, CGROUP_V1, COUNT, CPUS, DURATION, SIZE, TABLE, V1_MECHANISMS, Limit, Limits, Mechanism, each_set, overridden,
    parse_overrides,
)
from sandbox.plan import Plan, Request, make_plan
from sandbox.profile import load_profile
from sandbox.result import Usage
from sandbox.units import UnitError

from planning import FULL, plan_here

M = 1 << 20
# A value of each unit as written, and as parsed.
SAMPLES = {DURATION: ("1.5s", 1.5), SIZE: ("3M", 3 * M), COUNT: ("7", 7), CPUS: ("0.5", 0.5)}
ALL_SET = Limits(**{limit.name: SAMPLES[limit.unit][1] for limit in TABLE})
# What a result's enforced_by says for each limit: judges match on these texts, so they change only with
# what enforces the limit (cpu_time without a cgroup: RLIMIT_CPU until issue 14, the supervisor's watch since).
ALONE = {
    "cpu_time": "supervisor watch of the box's CPU time (/proc; RLIMIT_CPU a second later as a backstop)",
    "wall_time": "supervisor timer",
    "memory": "RLIMIT_AS (per process address space)",
    "pids": "RLIMIT_NPROC (per box user namespace)",
    "output": "supervisor output cap",
    "file_size": "RLIMIT_FSIZE",
    "open_files": "RLIMIT_NOFILE",
    "stack": "RLIMIT_STACK",
    "tmp_size": "tmpfs size",
    "shm_size": "tmpfs size",
    "cpus": "not enforced: needs a delegated cgroup v2 subtree (cpu.max)",
}
AS_ROOT = {**ALONE, "pids": "not enforced: the kernel exempts uid 0 from RLIMIT_NPROC"}
WITH_CGROUP = {
    **ALONE,
    "cpu_time": "cgroup cpu.stat (whole box, watched by the supervisor)",
    "memory": "cgroup memory.max (swap off)",
    "pids": "cgroup pids.max",
    "cpus": "cgroup cpu.max",
}

# A subtree with only some controllers (systemd's Delegate= without cpu; with pids alone): each limit whose
# controller is missing is what it is without a cgroup, but cpus, which says why it is not enforced.
NO_CPU = {**WITH_CGROUP, "cpus": "not enforced: the cpu controller is not delegated to the cgroup v2 subtree (cpu.max)"}
PIDS_ONLY = {**NO_CPU, "memory": "RLIMIT_AS (per process address space)"}
MEMORY_ONLY = {**NO_CPU, "pids": "RLIMIT_NPROC (per box user namespace)"}
MEMORY_ONLY_AS_ROOT = {**NO_CPU, "pids": "not enforced: the kernel exempts uid 0 from RLIMIT_NPROC"}
# A box whose cgroups are v1 ones (issue 20): memory and pids held there, in v1's words; no cpu quota.
WITH_V1 = {
    **ALONE,
    "cpu_time": "cgroup v1 cpuacct.usage (whole box, watched by the supervisor)",
    "memory": "cgroup v1 memory.limit_in_bytes (memory.memsw.limit_in_bytes too where swap is accounted)",
    "pids": "cgroup v1 pids.max",
    "cpus": "not enforced: no cpu quota on cgroup v1 boxes (cpu.max is cgroup v2's)",
}
V1_MEMORY_ONLY = {**WITH_V1, "pids": "RLIMIT_NPROC (per box user namespace)"}
SUBSETS = [frozenset(chosen) for n in range(len(CONTROLLERS) + 1) for chosen in itertools.combinations(CONTROLLERS, n)]
PARTIAL = [
    (frozenset({"memory", "pids"}), False, NO_CPU), (frozenset({"memory", "pids"}), True, NO_CPU),
    (frozenset({"pids"}), False, PIDS_ONLY), (frozenset({"memory"}), False, MEMORY_ONLY),
    (frozenset({"memory"}), True, MEMORY_ONLY_AS_ROOT), (frozenset({"pids", "cpu"}), False, {**WITH_CGROUP,
                                                                                         "memory": ALONE["memory"]}),
]


def by_name(limit: Limit) -> str:
    return limit.name


def plan_of(limits: Limits, cgroup: frozenset[str] = frozenset(), uid: int = 1000) -> Plan:
    """A plan of the sh profile with these limits (and no mounts: nothing of the host is needed)."""
    profile = dataclasses.replace(load_profile("sh"), mounts=(), limits=limits)
    return make_plan(profile, Request(program=("/bin/true",)), HostSide(), uid, 1000, cgroup)


# --- the table and Limits ------------------------------------------------------------------------


def test_limits_has_a_field_for_each_row_in_table_order():
    assert tuple(field.name for field in dataclasses.fields(Limits)) == tuple(BY_NAME)


@pytest.mark.parametrize("limit", TABLE, ids=by_name)
def test_each_field_holds_what_its_unit_parses_to(limit):
    written, parsed = SAMPLES[limit.unit]
    assert limit.parse(written) == parsed
    (field,) = [f for f in dataclasses.fields(Limits) if f.name == limit.name]
    assert field.type == f"Optional[{type(parsed).__name__}]" and field.default is None


@pytest.mark.parametrize("limit", TABLE, ids=by_name)
def test_unlimited_and_none_remove_a_limit_and_nonsense_is_refused(limit):
    assert limit.parse("unlimited") is None and limit.parse(None) is None
    with pytest.raises(UnitError):
        limit.parse("lots")


def test_each_set_gives_the_set_limits_in_table_order():
    assert [(limit.name, value) for limit, value in each_set(Limits(pids=3, memory=M))] == [("memory", M), ("pids", 3)]
    assert list(each_set(Limits())) == []


# --- mechanisms ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cgroup, root, expected", [
    (frozenset(), False, ALONE), (frozenset(), True, AS_ROOT), (FULL, False, WITH_CGROUP), (FULL, True, WITH_CGROUP),
    *PARTIAL,
])
def test_enforced_by_texts_are_unchanged_in_every_case(cgroup, root, expected):
    assert {limit.name: limit.enforced_by(cgroup, root).value for limit in TABLE} == expected


@pytest.mark.parametrize("cgroup, root, expected", [
    (frozenset(), False, ALONE), (frozenset(), True, AS_ROOT), (FULL, False, WITH_CGROUP), (FULL, True, WITH_CGROUP),
    *PARTIAL,
    (frozenset({"memory", "pids", CGROUP_V1}), False, WITH_V1), (frozenset({"memory", CGROUP_V1}), False, V1_MEMORY_ONLY),
])
def test_a_plan_states_the_tables_mechanisms(cgroup, root, expected):
    plan = plan_of(ALL_SET, cgroup, uid=0 if root else 1000)
    assert {name: mechanism.value for name, mechanism in plan.enforced_by} == expected
    assert all(type(mechanism.value) is str for _, mechanism in plan.enforced_by)  # plain JSON text


def test_every_mechanism_is_some_limits_and_has_a_text_of_its_own():
    used = {limit.enforced_by(cgroup, root, only, backstops) for limit in TABLE for cgroup in SUBSETS
            for root in (False, True) for only in (False, True) for backstops in (False, True)}
    told_v1 = {V1_MECHANISMS.get(mechanism, mechanism) for mechanism in used}  # a v1 box's words (plan._enforced_by)
    assert used | told_v1 == set(Mechanism)
    assert len(Mechanism.__members__) == len(Mechanism)  # no two members share a text (an alias)


@pytest.mark.parametrize("limit", TABLE, ids=by_name)
def test_an_rlimit_is_the_one_its_mechanism_names(limit):
    alone = limit.enforced_by(cgroup=frozenset(), root=False)
    if limit.rlimit is None:
        assert not alone.name.startswith("RLIMIT_")
    elif alone.name.startswith("RLIMIT_"):
        assert limit.rlimit.resource in rlimits.RESOURCES
        assert alone.name == "RLIMIT_" + limit.rlimit.resource.upper()
    else:  # enforced otherwise, the rlimit only a backstop: the text says which and that it is one
        assert f"RLIMIT_{limit.rlimit.resource.upper()}" in alone.value and "backstop" in alone.value


@pytest.mark.parametrize("limit", TABLE, ids=by_name)
def test_a_cgroup_file_is_the_one_its_mechanism_names_and_replaces_the_rlimit(limit):
    with_cgroup = limit.enforced_by(cgroup=FULL, root=False)
    assert limit.applied_rlimit(cgroup=frozenset()) is limit.rlimit
    if limit.cgroup is None:
        assert limit.applied_rlimit(cgroup=FULL) is limit.rlimit  # RLIMIT_CPU: a backstop
    else:
        assert with_cgroup.value.startswith(f"cgroup {limit.cgroup.name}")
        assert limit.applied_rlimit(cgroup=FULL) is None


def test_each_cgroup_file_belongs_to_a_controller_a_box_uses():
    assert {limit.cgroup.controller for limit in TABLE if limit.cgroup} == set(CONTROLLERS)
    assert BY_NAME["cpus"].cgroup.controller == "cpu" and BY_NAME["memory"].cgroup.controller == "memory"


@pytest.mark.parametrize("cgroup", SUBSETS, ids=lambda c: "+".join(sorted(c)) or "none")
def test_a_limit_is_the_cgroups_exactly_where_its_controller_is(cgroup):
    """Its file in the box's cgroup and no rlimit, or its rlimit (the no-cgroup one) and no file."""
    plan = plan_of(ALL_SET, cgroup)
    files = {name for name, _ in plan.cgroup.files} if plan.cgroup else set()
    held = {limit.name for limit in TABLE if limit.cgroup and limit.cgroup.name in files}
    assert held == {limit.name for limit in TABLE if limit.cgroup and limit.cgroup.controller in cgroup}
    applied = {r.name for r in plan.rlimits}
    assert ("as" in applied) == ("memory" not in held) and ("nproc" in applied) == ("pids" not in held)
    assert (plan.cgroup is None) == (not cgroup)


def test_a_cgroup_only_limit_whose_controller_is_missing_gets_no_rlimit_and_says_so():
    profile = dataclasses.replace(load_profile("sh"), mounts=(), limits=Limits(memory=M), cgroup_only=("memory",))
    plan = make_plan(profile, Request(program=("/bin/true",)), HostSide(), 1000, 1000, frozenset({"pids"}))
    assert "as" not in {r.name for r in plan.rlimits} and plan.cgroup == CgroupLimits(())
    assert dict(plan.enforced_by)["memory"] is Mechanism.NOT_ENFORCED_CONTROLLER_NOT_DELEGATED


def test_the_cgroup_files_and_rlimits_of_a_plan_come_from_the_table():
    with_cgroup = plan_of(ALL_SET, cgroup=FULL)
    assert with_cgroup.cgroup is not None and with_cgroup.cgroup.files == (
        ("memory.max", str(3 * M)), ("memory.swap.max", "0"), ("memory.oom.group", "1"),
        ("pids.max", "7"), ("cpu.max", "50000 100000"),
    )
    kept = [(r.name, r.soft, r.hard) for r in with_cgroup.rlimits if r.name in ("cpu", "fsize", "nofile", "stack")]
    assert kept == [("cpu", 3, 4), ("fsize", 3 * M, 3 * M), ("nofile", 7, 7), ("stack", 3 * M, 3 * M)]
    assert not {"as", "nproc"} & {r.name for r in with_cgroup.rlimits}
    alone = plan_of(ALL_SET)
    assert alone.cgroup is None
    assert [(r.name, r.soft) for r in alone.rlimits if r.name in ("as", "nproc")] == [("as", 3 * M), ("nproc", 7 + 1)]


def test_a_tiny_cpu_quota_is_the_least_the_kernel_takes():
    plan = plan_of(Limits(cpus=0.001), cgroup=FULL)
    assert plan.cgroup is not None and plan.cgroup.files == (("cpu.max", "1000 100000"),)


# --- every way a limit is given: a flag, an API keyword, a profile key ----------------------------


def test_the_flags_are_todays():
    assert [limit.flag for limit in TABLE if limit.flag] == [
        "--cpu-time", "--wall-time", "--memory", "--pids", "--output", "--file-size", "--open-files", "--stack",
        "--tmp-size", "--shm-size", "--cpus"]


def test_every_limit_has_a_flag():
    assert [limit.name for limit in TABLE if not limit.flag] == []


@pytest.mark.parametrize("limit", [limit for limit in TABLE if limit.flag], ids=by_name)
def test_each_flag_reaches_the_request_parsed(limit, monkeypatch, capsys):
    written, parsed = SAMPLES[limit.unit]
    assert limit.flag == "--" + limit.name.replace("_", "-")
    seen = []

    def run(profile, request, *rest):
        seen.append(request.limits)
        raise UsageError("stopped before the box")

    monkeypatch.setattr(supervisor, "run", run)
    with pytest.raises(SystemExit):
        cli.main(["run", "--profile", "sh", limit.flag, written, "--", "/bin/true"])
    assert seen == [{limit.name: parsed}]
    assert "stopped before the box" in capsys.readouterr().err


def test_each_flag_has_its_help_line(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    shown = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for limit in TABLE:
        assert (limit.flag is not None) == (f"{limit.flag} VALUE" in shown)
        if limit.flag:
            assert limit.help in shown


@pytest.mark.parametrize("limit", TABLE, ids=by_name)
def test_each_limit_is_an_api_keyword_of_a_sandbox_and_of_a_run(limit):
    written, parsed = SAMPLES[limit.unit]
    box = Sandbox("sh", **{limit.name: written})
    assert getattr(box.profile.limits, limit.name) == parsed
    assert box._request(["/bin/true"], **{limit.name: "unlimited"}).limits == {limit.name: None}


@pytest.mark.parametrize("limit", TABLE, ids=by_name)
def test_each_limit_is_a_profile_key(limit, write_profile):
    written, parsed = SAMPLES[limit.unit]
    profile = load_profile(write_profile(f"limits: {{{limit.name}: '{written}'}}\nseccomp: {{allow: [read]}}\n"))
    assert profile.limits == Limits(**{"shm_size": 16 * M, limit.name: parsed})


def test_a_profile_that_does_not_name_shm_size_gets_16m_and_unlimited_removes_it(write_profile):
    assert load_profile(write_profile("seccomp: {allow: [read]}\n")).limits == Limits(shm_size=16 * M)
    written = write_profile("limits: {shm_size: unlimited}\nseccomp: {allow: [read]}\n", "none.yaml")
    assert load_profile(written).limits == Limits()


def test_the_dev_mount_carries_shm_size_to_the_box():
    profile = load_profile("sh")
    (dev,) = [op for op in plan_here(profile, Request(program=("/bin/true",))).mounts if op.kind == "dev"]
    assert dev.size == 16 * M
    (dev,) = [op for op in plan_here(dataclasses.replace(profile, limits=Limits()), Request(
        program=("/bin/true",), limits={"shm_size": 1 * M})).mounts if op.kind == "dev"]
    assert dev.size == 1 * M


@pytest.mark.parametrize("limit", TABLE, ids=by_name)
@pytest.mark.parametrize("zero", [0, 0.0, "0", "00", "0.0", " 0 "])
def test_zero_is_refused_for_every_limit_with_a_hint_at_unlimited(limit, zero):
    with pytest.raises(UnitError, match="^0 is no limit: write unlimited for none"):
        limit.parse(zero)


@pytest.mark.parametrize("limit, zero", [
    (BY_NAME["memory"], "0M"), (BY_NAME["tmp_size"], "0KiB"), (BY_NAME["cpu_time"], "0s"),
    (BY_NAME["wall_time"], "0ms"), (BY_NAME["memory"], "0.0001K"),
])
def test_a_zero_written_with_a_unit_is_refused_too(limit, zero):
    with pytest.raises(UnitError, match="^0 is no limit"):
        limit.parse(zero)


@pytest.mark.parametrize("how", ["flag", "keyword", "profile"])
def test_zero_is_refused_as_a_flag_a_keyword_and_a_profile_key(how, run_cli, write_profile):
    if how == "flag":
        ran = run_cli("run", "--profile", "sh", "--memory", "0", "--", "/bin/true")
        assert ran.returncode == 125 and ran.stderr == "sandbox: limit memory: 0 is no limit: write unlimited for none, got '0'\n"
    elif how == "keyword":
        with pytest.raises(UsageError, match="limit cpu_time: 0 is no limit"):
            Sandbox("sh", cpu_time=0)
    else:
        with pytest.raises(ProfileError, match="limits.cpu_time: 0 is no limit"):
            load_profile(write_profile("limits: {cpu_time: 0}\nseccomp: {allow: [read]}\n"))


def test_overrides_are_parsed_and_name_the_limit_they_refuse():
    assert parse_overrides({"memory": "64M", "cpu_time": 1, "pids": "unlimited"}) == {
        "memory": 64 * M, "cpu_time": 1.0, "pids": None}
    with pytest.raises(UsageError, match="unknown limit 'swap'"):
        parse_overrides({"swap": "1G"})
    with pytest.raises(UsageError, match="^limit memory: expected a size"):
        parse_overrides({"memory": "lots"})


def test_an_override_replaces_or_removes_and_leaves_the_rest():
    base = Limits(memory=M, pids=4, cpu_time=1.0)
    assert overridden(base, {"memory": 2 * M, "pids": None}) == Limits(memory=2 * M, cpu_time=1.0)
    assert base == Limits(memory=M, pids=4, cpu_time=1.0)


# --- the result's message tests the mechanism, not its text ----------------------------------------


def message(verdict, limit, cgroup, stderr=None, **usage):
    plan = plan_of(Limits(memory=M, wall_time=1.0), FULL if cgroup else frozenset())
    return supervisor._message(verdict, limit, Usage(**usage), plan, stderr)


def test_a_limit_verdict_names_what_enforced_it():
    assert message("TLE", "wall_time", False) == "wall_time limit exceeded (enforced by supervisor timer)"
    assert message("MLE", "memory", True) == "memory limit exceeded (enforced by cgroup memory.max (swap off))"
    assert message("OLE", "output", False) == "output limit exceeded (enforced by the supervisor)"  # no output limit set


NOTE = " (note: memory is capped by RLIMIT_AS, where a failed allocation is an error of the program)"


def test_an_error_under_rlimit_as_says_it_may_have_been_memory_where_it_plausibly_was():
    """The note comes where a failed allocation is a plausible cause: a crash by SIGSEGV, SIGABRT or
    SIGBUS, a stderr that says memory ran out, or a peak near the limit; not on any failure."""
    assert message("RE", None, False, exit_code=None, signal=11) == "killed by SIGSEGV" + NOTE
    assert message("RE", None, False, exit_code=None, signal=6) == "killed by SIGABRT" + NOTE
    assert message("RE", None, False, b"Traceback...\nMemoryError\n", exit_code=1) == "exited with 1" + NOTE
    assert message("RE", None, False, exit_code=1, memory_peak=M // 2 + 1) == "exited with 1" + NOTE
    assert message("RE", None, True, exit_code=None, signal=11) == "killed by SIGSEGV"  # a cgroup says MLE itself


def test_an_error_of_the_program_s_own_gets_no_memory_note():
    assert message("RE", None, False, b"ZeroDivisionError: division by zero\n", exit_code=1) == "exited with 1"
    assert message("RE", None, False, exit_code=1, memory_peak=None) == "exited with 1"
    assert message("RE", None, False, exit_code=None, signal=15) == "killed by SIGTERM"


def test_a_profile_without_backstops_sets_no_rlimit_cpu_and_says_the_watch_alone_enforces():
    """ci keeps no RLIMIT_CPU (it makes time.process_time() tick-coarse); cpu_time is still enforced,
    by the supervisor's watch, and enforced_by says so without naming a backstop."""
    cpu = BY_NAME["cpu_time"]
    assert cpu.applied_rlimit(cgroup=frozenset(), backstops=False) is None
    assert cpu.applied_rlimit(cgroup=FULL, backstops=False) is None
    assert cpu.applied_rlimit(cgroup=frozenset()) is cpu.rlimit
    assert cpu.enforced_by(cgroup=frozenset(), root=False, backstops=False) is Mechanism.SUPERVISOR_CPU_WATCH_ALONE
    assert cpu.enforced_by(cgroup=FULL, root=False, backstops=False) is Mechanism.CGROUP_CPU_STAT
    assert BY_NAME["memory"].applied_rlimit(cgroup=frozenset(), backstops=False) is BY_NAME["memory"].rlimit  # not one
