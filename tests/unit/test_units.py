"""sandbox.units: "256M" -> bytes, "1.5s" -> seconds, counts."""
from __future__ import annotations

import math

import pytest

from sandbox.units import UnitError, parse_count, parse_duration, parse_size

K, M, G, T = 1 << 10, 1 << 20, 1 << 30, 1 << 40


@pytest.mark.parametrize(
    "value, expected",
    [
        (0, 0),
        (4096, 4096),
        ("4096", 4096),
        ("1B", 1),
        ("1K", K),
        ("1k", K),
        ("64M", 64 * M),
        ("64m", 64 * M),
        ("1G", G),
        ("2T", 2 * T),
        ("1.5G", 3 * G // 2),
        ("0.5K", 512),
        ("512KiB", 512 * K),
        ("512KB", 512 * K),
        ("16MiB", 16 * M),
        (" 8 M ", 8 * M),
        # one grammar, all binary: NUMBER [K|M|G|T [i]] [B], either case
        ("64Mi", 64 * M),
        ("64mi", 64 * M),
        ("64MB", 64 * M),
        ("64mb", 64 * M),
        ("64mib", 64 * M),
        ("2Gi", 2 * G),
        ("1TiB", T),
        ("1Ki", K),
    ],
)
def test_parse_size_accepts(value, expected):
    result = parse_size(value)
    assert result == expected
    assert isinstance(result, int)


@pytest.mark.parametrize(
    "value",
    ["12Q", "", "M", "-1", "64iB", "64i", "64MiBB", "64BM", "1.5MiM", "-1M", "1.5.5M", "1e6", "64 MB extra", "ten", -1, True, False, None, 1.5, [64], {"M": 1}],
)
def test_parse_size_rejects(value):
    with pytest.raises(UnitError):
        parse_size(value)


def test_parse_size_error_says_what_was_expected():
    with pytest.raises(UnitError, match=r"12Q") as info:
        parse_size("12Q")
    assert "64M" in str(info.value)  # the message shows an example of a valid size
    assert "64MiB" in str(info.value) and "binary" in str(info.value)  # and says what the units mean


def test_unit_error_is_a_value_error():
    assert issubclass(UnitError, ValueError)


@pytest.mark.parametrize(
    "value, expected",
    [
        (0, 0.0),
        (2, 2.0),
        (1.5, 1.5),
        ("2", 2.0),
        ("1.5", 1.5),
        ("1.5s", 1.5),
        ("500ms", 0.5),
        ("250us", 0.00025),
        ("2m", 120.0),
        ("1h", 3600.0),
        (" 3 s ", 3.0),
    ],
)
def test_parse_duration_accepts(value, expected):
    result = parse_duration(value)
    assert isinstance(result, float)
    assert math.isclose(result, expected)


@pytest.mark.parametrize(
    "value", ["", "s", "fast", "1.5x", "-1s", "1 d", "1e3", "2sec", -0.5, -1, True, None, [1], "1:30"]
)
def test_parse_duration_rejects(value):
    with pytest.raises(UnitError):
        parse_duration(value)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_parse_duration_rejects_non_finite(value):
    with pytest.raises(UnitError):
        parse_duration(value)


@pytest.mark.parametrize("value, expected", [(1, 1), (32, 32), ("8", 8), (" 64 ", 64), ("1000", 1000)])
def test_parse_count_accepts(value, expected):
    assert parse_count(value) == expected


@pytest.mark.parametrize("value", [0, -3, "0", "-1", "many", "1.5", 1.5, 2.0, True, False, None, "", [1]])
def test_parse_count_rejects(value):
    with pytest.raises(UnitError):
        parse_count(value)


def test_parse_count_error_names_the_minimum():
    with pytest.raises(UnitError, match="at least 1"):
        parse_count(0)
