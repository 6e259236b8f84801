"""The API's validation happens in the constructor, before any box is built."""
from __future__ import annotations

import pytest

from sandbox import ProfileError, Sandbox, UsageError
from sandbox.api import parse_limit_overrides


@pytest.mark.parametrize("value", ["1s", "unlimited", None])
def test_unknown_limit_is_a_usage_error_whatever_its_value(value):
    with pytest.raises(UsageError, match="bogus"):
        parse_limit_overrides({"bogus": value})


def test_limit_overrides_are_parsed_and_applied():
    box = Sandbox("py3", cpu_time="1.5s", memory="64M", pids="unlimited")
    assert (box.profile.limits.cpu_time, box.profile.limits.memory, box.profile.limits.pids) == (1.5, 64 << 20, None)


def test_bad_limit_value_names_the_limit():
    with pytest.raises(UsageError, match="memory"):
        Sandbox("py3", memory="lots")


def test_unknown_profile_is_a_profile_error():
    with pytest.raises(ProfileError, match="no such profile"):
        Sandbox("no-such-profile")
