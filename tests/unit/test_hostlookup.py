"""sandbox.hostlookup.resolve_host_paths: the step before planning, on this machine's own paths.
Each path is found once and held; what is not needed is not looked at."""
from __future__ import annotations

import os

import pytest

from sandbox.errors import UsageError
from sandbox.hostlookup import resolve_host_paths
from sandbox.hostpaths import HostPaths
from sandbox.plan import Bind, Request, make_plan, mount_points
from sandbox.profile import load_profile


@pytest.fixture
def profile(minimal_profile_path):
    return load_profile(minimal_profile_path)


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "work" / "sub").mkdir(parents=True)
    (tmp_path / "work" / "sub" / "main.py").write_text("print(1)\n")
    (tmp_path / "data").mkdir()
    for directory in ("bin", "mnt", "var/cache"):
        (tmp_path / "image" / directory).mkdir(parents=True)
    (tmp_path / "image" / "lib").symlink_to("usr/lib")
    return tmp_path


def _held() -> set[str]:
    """What this process's descriptors name."""
    names = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            names.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return names


def test_each_path_is_found_once_held_until_closed_and_recorded_with_its_identity(profile, tree):
    request = Request(script=str(tree / "work/sub/main.py"), workdir=str(tree / "work"),
                      binds=(Bind(str(tree / "data"), "/data", True),))
    paths = HostPaths()
    host = resolve_host_paths(profile, request, paths)
    found = [host.workdir, host.script, *host.binds, host.profile_binds["/usr"]]
    try:
        assert {obj.path for obj in found} <= _held()
        for obj in found:
            info = os.stat(obj.path)
            assert obj.identity == (info.st_dev, info.st_ino)
    finally:
        paths.close()
    assert not {obj.path for obj in found if obj.path.startswith(str(tree))} & _held()
    assert host.workdir.is_dir and not host.script.is_dir and host.script.link is None


def test_a_profile_symlink_is_found_as_itself_with_its_text(write_profile, minimal_profile_text, tree):
    (tree / "link").symlink_to("data")
    text = minimal_profile_text.replace("  - proc: /proc\n", f"  - bind: {tree}/link\n    to: /link\n  - proc: /proc\n")
    with HostPaths() as paths:
        host = resolve_host_paths(load_profile(write_profile(text)), Request(program=("true",)), paths)
    link = host.profile_binds[f"{tree}/link"]
    assert (link.path, link.link, link.is_dir) == (f"{tree}/link", "data", False)
    assert (host.profile_binds["/lib64"] is None) == (not os.path.lexists("/lib64"))  # optional: None when missing


def test_a_script_the_profile_does_not_run_is_not_looked_for(write_profile, tree):
    profile = load_profile(write_profile("command: [cc]\nseccomp: {allow: [read]}\n"))
    request = Request(script=str(tree / "missing.py"))
    with HostPaths() as paths:
        host = resolve_host_paths(profile, request, paths)
        assert host.script is None
        with pytest.raises(UsageError, match="^profile p does not run scripts; use -- PROGRAM"):
            make_plan(profile, request, host, 1000, 1000)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file of mode 000")
def test_a_script_the_caller_cannot_read_is_refused_naming_it(profile, tree):
    script = tree / "work" / "sub" / "main.py"
    script.chmod(0)
    with HostPaths() as paths, pytest.raises(UsageError) as info:
        resolve_host_paths(profile, Request(script=str(script)), paths)
    assert str(info.value) == f"script {script}: not readable by you (permission denied)"
    assert info.value.exit_code == 125


def test_a_directory_as_the_script_is_refused_naming_it(profile, tree):
    with HostPaths() as paths, pytest.raises(UsageError, match=f"^script {tree}/work: not a regular file$"):
        resolve_host_paths(profile, Request(script=str(tree / "work")), paths)


def test_with_an_image_of_its_own_the_profiles_binds_are_not_looked_for(write_profile, minimal_profile_text, tree):
    text = minimal_profile_text.replace("  - proc: /proc\n", f"  - bind: {tree}/gone\n  - proc: /proc\n")
    profile = load_profile(write_profile(text))
    request = Request(program=("true",), rootfs=str(tree / "image"))
    with HostPaths() as paths:
        host = resolve_host_paths(profile, request, paths)
        with pytest.raises(UsageError, match=f"^profile p: bind {tree}/gone: no such file or directory$"):
            resolve_host_paths(profile, Request(program=("true",)), paths)
    assert host.profile_binds == {}
    assert [os.path.basename(entry.path) for entry in host.image] == ["bin", "lib", "mnt", "var"]
    assert [entry.link for entry in host.image] == [None, "usr/lib", None, None]


def test_the_image_is_asked_only_about_its_real_directories(profile, tree):
    request = Request(program=("true",), rootfs=str(tree / "image"),
                      binds=(Bind(str(tree / "data"), "/var/cache"), Bind(str(tree / "data"), "/mnt/data"),
                             Bind(str(tree / "data"), "/lib/x")))
    with HostPaths() as paths:
        host = resolve_host_paths(profile, request, paths)
    assert host.image_dirs == frozenset({"/var/cache"})  # no /mnt/data; /lib/x only through a symlink
    assert mount_points(profile, request, host.binds, host.script) >= {"/var/cache", "/mnt/data", "/lib/x"}


def test_a_layer_overlapping_its_lower_directory_is_refused_before_it_is_made(profile, tree):
    request = Request(program=("true",), overlay=(str(tree / "work"), str(tree / "work" / "layer")))
    with HostPaths() as paths, pytest.raises(UsageError, match="must not overlap"):
        resolve_host_paths(profile, request, paths)
    assert not (tree / "work" / "layer").exists()


def test_a_kept_layer_is_made_private_and_held(profile, tree):
    request = Request(program=("true",), overlay=(str(tree / "work"), str(tree / "layer")))
    with HostPaths() as paths:
        host = resolve_host_paths(profile, request, paths)
        assert host.overlay_upper.path in _held()
    info = os.stat(tree / "layer")
    assert (info.st_mode & 0o777, host.overlay_upper.identity) == (0o700, (info.st_dev, info.st_ino))
