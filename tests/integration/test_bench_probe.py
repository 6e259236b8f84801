"""bench/'s isolation probe: a box that drops a namespace, the filter or no_new_privs is caught
before anything is timed (issue 17: no target is met by weakening isolation)."""
from __future__ import annotations

import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "bench"))
import bench  # noqa: E402

# Everything fresh but the network: a user namespace mapped to root, then mount, pid (with its
# own /proc), ipc, uts and cgroup namespaces.  What a speed-up that reused the host's network
# namespace, or skipped the filter, would look like.
NO_NET = ("/usr/bin/unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork", "--mount-proc",
          "--ipc", "--uts", "--cgroup")


class UnshareWithoutNet:
    """A stand-in variant: the probe under unshare(1), with the host's network namespace."""

    name = "unshare-without-net"
    in_process = False

    def run(self, workload: bench.Workload) -> bytes:
        return bench._run_process([*NO_NET, *workload.argv], workload)


@pytest.fixture
def api():
    variant = bench.Api(["sh", "py3"])
    yield variant
    variant.close()


def test_bare_shares_every_namespace_and_is_named():
    finding = bench.probe_isolation(bench.Bare(), bench.TRUE)
    assert finding.shared == list(bench.NAMESPACES)
    assert not finding.ok
    line = finding.line()
    assert line.startswith("isolation lost in bare (sh profile): namespaces shared with the bench")
    assert "seccomp mode 0, not 2 (filter)" in line


@pytest.mark.skipif(not os.path.exists("/usr/bin/unshare"), reason="no unshare(1)")
def test_a_box_in_the_host_network_namespace_is_caught_and_net_named():
    finding = bench.probe_isolation(UnshareWithoutNet(), bench.TRUE)
    assert finding.shared == ["net"], finding.problems
    assert "namespaces shared with the bench (or unreadable): net" in finding.line()
    with pytest.raises(bench.IsolationLost, match=r"unshare-without-net \(sh profile\): .*: net"):
        bench.require_isolation([finding])


@pytest.mark.parametrize("workload", [bench.TRUE, bench.HELLO_PY], ids=["sh", "py3"])
def test_sandbox_api_is_isolated(api, workload):
    finding = bench.probe_isolation(api, workload)
    assert finding.ok, finding.line()
    assert finding.seen["interfaces"] == ["lo"]
    assert finding.seen["pid"] < 10  # its own pid namespace: the probe is one of the first few


def test_every_variant_the_bench_times_is_probed_per_profile(api):
    variants = [bench.Bare(), bench.Cli(), api]
    findings = bench.check_isolation(variants, [bench.TRUE, bench.HELLO_PY])
    assert [(f.variant, f.profile) for f in findings] == [
        ("sandbox-cli", "sh"), ("sandbox-cli", "py3"), ("sandbox-api", "sh"), ("sandbox-api", "py3")]
    assert all(f.ok for f in findings), [f.line() for f in findings if not f.ok]


@pytest.mark.skipif(not shutil.which("bwrap"), reason="bubblewrap is not installed (./scripts/bench installs it)")
def test_the_bubblewrap_yardstick_is_isolated_too():
    findings = bench.check_isolation([bench.Bwrap(["sh", "py3"])], [bench.TRUE, bench.HELLO_PY])
    assert all(f.ok for f in findings), [f.line() for f in findings if not f.ok]


def test_the_bench_stops_before_timing_when_a_box_is_not_isolated(api, monkeypatch, capsys):
    lost = bench.probe_isolation(UnshareWithoutNet(), bench.TRUE)
    monkeypatch.setattr(bench, "check_isolation", lambda variants, workloads: [lost])
    monkeypatch.setattr(bench, "measure_latency", lambda *a: pytest.fail("timed a box that is not isolated"))
    assert bench.run_bench(bench.parse_args(["--quick"]), [api], api) == 3
    assert "FAILED: isolation lost in unshare-without-net (sh profile)" in capsys.readouterr().err
