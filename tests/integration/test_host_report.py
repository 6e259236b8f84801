"""Without a delegated cgroup v2 subtree (this host: hybrid cgroups), the sandbox says so and
still runs, and never claims an enforcement that did not happen."""
from __future__ import annotations

import os

import yaml
from boxrun import run_json, sandbox

from sandbox.profile import load_profile


def test_doctor_says_no_subtree_is_delegated_and_what_to_do():
    completed = sandbox("doctor")
    out = completed.stdout.decode()
    assert completed.returncode == 0  # the sandbox itself can run here
    assert "ok   user namespaces" in out and "ok   seccomp" in out
    lines = out.splitlines()
    index = next(i for i, line in enumerate(lines) if "delegated subtree" in line)
    assert lines[index].startswith("warn") and "no cgroup v2 subtree is delegated" in lines[index]
    assert lines[index + 1].strip().startswith("fix: ") and "--cgroup-root" in lines[index + 1]


def test_results_name_rlimits_not_cgroups(script):
    result, _ = run_json(script("print('x')"))
    mechanisms = " ".join(result["enforced_by"].values())
    assert "cgroup" not in mechanisms
    assert result["enforced_by"]["memory"].startswith("RLIMIT_AS")
    assert result["pids_peak"] is None and result["oom_killed"] is False


def test_cpus_is_reported_as_not_enforced_without_cgroups(script):
    result, _ = run_json("--cpus", "1", script("pass"))
    assert result["enforced_by"]["cpus"].startswith("not enforced")


def test_a_profile_requiring_cgroups_refuses_to_run_with_the_remedy(script, tmp_path):
    source = yaml.safe_load(open(load_profile("py3").source))
    source["require"] = ["cgroup"]
    (tmp_path / "strict.yaml").write_text(yaml.safe_dump(source))
    completed = sandbox("run", "--profile", str(tmp_path / "strict.yaml"), script("print('ran')"))
    assert completed.returncode == 125 and completed.stdout == b""
    lines = completed.stderr.decode().splitlines()
    assert len(lines) == 1 and "requires cgroup v2" in lines[0] and "fix:" in lines[0]


def test_an_unusable_cgroup_root_is_an_error_and_nothing_is_written(script):
    before = sorted(os.listdir("/sys/fs/cgroup/unified"))
    completed = sandbox("run", "--cgroup-root", "/sys/fs/cgroup/unified", script("print('ran')"))
    assert completed.returncode == 125 and completed.stdout == b""
    assert completed.stderr.decode().count("\n") == 1 and b"lacks the memory pids cpu" in completed.stderr
    assert sorted(os.listdir("/sys/fs/cgroup/unified")) == before


def test_doctor_lists_the_v1_hierarchies_none_delegated_and_the_commands():
    """This host keeps its controllers on cgroup v1 (issue 20): doctor names the hierarchies and prints
    the commands that would delegate a subtree of each to this user."""
    lines = sandbox("doctor").stdout.decode().splitlines()
    index = next(i for i, line in enumerate(lines) if "cgroup v1 subtree" in line)
    assert lines[index].startswith("warn") and "memory at /sys/fs/cgroup/memory" in lines[index]
    assert "none delegated" in lines[index]
    fix = lines[index + 1].strip()
    assert fix.startswith("fix: as root") and "chown" in fix and "--cgroup-root" in fix


def test_a_v1_cgroup_root_not_delegated_is_an_error_and_nothing_is_written(script):
    """--cgroup-root naming a v1 directory this user does not own: one line, exit 125, no cgroup made."""
    before = sorted(os.listdir("/sys/fs/cgroup/memory"))
    completed = sandbox("run", "--cgroup-root", "/sys/fs/cgroup/memory", script("print('ran')"))
    assert completed.returncode == 125 and completed.stdout == b""
    assert completed.stderr.decode().count("\n") == 1 and b"is not delegated to this user" in completed.stderr
    assert sorted(os.listdir("/sys/fs/cgroup/memory")) == before
