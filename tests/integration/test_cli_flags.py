"""The CLI a bwrap or docker user expects (issue 14, points 7, 8 and 10), on this host: the size flags
reach the box, a program the box cannot see says why, and a collected binary can run next."""
from __future__ import annotations

import json
import os
import stat
import subprocess

from boxrun import run_json, sandbox

M = 1 << 20
# The sizes of /dev/shm and /tmp as the box's tmpfs reports them, and its stack's soft limit in KiB.
SIZES = "stat -f -c '%S %b' /dev/shm /tmp; ulimit -s"


def sizes(*flags: str) -> tuple[int, int, str]:
    result, completed = run_json("--profile", "sh", *flags, "--", "/bin/sh", "-c", SIZES)
    assert result["verdict"] == "OK", (result, completed.stderr)
    shm, tmp, stack = result["stdout"].splitlines()
    return _bytes(shm), _bytes(tmp), stack


def _bytes(line: str) -> int:
    block, blocks = line.split()
    return int(block) * int(blocks)


def test_dev_shm_is_16m_by_default_and_shm_size_sets_it():
    shm, tmp, stack = sizes()
    assert (shm, tmp, stack) == (16 * M, 64 * M, "8192")  # the sh profile's tmp_size and stack
    result, _ = run_json("--profile", "sh", "--", "/bin/true")
    assert result["limits"]["shm_size"] == 16 * M and result["enforced_by"]["shm_size"] == "tmpfs size"


def test_the_size_flags_reach_the_box_in_any_spelling():
    assert sizes("--shm-size", "2Mi", "--tmp-size", "3MB", "--stack", "4MiB") == (2 * M, 3 * M, "4096")
    assert sizes("--shm-size", "1m", "--tmp-size", "2048K", "--stack", "16m") == (1 * M, 2 * M, "16384")


def test_a_full_dev_shm_refuses_more():
    result, _ = run_json("--profile", "sh", "--shm-size", "1M", "--", "/bin/sh", "-c",
                         "head -c 2097152 /dev/zero > /dev/shm/big; echo $?; stat -c %s /dev/shm/big")
    written, size = result["stdout"].split()
    assert written != "0" and int(size) <= M


def test_a_program_the_box_cannot_see_says_why(tmp_path):
    program = tmp_path / "prog"
    program.write_text("#!/bin/sh\necho ran\n")
    program.chmod(0o755)
    completed = sandbox("run", "--profile", "sh", "--", "./prog", cwd=tmp_path)
    assert completed.returncode == 127
    assert completed.stderr.decode() == (
        "sandbox: ./prog: program not found in the box (the box does not see your current directory: show it with "
        "--workdir . or copy the file in with --file prog, then run ./prog)\n")
    completed = sandbox("run", "--json", "--profile", "sh", "--", "./prog", cwd=tmp_path)  # the IE document too
    document = json.loads(completed.stdout)
    assert completed.returncode == 127 and document["verdict"] == "IE" and "--workdir ." in document["message"]
    for flags in (["--workdir", "."], ["--file", "prog"]):  # and the ways it names do work
        shown = sandbox("run", "--profile", "sh", *flags, "--", "./prog", cwd=tmp_path)
        assert (shown.returncode, shown.stdout) == (0, b"ran\n"), shown.stderr


def test_a_collected_binary_keeps_its_mode_and_runs_next(tmp_path):
    build = ("printf '#!/bin/sh\\necho built\\n' > main && chmod 4755 main && "
             "echo private > notes && chmod 600 notes")
    completed = sandbox("run", "--profile", "sh", "--collect", "main", "--collect", "notes", "--", "/bin/sh", "-c",
                        build, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "main").stat().st_mode) == 0o755 & ~umask  # no setuid on the host
    assert stat.S_IMODE((tmp_path / "notes").stat().st_mode) == 0o600
    assert subprocess.run(["./main"], cwd=tmp_path, capture_output=True).stdout == b"built\n"  # not 126
    again = sandbox("run", "--profile", "sh", "--file", "main", "--", "./main", cwd=tmp_path)
    assert (again.returncode, again.stdout) == (0, b"built\n"), again.stderr


def test_the_api_result_has_signal_name():
    from sandbox import Sandbox

    with Sandbox("sh") as box:
        result = box.run(["/bin/sh", "-c", "kill -TERM $$"])
    assert (result.signal, result.signal_name) == (15, "SIGTERM")
    assert result.to_dict()["signal_name"] == "SIGTERM"
