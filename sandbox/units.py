"""Human units for limits: "256M" -> bytes, "1.5s" -> seconds.  Pure; no side.

Sizes are binary (K = 1024) because that is how the kernel's memory.max,
RLIMIT_AS and tmpfs size= count.  A bare number is bytes or seconds.  One size
grammar, as docker reads --memory: a number, then K, M, G or T in either case,
then an optional i and an optional B: 64M = 64m = 64MB = 64MiB = 64Mi = 64 << 20.
There are no decimal (1000) units: a user who writes 64MB means the same
64 MiB a kernel limit counts in, and one meaning per spelling beats a guess.
"""
from __future__ import annotations

import math
import re

_SIZE_SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_TIME_SUFFIXES = {"": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "m": 60.0, "h": 3600.0}
# NUMBER [K|M|G|T [i]] [B]: an `i` only after a prefix ("64iB" is no size); limits.SIZE's schema
# pattern is this rule for editors, and a unit test holds the two to the same samples.
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([KMGT])I?)?B?\s*$", re.IGNORECASE)
SIZE_EXAMPLES = "64M, 64MB, 64MiB, 64Mi, 1.5G or 4096 (bytes); K, M, G, T are binary (1024)"
_TIME_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|us|s|m|h)?\s*$")


class UnitError(ValueError):
    """A value that is not a size or a duration; the message says what was expected."""


def parse_size(value: object) -> int:
    """Bytes from an int or a string such as "64M", "1.5G", "512KiB"."""
    if isinstance(value, bool):
        raise UnitError(f"expected a size such as 64M, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise UnitError(f"expected a size of at least 0, got {value}")
        return value
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if match:
            return int(float(match.group(1)) * _SIZE_SUFFIXES[(match.group(2) or "").upper()])
    raise UnitError(f"expected a size such as {SIZE_EXAMPLES}, got {value!r}")


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as "1.5s", "500ms", "2m"."""
    if isinstance(value, bool):
        raise UnitError(f"expected a duration such as 2s, got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise UnitError(f"expected a finite duration of at least 0, got {value}")
        return float(value)
    if isinstance(value, str):
        match = _TIME_RE.match(value)
        if match:
            return float(match.group(1)) * _TIME_SUFFIXES[match.group(2) or ""]
    raise UnitError(f"expected a duration such as 2s, 500ms or 1.5, got {value!r}")


def parse_cpus(value: object) -> float:
    """A CPU quota in CPUs: 1, 0.5, "2" (cgroup cpu.max)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UnitError(f"expected a number of CPUs such as 1 or 0.5, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise UnitError(f"expected a number of CPUs such as 1 or 0.5, got {value!r}") from None
    if not math.isfinite(number) or number < 0.01:
        raise UnitError(f"expected a number of CPUs of at least 0.01, got {value!r}")
    return number


def parse_count(value: object) -> int:
    """A whole number of at least 1 (processes, open files)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise UnitError(f"expected a whole number, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise UnitError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise UnitError(f"expected a whole number of at least 1, got {number}")
    return number
