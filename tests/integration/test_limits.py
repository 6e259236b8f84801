"""Every limit broken on purpose, the verdict it gives, and a clean host afterwards."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time

from boxrun import SANDBOX, our_processes, run_json, sandbox


def test_cpu_bound_loop_gets_tle_by_cpu_time(script):
    result, _ = run_json("--cpu-time", "1", "--wall-time", "20", script("while True: pass"))
    assert result["verdict"] == "TLE" and result["limit"] == "cpu_time"
    assert result["cpu_time"] >= 0.9  # rusage and the RLIMIT_CPU tick disagree by a few ms


def test_sleeping_program_gets_tle_by_wall_time(script):
    result, completed = run_json("--wall-time", "1", script("import time; time.sleep(60)"))
    assert result["verdict"] == "TLE" and result["limit"] == "wall_time"
    assert 1.0 <= result["wall_time"] < 5
    assert completed.returncode == 128 + signal.SIGKILL


def test_program_ignoring_signals_with_children_is_ended_at_wall_time(script):
    result, _ = run_json("--wall-time", "1", script("""
        import os, signal, time
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        for _ in range(3):
            if os.fork() == 0:
                break
        time.sleep(60)
    """))
    assert result["verdict"] == "TLE" and result["limit"] == "wall_time"


def test_memory_hog_gets_mle_or_clean_failure(script):
    result, _ = run_json("--memory", "64M", script("""
        blocks = []
        while True:
            blocks.append(bytearray(8 << 20))
    """))
    assert result["verdict"] in ("MLE", "RE")
    assert result["verdict"] == "MLE" or "MemoryError" in result["stderr"]
    assert result["enforced_by"]["memory"]


def test_output_flood_gets_ole_and_is_capped(script):
    result, completed = run_json("--output", "1M", script("""
        import sys
        while True:
            sys.stdout.write("x" * 65536)
    """))
    assert result["verdict"] == "OLE" and result["limit"] == "output"
    assert len(result["stdout"]) == 1 << 20 and result["stdout_truncated"]


def test_output_cap_also_holds_when_passing_through(script):
    completed = sandbox("run", "--output", "100K", script("while True: print('y' * 1000)"))
    assert len(completed.stdout) == 100 * 1024
    assert b"OLE" in completed.stderr


def test_file_size_limit_gives_ole_for_c_programs():
    result, _ = run_json("--profile", "sh", "--file-size", "1M", "--",
                         "dd", "if=/dev/zero", "of=/tmp/big", "bs=1M", "count=5")
    assert result["verdict"] == "OLE"


def test_pids_limit_stops_a_fork_loop(script):
    result, _ = run_json("--pids", "8", script("""
        import os, time
        children = 0
        try:
            for _ in range(50):
                pid = os.fork()
                if pid == 0:
                    time.sleep(5)
                    os._exit(0)
                children += 1
        except BlockingIOError:
            pass
        print(children)
    """))
    assert 0 < int(result["stdout"]) <= 8


def test_open_files_limit(script):
    result, _ = run_json("--open-files", "20", script("""
        files = []
        try:
            while True:
                files.append(open("/dev/null"))
        except OSError as e:
            print(len(files), e.errno)
    """))
    count, err = result["stdout"].split()
    assert int(count) <= 17 and err == "24"  # EMFILE


def test_orphans_do_not_outlive_the_program(script):
    result, _ = run_json(script("""
        import os, subprocess
        subprocess.Popen(["sleep", "300"], start_new_session=True)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execvp("sleep", ["sleep", "301"])
            os._exit(0)
        print("parent leaves")
    """))
    assert result["verdict"] == "OK"
    assert not [cmd for _, cmd in our_processes() if cmd.startswith("sleep 30")]


def test_killing_the_supervisor_leaves_nothing_behind(script):
    program = script("""
        import os, subprocess, time
        subprocess.Popen(["sleep", "302"])
        print("ready", flush=True)
        time.sleep(300)
    """)
    supervisor = subprocess.Popen([*SANDBOX, "run", "--wall-time", "120", program], stdout=subprocess.PIPE)
    assert supervisor.stdout.readline() == b"ready\n"
    supervisor.send_signal(signal.SIGKILL)
    supervisor.wait()
    inside = "/work/" + os.path.basename(program)  # the program's command line names its path in the box

    def left() -> list[str]:  # the init's name goes first (its memory is freed before its namespace ends)
        return [c for _, c in our_processes() if any(m in c for m in ("sleep 302", "sandbox-init", program, inside))]

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and left():
        time.sleep(0.05)
    assert not left()


def test_program_not_found_is_127_and_not_executable_is_126(tmp_path):
    missing = sandbox("run", "--profile", "sh", "--", "no-such-program")
    assert missing.returncode == 127
    assert missing.stderr.decode().count("\n") == 1 and b"no-such-program" in missing.stderr
    plain = tmp_path / "plain"
    plain.write_text("not a program")
    denied = sandbox("run", "--profile", "sh", "--bind", f"{plain}:/tmp/x", "--", "/tmp/x")
    assert denied.returncode == 126


def test_a_box_that_cannot_be_set_up_leaves_an_ie_result(tmp_path):
    """A SetupError from the box's own mount step (a file bound over the directory /usr) writes the IE
    document --result asks for, as an exec error does (isolate always writes its meta file)."""
    (tmp_path / "file").write_text("not a directory\n")
    result = tmp_path / "result.json"
    completed = sandbox("run", "--profile", "sh", "--result", str(result), "--bind", f"{tmp_path}/file:/usr",
                        "--", "/bin/true")
    assert completed.returncode == 125 and completed.stdout == b""
    (line,) = completed.stderr.decode().splitlines()
    document = json.loads(result.read_text())
    assert (document["verdict"], document["exit_code"], document["signal"]) == ("IE", None, None)
    assert line == f"sandbox: {document['message']}" and "/usr" in line
    error = document["error"]
    assert (error["error"], error["step"], error["errno"]) == ("SetupError", "mount namespace", errno.ENOTDIR)


def test_sandbox_errors_are_one_line_exit_125(script, tmp_path):
    cases = [
        ("run", "--profile", "nonexistent", script("pass")),
        ("run", "--memory", "lots", script("pass")),
        ("run", str(tmp_path / "missing.py")),
        ("run", "--bind", str(tmp_path / "nothing"), script("pass")),
        ("run", "--frobnicate", script("pass")),
    ]
    for args in cases:
        completed = sandbox(*args)
        assert completed.returncode == 125, args
        lines = completed.stderr.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith("sandbox: "), (args, lines)
        assert b"Traceback" not in completed.stderr


def test_sandbox_cli_runs_without_a_tty_and_with_closed_stdin(script):
    completed = subprocess.run([*SANDBOX, "run", script("import sys; print(repr(sys.stdin.read()))")],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    assert completed.stdout == b"''\n"
    assert sys.executable  # the CLI ran from the same interpreter as the tests
    assert os.getuid() != 0


def test_a_limit_beyond_the_rlimit_range_is_the_most_the_box_can_have_not_a_wrapped_tiny_one():
    """2**64 bytes or files asks for more than RLIM_INFINITY: the program gets the most it can have (the
    hard limit the box holds), never the value modulo 2**64 (0 bytes, 1 file: no shared library opens)."""
    result, _ = run_json("--file-size", str(1 << 64), "--open-files", str((1 << 64) + 1),
                         "--", "/bin/sh", "-c", "ulimit -f; ulimit -n")
    assert result["verdict"] == "OK", result
    fsize, nofile = result["stdout"].split()
    assert fsize == "unlimited" or int(fsize) > 1 << 30
    assert int(nofile) > 1000
