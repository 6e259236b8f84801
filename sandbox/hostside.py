"""The host side of one run as data: what the caller's host paths were found to be.  Side: parent.

The plan names host objects (the work dir, binds, the script, an image's entries), but planning
must not look at the host: a plan is a pure function of profile, request and this record, so it
can be checked as data (tests/unit/test_plan_golden.py builds a HostSide by hand).  Looking is a
step of its own before planning, as bubblewrap resolves its symlinks in a pass of its own:
hostlookup.resolve_host_paths finds each path once through a HostPaths, which holds the objects
open until the box is built, and records here what it found.  Each object keeps the identity
(st_dev, st_ino) it had when found; the plan's MountOps carry it, and the box's init mounts an
object only if it is still that one.
"""
from __future__ import annotations

import os
from typing import Mapping, Optional

from ._record import dataclass, field


@dataclass(frozen=True)
class HostObject:
    """One object on the host, as the plan may use it."""

    path: str                   # canonical: absolute, no symlink in it (or the caller's own /dev/stdin & co.)
    identity: tuple[int, int]   # (st_dev, st_ino) when it was found: what the box's init checks
    is_dir: bool = False
    link: Optional[str] = None  # the text of a symlink found as itself (the box gets the same symlink)


@dataclass(frozen=True)
class HostSide:
    """Everything of the host a plan needs; a field is empty when the request names no such path."""

    workdir: Optional[HostObject] = None        # --workdir: a directory
    overlay_lower: Optional[HostObject] = None  # --overlay LOWER: a directory
    overlay_upper: Optional[HostObject] = None  # --overlay LOWER:UPPER: the caller's own directory (made if missing)
    binds: tuple[HostObject, ...] = ()          # the sources of request.binds, in the same order
    script: Optional[HostObject] = None         # a regular file; only when the profile runs the script
    # The profile's bind sources (none with a root file system of its own); None: optional and missing.
    profile_binds: Mapping[str, Optional[HostObject]] = field(default_factory=dict)
    rootfs: Optional[HostObject] = None         # the root file system's directory
    image: tuple[HostObject, ...] = ()          # its top-level entries, by name, each found as itself
    # Paths in the box (under an image entry) that the image holds as real directories, reached
    # without a symlink: a mount point there is made in the image's own directory.
    image_dirs: frozenset[str] = frozenset()


def within(path: str, directory: str) -> bool:
    """Is `path` `directory` or inside it?  Both canonical (no symlinks), so the names alone decide."""
    return os.path.commonpath([path, directory]) == directory
