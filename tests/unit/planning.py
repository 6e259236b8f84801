"""Plans made on this machine's own paths, as supervisor.prepare makes them: the tests that are
about what is found on the host use it; make_plan alone is pure (test_plan_golden.py)."""
from __future__ import annotations

from sandbox.cgroup import CONTROLLERS
from sandbox.hostlookup import resolve_host_paths
from sandbox.hostpaths import HostPaths
from sandbox.plan import Plan, Request, make_plan
from sandbox.limits import NO_CGROUP
from sandbox.profile import Profile

FULL = frozenset(CONTROLLERS)  # a subtree with every controller a box uses delegated


def plan_here(profile: Profile, request: Request, uid: int = 1000, gid: int = 1000,
              cgroup: frozenset[str] = NO_CGROUP) -> Plan:
    """Steps 2 and 3 of supervisor.prepare: the host paths found (and let go once planned), then the plan."""
    with HostPaths() as paths:
        return make_plan(profile, request, resolve_host_paths(profile, request, paths), uid, gid, cgroup)
