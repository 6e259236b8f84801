"""The JSON Schema editors validate profiles with agrees with the loader."""
from __future__ import annotations

import json
import os
import textwrap

import jsonschema
import pytest
from conftest import schema_validator
import yaml

from sandbox.errors import ProfileError
from sandbox.limits import BY_NAME, limits_schema
from sandbox.profile import MOUNT_KEYS, TOP_KEYS, list_shipped, load_profile, shipped_profiles_dir

SCHEMA_PATH = os.path.join(shipped_profiles_dir(), "profile.schema.json")


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    return schema_validator("profile.schema.json")


def test_the_schema_names_exactly_the_keys_the_loader_knows(validator):
    properties = validator.schema["properties"]
    assert set(properties) == TOP_KEYS | {"extends"}
    assert set(properties["limits"]["properties"]) == set(BY_NAME)
    kinds = {next(iter(option["required"])) for option in properties["mounts"]["items"]["oneOf"]}
    assert kinds == set(MOUNT_KEYS)
    for option in properties["mounts"]["items"]["oneOf"]:
        assert set(option["properties"]) == MOUNT_KEYS[option["required"][0]]


def test_the_limits_part_is_the_limit_tables():
    """Each limit with its unit's rule; scripts/profile-schema writes it after the table changes."""
    with open(SCHEMA_PATH) as f:
        shipped = json.load(f)["properties"]["limits"]
    assert shipped == limits_schema(), "run scripts/profile-schema"


@pytest.mark.parametrize("name", list_shipped())
def test_every_shipped_profile_is_valid(validator, name):
    with open(os.path.join(shipped_profiles_dir(), f"{name}.yaml")) as f:
        validator.validate(yaml.safe_load(f))


def test_a_profile_the_loader_accepts_is_valid(validator, minimal_profile_text):
    validator.validate(yaml.safe_load(minimal_profile_text))
    validator.validate({"extends": "py3", "limits": {"memory": "64M", "cpus": 0.5}})


@pytest.mark.parametrize("change", [
    "limts: {memory: 64M}",                      # a misspelt key
    "net: internet",
    "mounts: [{bind: usr}]",                     # not an absolute path
    "mounts: [{bind: /usr, readonly: true}]",    # an unknown mount key
    "limits: {memory: lots}",
    "limits: {swap: 1G}",
    "uid: 0",
    "seccomp: {allow: [{ioctl: {arg: 1, masked_eq: [1]}}]}",
    "seccomp: {default: ALLOW}",
    "require: [gpu]",
    "rootfs: images/alpine",                     # not an absolute path
])
def test_what_the_loader_rejects_the_schema_rejects(validator, write_profile, minimal_profile_text, change):
    key = change.split(":")[0]
    kept = [block for block in _top_level_blocks(minimal_profile_text) if not block.startswith(key + ":")]
    text = "\n".join(kept) + "\n" + change + "\n"
    with pytest.raises(ProfileError):
        load_profile(write_profile(text, "broken.yaml"))
    assert list(validator.iter_errors(yaml.safe_load(text)))


def _top_level_blocks(text: str) -> list[str]:
    """The profile's top-level keys, each with its indented lines."""
    blocks: list[str] = []
    for line in textwrap.dedent(text).splitlines():
        if line and not line[0].isspace() and not line.startswith("-"):
            blocks.append(line)
        elif blocks:
            blocks[-1] += "\n" + line
    return blocks


# Text each unit's parser takes or refuses; the schema's text rule (Unit.text) must say the same.
TEXTS = {
    "memory": ["64M", "64m", "64MB", "64mb", "64MiB", "64Mi", "64mi", "1.5G", "4096", "1B", " 8 M ", "0M", "0", "00",
               "64iB", "64i", "M", "64 MB extra", "1e6", "-1M", "0.5K"],
    "cpu_time": ["1.5s", "500ms", "2", "0", "0s", "0.0", "1 d", "2sec", "0.5"],
    "pids": ["1", "64", "0", "00", "1.5", "-1", "007"],
    "cpus": ["0.5", "2", "0", "0.0", "x"],
}


@pytest.mark.parametrize("name, text", [(name, text) for name, texts in TEXTS.items() for text in texts])
def test_the_schemas_text_rule_takes_what_the_parser_takes(name, text):
    import re

    from sandbox.units import UnitError

    limit = BY_NAME[name]
    try:
        taken = limit.parse(text) >= limit.unit.minimum
    except UnitError:
        taken = False
    assert (re.search(limit.unit.text, text) is not None) == taken


@pytest.mark.parametrize("value", [0, 0.0, "0", "0M"])
def test_the_schema_refuses_zero_as_the_loader_does(validator, value):
    assert list(validator.iter_errors({"limits": {"memory": value}}))
    assert list(validator.iter_errors({"limits": {"cpu_time": value}}))
