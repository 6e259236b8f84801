"""Build tools a project's CI runs work in the `ci` profile as bare: make, git, gcc, pip.

Each was run in the box and its refused calls (ENOSYS from the filter) looked for; the one family
found, a tool setting its own ids again (make 4.3: setresuid(-1, uid, -1)), is the `@own-ids`
group, and the last test shows why allowing it gives the box nothing: no other id can be set."""
from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from boxrun import sandbox

PYTHON = "/usr/bin/python3"  # the host's, which the box binds with /usr


def needs(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed on this host (scripts/setup installs it on Debian)")


def in_ci(workdir: Path, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return sandbox("run", "--profile", "ci", "--workdir", str(workdir), "--", *argv, timeout=timeout)


def output(completed: subprocess.CompletedProcess) -> str:
    return completed.stdout.decode() + completed.stderr.decode()


def test_make_runs_a_recipe(tmp_path):
    needs("make")
    (tmp_path / "Makefile").write_text("all: built\n\tcat built\n\nbuilt:\n\techo made by a recipe > $@\n")
    completed = in_ci(tmp_path, "make")
    assert completed.returncode == 0, output(completed)  # was "make: echo: Function not implemented", 127
    assert "made by a recipe" in completed.stdout.decode()
    assert not (tmp_path / "built").exists()  # written to the throwaway layer


def test_git_reads_the_work_dir_and_makes_a_repository_in_tmp(tmp_path):
    needs("git")
    project = tmp_path / "project"
    project.mkdir()
    (project / "README").write_text("hello\n")
    ident = ["-c", "user.name=Tester", "-c", "user.email=tester@example.invalid"]
    for argv in (["init", "-q"], ["add", "README"], [*ident, "commit", "-qm", "first"]):
        subprocess.run(["git", *argv], cwd=project, check=True, capture_output=True)
    (project / "README").write_text("changed\n")
    script = (
        "set -e; git status --short; git log --format=%s; git diff --stat;"
        " git init -q /tmp/repo; cd /tmp/repo; echo x > f; git add f;"
        f" git {' '.join(ident)} commit -qm second; git log --format=%s; git status --short"
    )
    completed = in_ci(project, "sh", "-c", script)
    assert completed.returncode == 0, output(completed)
    assert completed.stdout.decode().split() == ["M", "README", "first", "README", "|", "2", "+-",
                                                 "1", "file", "changed,", "1", "insertion(+),", "1",
                                                 "deletion(-)", "second"]


def test_gcc_compiles_and_runs_a_program(tmp_path):
    needs("gcc")
    (tmp_path / "hello.c").write_text('#include <stdio.h>\nint main(void) { puts("compiled in the box"); }\n')
    completed = in_ci(tmp_path, "sh", "-c", "gcc -O2 -o /tmp/hello hello.c && /tmp/hello")
    assert completed.returncode == 0, output(completed)
    assert completed.stdout.decode() == "compiled in the box\n"


def wheel(directory: Path) -> Path:
    """A one-module wheel written by hand: no build backend needed on the host."""
    files = {
        "tinypkg/__init__.py": "ANSWER = 42\n",
        "tinypkg-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinypkg\nVersion: 0.1\n",
        "tinypkg-0.1.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    path = directory / "tinypkg-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        record = "".join(f"{name},,\n" for name in files) + "tinypkg-0.1.dist-info/RECORD,,\n"
        archive.writestr("tinypkg-0.1.dist-info/RECORD", record)
    return path


def test_pip_installs_a_local_wheel_into_a_venv_in_tmp(tmp_path):
    if subprocess.run([PYTHON, "-c", "import ensurepip, venv"], capture_output=True).returncode:
        pytest.skip("the host's python3 has no venv/ensurepip (Debian: python3-venv)")
    name = wheel(tmp_path).name
    script = (f"set -e; {PYTHON} -m venv /tmp/venv; /tmp/venv/bin/pip install -q --no-index {name};"
              " /tmp/venv/bin/python -c 'import tinypkg; print(tinypkg.ANSWER)'")
    completed = in_ci(tmp_path, "sh", "-c", script, timeout=240)
    assert completed.returncode == 0, output(completed)
    assert completed.stdout.decode().splitlines()[-1] == "42"


IDS_PROBE = r"""
import errno, os
uid, gid = os.getuid(), os.getgid()
with open("/proc/self/uid_map") as f:
    print("uid_map lines", len(f.read().splitlines()))
with open("/proc/self/status") as f:
    print(*[line.split()[0] + line.split()[1].strip("0") for line in f if line.startswith(("CapEff", "CapPrm"))])
def attempt(name, call):
    try:
        call()
        print(name, "ok")
    except OSError as e:
        print(name, errno.errorcode[e.errno])
attempt("own", lambda: (os.setresuid(-1, uid, -1), os.setresgid(-1, gid, -1), os.setuid(uid), os.setgid(gid)))
attempt("root", lambda: os.setresuid(0, 0, 0))
attempt("root-gid", lambda: os.setresgid(0, 0, 0))
attempt("other", lambda: os.setuid(uid + 1))
attempt("other-gid", lambda: os.setgid(gid + 1))
attempt("setgroups", lambda: os.setgroups([]))
print("still", os.getresuid(), os.getresgid() == (gid,) * 3, uid)
"""


def test_setting_ids_can_only_name_the_ids_the_program_has(tmp_path):
    (tmp_path / "ids.py").write_text(IDS_PROBE)
    completed = in_ci(tmp_path, PYTHON, "ids.py")
    assert completed.returncode == 0, output(completed)
    lines = completed.stdout.decode().splitlines()
    uid = lines[-1].split()[-1]
    assert lines[:-1] == [
        "uid_map lines 1",  # one uid mapped: there is no other id to become
        "CapPrm: CapEff:",  # and no capability to become it with: execve as a non-zero uid left none
        "own ok",
        "root EINVAL",  # uid 0 is not mapped in the box's user namespace, nor any other id
        "root-gid EINVAL",
        "other EINVAL",
        "other-gid EINVAL",
        "setgroups EPERM",  # as for an unprivileged user bare
    ]
    assert lines[-1] == f"still ({uid}, {uid}, {uid}) True {uid}"
