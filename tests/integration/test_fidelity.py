"""The numbers a judge reads, on a host without a delegated cgroup (this one): CPU time limits kept by
the supervisor's watch of the whole box, to within 50 ms of any limit, however the program spends its
time; the peak memory the program's own, or said to be unknown, never our helper's (issue 14)."""
from __future__ import annotations

import signal
import subprocess

import pytest
from boxrun import run_json

TOLERANCE = 0.05  # seconds: a TLE lands this close to the limit


@pytest.mark.parametrize("limit", [0.3, 0.5, 1.5])
def test_tle_lands_at_the_limit_not_at_the_next_whole_second(script, limit):
    result, completed = run_json("--cpu-time", str(limit), "--wall-time", "30", script("while True: pass"))
    assert (result["verdict"], result["limit"]) == ("TLE", "cpu_time")
    assert abs(result["cpu_time"] - limit) <= TOLERANCE, result["cpu_time"]
    assert completed.returncode == 128 + signal.SIGKILL  # ended by the supervisor, not a SIGXCPU


def test_a_program_that_ignores_sigxcpu_is_ended_at_the_limit(script):
    result, _ = run_json("--cpu-time", "1", "--wall-time", "30", script("""
        import signal
        signal.signal(signal.SIGXCPU, signal.SIG_IGN)
        while True:
            pass
    """))
    assert (result["verdict"], result["limit"]) == ("TLE", "cpu_time")
    assert abs(result["cpu_time"] - 1.0) <= TOLERANCE, result["cpu_time"]


def test_a_forking_burner_cannot_spread_its_time_over_processes(script):
    """Two workers burn on both cores while their parent waits: the box's time, not a process's, is
    limited, and the result counts the workers nobody reaped."""
    result, _ = run_json("--cpu-time", "1", "--pids", "8", "--wall-time", "30", script("""
        import os
        for _ in range(2):
            if os.fork() == 0:
                while True:
                    pass
        os.wait()
    """))
    assert (result["verdict"], result["limit"]) == ("TLE", "cpu_time")
    assert 1.0 <= result["cpu_time"] <= 1.0 + 2 * TOLERANCE, result["cpu_time"]  # two processes' ticks


def test_an_answer_printed_past_the_limit_never_arrives(script):
    """A program that would finish at 1.7 s of a 1.5 s limit is ended at 1.5 s: no answer, TLE,
    and the CLI's exit status says the program was killed (it used to exit 0 with TLE)."""
    result, completed = run_json("--cpu-time", "1.5", "--wall-time", "30", script("""
        import time
        end = time.process_time() + 1.7
        while time.process_time() < end:
            pass
        print("answer")
    """))
    assert (result["verdict"], result["stdout"]) == ("TLE", "")
    assert completed.returncode == 128 + signal.SIGKILL


SMALL_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    size_t size = (size_t)atol(argv[1]);
    char *block = malloc(size);
    memset(block, 1, size);            /* touched: resident */
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    while (status && fgets(line, sizeof line, status))
        if (strncmp(line, "VmHWM:", 6) == 0)
            fputs(line, stderr);         /* our own peak, since our exec */
    printf("%d\n", block[size - 1]);
    return 0;
}
"""


@pytest.fixture(scope="module")
def touching(tmp_path_factory):
    """A C program that touches N bytes and tells its own peak (VmHWM) on stderr."""
    directory = tmp_path_factory.mktemp("touch")
    (directory / "touch.c").write_text(SMALL_C)
    subprocess.run(["gcc", "-O1", "-o", str(directory / "touch"), str(directory / "touch.c")], check=True)
    directory.chmod(0o755)
    return directory / "touch"


def bare_peak(program, size: int) -> int:
    completed = subprocess.run([str(program), str(size)], capture_output=True, check=True)
    kib = int(completed.stderr.split()[1])
    return kib * 1024


def test_a_small_program_reports_an_unknown_peak_not_our_helper_s(touching):
    """1.4 MB bare: rusage would say ~14 MiB (the Python init whose memory it was exec'd from); the result says unknown,
    and a memory limit below our helper's peak is no MLE for it."""
    result, _ = run_json("--profile", "native", "--bind", str(touching.parent), "--memory", "12M", "--",
                         str(touching), str(1_400_000))
    assert (result["verdict"], result["exit_code"]) == ("OK", 0)
    assert result["memory_peak"] is None


def test_a_large_program_reports_its_own_peak(touching):
    size = 64 << 20
    result, _ = run_json("--profile", "native", "--bind", str(touching.parent), "--memory", "256M", "--",
                         str(touching), str(size))
    assert result["verdict"] == "OK"
    assert abs(result["memory_peak"] - bare_peak(touching, size)) <= 1 << 20


def start(script_path: str) -> subprocess.Popen:
    from boxrun import SANDBOX
    import select

    process = subprocess.Popen([*SANDBOX, "run", "--profile", "py3", "--wall-time", "60", script_path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert select.select([process.stdout], [], [], 60)[0] and process.stdout.readline() == b"ready\n"
    return process


def test_ctrl_c_reaches_the_program_which_ends_as_it_would_bare(script):
    """The program gets the SIGINT (pytest prints its summary), and `sandbox run` exits with the
    program's own status."""
    process = start(script("""
        import signal, sys, time
        def summary(signum, frame):
            print("summary: interrupted by", signal.Signals(signum).name, flush=True)
            sys.exit(3)
        signal.signal(signal.SIGINT, summary)
        print("ready", flush=True)
        time.sleep(60)
    """))
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert (process.returncode, out) == (3, b"summary: interrupted by SIGINT\n"), err


def test_sigterm_with_its_default_action_ends_the_program_by_that_signal(script):
    process = start(script("import time; print('ready', flush=True); time.sleep(60)"))
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)
    assert process.returncode == 128 + signal.SIGTERM


def test_a_second_signal_ends_a_program_that_ignores_the_first(script):
    process = start(script("""
        import signal, time
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(60)
    """))
    process.send_signal(signal.SIGINT)
    try:
        process.communicate(timeout=1)
        raise AssertionError("the box ended at the first signal, which the program ignores")
    except subprocess.TimeoutExpired:
        pass
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=30)
    assert process.returncode == 128 + signal.SIGKILL


def test_ctrl_c_in_a_batch_reaches_the_case_running_and_skips_the_rest(script, tmp_path):
    from boxrun import SANDBOX
    import json
    import select

    cases = tmp_path / "cases"
    cases.mkdir()
    for name in ("1", "2", "3"):
        (cases / f"{name}.in").write_text("")
        (cases / f"{name}.out").write_text("interrupted\n")
    program = script("""
        import signal, sys, time
        signal.signal(signal.SIGINT, lambda signum, frame: (print("interrupted", flush=True), sys.exit(0)))
        print("ready", file=sys.stderr, flush=True)
        time.sleep(60)
    """)
    result = tmp_path / "result.json"
    process = subprocess.Popen([*SANDBOX, "run", "--profile", "py3", "--wall-time", "60", "--result", str(result),
                                "--cases", str(cases), program], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert select.select([process.stderr], [], [], 60)[0] and process.stderr.readline() == b"ready\n"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    document = json.loads(result.read_text())
    assert [(case["case"], case["verdict"]) for case in document["cases"]] == [("1", "OK")], err
    assert document["skipped"] == ["2", "3"] and process.returncode == 1
