"""Finding a run's host paths, the step before planning: request -> HostSide.  Side: parent.

Every host path a plan will name is looked up here, once, and nowhere else: the work dir or
overlay layers, the caller's binds, the script, the profile's binds, a root file system and its
entries.  hostpaths walks each one (no symlink someone else could have made) and the HostPaths
given holds it open until the box is built, so no inode the plan names can be freed and its number
reused meanwhile; what was found is handed to plan.make_plan as data (hostside.HostSide).

An object that cannot serve in its role is refused here (a work dir that is not a directory, a
script that is not a regular file, the host's own root as an image, a kept layer overlapping its
lower directory or not the caller's); whether the request as a whole holds together is the
plan's to say.  A kept layer missing is made here, private to the caller: it must exist to be
held, and its identity goes into the plan.
"""
from __future__ import annotations

import errno
import os
import stat
from typing import Optional

from .errors import UsageError
from .hostpaths import LINK, Found, HostPaths, PathError, directory_beneath
from .hostside import HostObject, HostSide, within
from .plan import Request, mount_points, runs_script
from .profile import Profile


def resolve_host_paths(profile: Profile, request: Request, paths: HostPaths) -> HostSide:
    """What each host path of this run is, found once through `paths` (which holds them open until
    the caller closes it).  The order is the one planning had when it looked for itself (work dir,
    binds, script, root file system, profile binds, kept layer, image entries), so of two bad paths
    the same one is reported: a UsageError (a PathError when the walk fails) for the first."""
    workdir = _directory(request.workdir, "--workdir", paths)
    lower = _directory(request.overlay[0] if request.overlay else None, "--overlay", paths)
    binds = tuple(_record(paths.find(bind.source, "--bind-rw" if bind.writable else "--bind"))
                  for bind in request.binds)
    script = _script(request.script, paths) if runs_script(profile, request) else None
    rootfs = _rootfs(request.rootfs or profile.rootfs, paths)
    profile_binds = {} if rootfs else _profile_binds(profile, paths)  # an image of its own replaces them
    upper_path = request.overlay[1] if request.overlay else None
    upper = _upper_dir(upper_path, lower, paths) if upper_path and lower else None
    image, image_dirs = _image(rootfs, mount_points(profile, request, binds, script, workdir or lower), paths)
    return HostSide(workdir=workdir, overlay_lower=lower, overlay_upper=upper, binds=binds, script=script,
                    profile_binds=profile_binds, rootfs=_record(rootfs) if rootfs else None, image=image,
                    image_dirs=image_dirs)


def _record(found: Found) -> HostObject:
    """A found object as the plan sees it; a symlink found as itself (LINK) with its text, read
    through the descriptor that holds it."""
    link = os.readlink("", dir_fd=found.fd) if found.is_link else None
    return HostObject(found.path, found.identity, found.is_dir, link)


def _directory(path: Optional[str], what: str, paths: HostPaths) -> Optional[HostObject]:
    return _record(paths.directory(path, what)) if path is not None else None


def _script(path: Optional[str], paths: HostPaths) -> HostObject:
    assert path is not None  # runs_script said so
    script = paths.find(path, "script")
    if not stat.S_ISREG(script.info.st_mode):
        raise UsageError(f"script {path}: not a regular file")
    if not os.access(f"/proc/self/fd/{script.fd}", os.R_OK):
        # The box's interpreter runs as the caller and could not read it either; said here, before
        # the box starts, it is one line naming the file, not the interpreter's own words and exit.
        raise PathError("script", path, "not readable by you (permission denied)", errno.EACCES)
    return _record(script)


def _rootfs(path: Optional[str], paths: HostPaths) -> Optional[Found]:
    if path is None:
        return None
    found = paths.directory(path, "rootfs")
    if found.path == "/":
        raise UsageError(f"rootfs {path}: that is the host's own root (all of it, /sys and /home too); "
                         f"a profile's binds name what of it to show")
    return found


def _profile_binds(profile: Profile, paths: HostPaths) -> dict[str, Optional[HostObject]]:
    """Each bind source of the profile, found as itself when it is a symlink (merged-/usr hosts
    look the same inside); an optional one that is missing is None."""
    found: dict[str, Optional[HostObject]] = {}
    for entry in profile.mounts:
        if entry.kind != "bind" or entry.source is None or found.get(entry.source) is not None:
            continue
        try:
            found[entry.source] = _record(paths.find(entry.source, f"profile {profile.name}: bind", last=LINK))
        except UsageError as e:
            if not (entry.optional and e.fields.get("errno") == errno.ENOENT):
                raise
            found[entry.source] = None
    return found


def _upper_dir(path: str, lower: HostObject, paths: HostPaths) -> HostObject:
    """Where a kept overlay layer lives: a directory of the caller's (made if missing, never a
    symlink), apart from the lower directory."""
    parent, name = paths.parent(path, "--overlay upper")
    full = os.path.join(parent.path, name)
    if within(full, lower.path) or within(lower.path, full):
        raise UsageError(f"--overlay {lower.path}:{full}: the layer and the lower directory must not overlap")
    upper = paths.made_directory(parent, name, "--overlay upper")
    if upper.info.st_uid != os.getuid():
        raise UsageError(f"--overlay upper {path}: not your directory")
    return _record(upper)


def _image(rootfs: Optional[Found], points: frozenset[str],
           paths: HostPaths) -> tuple[tuple[HostObject, ...], frozenset[str]]:
    """The image's top-level entries, and which of the box's mount points under them it holds as
    real directories (walked without following any symlink or '..': a mount point is never made
    through a symlink of the image, which may point anywhere on the host)."""
    if rootfs is None:
        return (), frozenset()
    entries = tuple(_record(entry) for entry in paths.listing(rootfs, "rootfs"))
    under = [point for point in points
             if any(point.startswith(f"/{os.path.basename(entry.path)}/") for entry in entries)]
    return entries, frozenset(point for point in under if directory_beneath(rootfs, point))
