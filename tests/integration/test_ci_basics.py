"""What test suites commonly do, in the `ci` profile, as bare (issue 15's probe): processes by every
multiprocessing start method, subprocesses with pipes, signals between the suite's own processes.
Each probe is run bare first: the box must give the same output."""
from __future__ import annotations

import os
import subprocess
import textwrap

import pytest
from boxrun import run_json

MULTIPROCESSING = """
import multiprocessing as mp, sys

def square(x):
    return x * x

if __name__ == "__main__":
    mp.set_start_method(sys.argv[1])
    with mp.Pool(2) as pool:
        print(sys.argv[1], sum(pool.map(square, range(10))))
    queue = mp.Queue()
    worker = mp.Process(target=queue.put, args=("through a queue",))
    worker.start()
    print(queue.get(timeout=30))
    worker.join()
    print("exit", worker.exitcode)
"""

SUBPROCESS = """
import subprocess, sys
done = subprocess.run([sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read().upper())"],
                      input=b"piped", capture_output=True, check=True)
print(done.stdout.decode())
shell = subprocess.run("echo from a shell; exit 3", shell=True, capture_output=True, text=True)
print(shell.stdout.strip(), shell.returncode)
"""

SIGNALS = """
import os, signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
time.sleep(0.2)
child.terminate()
print("child ended by", signal.Signals(-child.wait()).name)
got = []
signal.signal(signal.SIGUSR1, lambda signum, frame: got.append(signum))
os.kill(os.getpid(), signal.SIGUSR1)
print("own signal handled", got == [signal.SIGUSR1])
signal.alarm(1)
try:
    signal.signal(signal.SIGALRM, lambda signum, frame: (_ for _ in ()).throw(TimeoutError()))
    time.sleep(5)
except TimeoutError:
    print("alarm raised")
"""


PYTHON = "/usr/bin/python3"  # the system's, in the box through the profile's /usr: the probes need no more


def bare(script: str, *args: str) -> str:
    completed = subprocess.run([PYTHON, script, *args], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def boxed(script: str, *args: str) -> str:
    result, _ = run_json("--profile", "ci", "--wall-time", "120", "--bind", os.path.dirname(script), "--",
                         PYTHON, script, *args, timeout=180)
    assert (result["verdict"], result["exit_code"]) == ("OK", 0), result
    return result["stdout"]


@pytest.fixture
def probe(tmp_path):
    tmp_path.chmod(0o755)

    def write(source: str) -> str:
        path = tmp_path / f"probe{len(list(tmp_path.iterdir()))}.py"
        path.write_text(textwrap.dedent(source))
        path.chmod(0o644)
        return str(path)

    return write


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_works_by_every_start_method(probe, method):
    script = probe(MULTIPROCESSING)
    assert boxed(script, method) == bare(script, method) == f"{method} 285\nthrough a queue\nexit 0\n"


def test_subprocesses_with_pipes_and_a_shell(probe):
    script = probe(SUBPROCESS)
    assert boxed(script) == bare(script) == "PIPED\nfrom a shell 3\n"


def test_signals_between_the_suite_s_own_processes(probe):
    script = probe(SIGNALS)
    assert boxed(script) == bare(script) == "child ended by SIGTERM\nown signal handled True\nalarm raised\n"


def test_process_time_advances_over_short_spans_as_bare(probe):
    """A suite that times a little work with time.process_time() (httplib2's does, and divides by it):
    RLIMIT_CPU would arm the kernel's process CPU timer, after which the clock moves only at ticks
    (0.0 for a few hundred microseconds of work); ci sets none (rlimit_backstops: false)."""
    script = probe("""
        import time
        start = time.process_time()
        total = sum(range(20000))
        print(time.process_time() > start)
    """)
    assert boxed(script) == bare(script) == "True\n"
