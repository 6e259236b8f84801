"""The API's validation happens in the constructor, before any box is built."""
from __future__ import annotations

import pytest

from sandbox import ProfileError, Sandbox, UsageError
from sandbox.limits import parse_overrides


@pytest.mark.parametrize("value", ["1s", "unlimited", None])
def test_unknown_limit_is_a_usage_error_whatever_its_value(value):
    with pytest.raises(UsageError, match="bogus"):
        parse_overrides({"bogus": value})


def test_limit_overrides_are_parsed_and_applied():
    box = Sandbox("py3", cpu_time="1.5s", memory="64M", pids="unlimited")
    assert (box.profile.limits.cpu_time, box.profile.limits.memory, box.profile.limits.pids) == (1.5, 64 << 20, None)


def test_bad_limit_value_names_the_limit():
    with pytest.raises(UsageError, match="memory"):
        Sandbox("py3", memory="lots")


def test_unknown_profile_is_a_profile_error():
    with pytest.raises(ProfileError, match="no such profile"):
        Sandbox("no-such-profile")


def test_the_public_surface_is_pinned():
    import sandbox

    assert sorted(sandbox.__all__) == sorted([
        "CAPTURE", "PASS", "STDOUT", "TERMINAL", "Sandbox", "run", "Bind", "Limits", "Profile", "load_profile", "Result",
        "Verdict", "SandboxError", "UsageError", "ProfileError", "HostError", "SetupError", "ExecError",
        "Case", "cases_from_dir", "run_spec", "parse_spec", "Member", "Pipe", "run_group",
        "interaction_verdict", "checker_verdict",
    ])
    for name in sandbox.__all__:
        assert getattr(sandbox, name) is not None


def test_stdout_cannot_be_merged_into_itself():
    with pytest.raises(UsageError, match="only stderr"):
        Sandbox("sh").run(["true"], stdout="stdout")


def test_a_missing_stdin_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="missing.txt"):
        Sandbox("sh").run(["cat"], stdin=str(tmp_path / "missing.txt"))


def test_timeout_and_wall_time_together_are_a_usage_error():
    with Sandbox("sh") as box, pytest.raises(UsageError, match="timeout or wall_time"):
        box.run(["true"], timeout=1, wall_time=2)


@pytest.mark.parametrize("taken", ["stdin", "stdout"])
def test_run_cases_takes_stdin_from_each_case_and_captures_stdout(taken):
    from sandbox import Case

    with pytest.raises(UsageError, match=f"run_cases: {taken}"):
        Sandbox("sh").run_cases(["cat"], [Case("1")], **{taken: b"x" if taken == "stdin" else 1})


def test_run_cases_checks_its_arguments_before_any_box(monkeypatch):
    from sandbox import Case

    box = Sandbox("sh")
    monkeypatch.setattr(box, "run", lambda *a, **k: pytest.fail("a box was started"))
    with pytest.raises(UsageError, match="compare"):
        box.run_cases(["cat"], [Case("1")], compare="fuzzy")
    with pytest.raises(UsageError, match="repeated: 1"):
        box.run_cases(["cat"], [Case("1"), Case("1")])
