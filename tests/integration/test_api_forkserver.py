"""The Python API's process model: one fork server per Sandbox, shared by threads, gone with its caller."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from boxrun import our_processes

from sandbox import STDOUT, Sandbox, SetupError


def _servers() -> list[int]:
    """The fork servers: processes by that name whose parent is not one (an init the server has just
    cloned bears the server's command line until it renames itself, a moment later)."""
    named = {pid for pid, cmd in our_processes() if cmd.startswith("sandbox-forkserver")}
    return [pid for pid in named if _parent(pid) not in named]


def _parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def _wait_until_gone(marker: str, seconds: float = 5) -> list[str]:
    deadline = time.monotonic() + seconds
    while True:
        left = [cmd for _, cmd in our_processes() if marker in cmd or cmd.startswith("sandbox-")]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def test_runs_from_many_threads_are_independent():
    results: dict[tuple[int, int], tuple[str, int, bytes]] = {}
    with Sandbox("sh") as box:
        def worker(t: int) -> None:
            for i in range(6):
                r = box.run(["/bin/sh", "-c", f"echo {t}-{i}; exit {(t + i) % 5}"], wall_time=20)
                results[t, i] = (r.verdict.value, r.exit_code, r.stdout)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(_servers()) == 1  # one server for the Sandbox, whatever the number of threads
    assert len(results) == 36
    for (t, i), (verdict, code, out) in results.items():
        assert out == f"{t}-{i}\n".encode() and code == (t + i) % 5
        assert verdict == ("OK" if code == 0 else "RE")


def test_16_threads_by_50_runs_give_800_correct_independent_results():
    results: dict[tuple[int, int], tuple[str, int, bytes, bytes]] = {}
    with Sandbox("sh") as box:
        def worker(t: int) -> None:
            for i in range(50):
                r = box.run(["/bin/sh", "-c", f"echo out-{t}-{i}; echo err-{t}-{i} >&2; exit {(t * 50 + i) % 7}"],
                            wall_time=60)
                results[t, i] = (r.verdict.value, r.exit_code, r.stdout, r.stderr)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(results) == 800
    for (t, i), (verdict, code, out, err) in results.items():
        assert (out, err) == (f"out-{t}-{i}\n".encode(), f"err-{t}-{i}\n".encode())
        assert code == (t * 50 + i) % 7 and verdict == ("OK" if code == 0 else "RE")


def test_close_stops_the_server_and_a_later_run_starts_another():
    box = Sandbox("sh")
    assert box.run(["/usr/bin/true"]).exit_code == 0
    first = _servers()
    assert len(first) == 1
    box.close()
    assert _servers() == []
    assert box.run(["/bin/echo", "again"]).stdout == b"again\n"
    assert len(_servers()) == 1 and _servers() != first
    box.close()


def test_a_killed_server_is_replaced_and_its_running_box_ends():
    with Sandbox("sh") as box:
        assert box.run(["/usr/bin/true"]).exit_code == 0
        (server,) = _servers()
        outcome: list[object] = []
        runner = threading.Thread(target=lambda: outcome.append(_run_or_error(box, ["sleep", "303"])))
        runner.start()
        deadline = time.monotonic() + 10
        while not any("sleep 303" in c for _, c in our_processes()) and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(server, signal.SIGKILL)
        runner.join(20)
        assert not runner.is_alive()
        assert isinstance(outcome[0], SetupError)  # the box died with its server: an error of the sandbox
        assert not [c for _, c in our_processes() if "sleep 303" in c]
        assert box.run(["/bin/echo", "back"]).stdout == b"back\n"  # a fresh server took over
        assert _servers() and server not in _servers()


def test_the_next_init_waits_ready_and_a_killed_one_is_replaced():
    with Sandbox("sh") as box:
        assert box.run(["/usr/bin/true"]).exit_code == 0
        (server,) = _servers()
        deadline = time.monotonic() + 5
        while not (spares := _children_named(server, "sandbox-init")) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(spares) == 1  # cloned ahead of the next request
        os.kill(spares[0], signal.SIGKILL)
        assert box.run(["/bin/echo", "fresh"]).stdout == b"fresh\n"


def test_close_returns_once_every_init_of_the_server_is_gone():
    """close() waits for the server, and the server exits only after the inits it still had (the
    spare, waiting for the next run) are killed and reaped: nothing of the Sandbox outlives close(),
    not for a moment (a caller checking right after, as the host checks of these tiers do, found
    a dying spare)."""
    box = Sandbox("sh")
    assert box.run(["/usr/bin/true"]).exit_code == 0
    (server,) = _servers()
    deadline = time.monotonic() + 30
    while not (spares := _children_named(server, "sandbox-init")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(spares) == 1
    box.close()
    assert [pid for pid in (server, *spares) if os.path.exists(f"/proc/{pid}")] == []


def _children_named(parent: int, name: str) -> list[int]:
    found = []
    for pid, cmd in our_processes():
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if ppid == parent and cmd.startswith(name):
            found.append(pid)
    return found


def _run_or_error(box: Sandbox, argv: list[str]) -> object:
    try:
        return box.run(argv, wall_time=60)
    except SetupError as e:
        return e


def test_killing_the_api_caller_leaves_nothing_behind(tmp_path):
    caller = tmp_path / "caller.py"
    caller.write_text(textwrap.dedent("""
        import sys
        from sandbox import Sandbox
        box = Sandbox("sh")
        box.run(["/bin/sh", "-c", "sleep 304 & echo ready; wait"], stdout=1, wall_time=120)
    """))
    process = subprocess.Popen([sys.executable, str(caller)], stdout=subprocess.PIPE)
    assert process.stdout.readline() == b"ready\n"
    assert _servers()
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdout.close()
    assert _wait_until_gone("sleep 304") == []


def test_a_forked_caller_gets_its_own_server():
    with Sandbox("sh") as box:
        assert box.run(["/usr/bin/true"]).exit_code == 0
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the test process is single-threaded here, so a fork may run Python
            try:
                os.close(read)
                result = box.run(["/bin/echo", "child"])
                os.write(write, result.stdout + str(len(_servers())).encode())
                box.close()
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as f:
            reported = f.read()
        os.waitpid(pid, 0)
        assert reported == b"child\n2"  # the parent's server and the child's own
        assert box.run(["/bin/echo", "parent"]).stdout == b"parent\n"  # the parent's is untouched


@pytest.mark.parametrize("stdin", [b"from bytes\n", None])
def test_stdin_reaches_the_program_through_the_server(stdin, tmp_path):
    with Sandbox("sh") as box:
        if stdin is None:  # the caller's own stdin: hand it a file as fd 0 of a child process
            src = tmp_path / "in.txt"
            src.write_text("from the caller\n")
            code = "from sandbox import Sandbox; import sys; sys.stdout.buffer.write(Sandbox('sh').run(['cat']).stdout)"
            with open(src, "rb") as f:
                out = subprocess.run([sys.executable, "-c", code], stdin=f, capture_output=True, timeout=30).stdout
            assert out == b"from the caller\n"
        else:
            assert box.run(["cat"], stdin=stdin).stdout == stdin


def test_stdin_from_a_file_path(tmp_path):
    source = tmp_path / "input.txt"
    source.write_bytes(b"3 4\n")
    with Sandbox("sh") as box:
        assert box.run(["cat"], stdin=str(source)).stdout == b"3 4\n"
        assert box.run(["cat"], stdin=source).stdout == b"3 4\n"  # a PathLike too


def test_stderr_merged_into_stdout_keeps_the_order():
    with Sandbox("sh") as box:
        result = box.run(["/bin/sh", "-c", "echo one; echo two >&2; echo three"], stderr=STDOUT)
    assert result.stdout == b"one\ntwo\nthree\n" and result.stderr is None


def test_files_go_in_and_named_files_come_out():
    with Sandbox("sh") as box:
        compiled = box.run(["/bin/sh", "-c", "tr a-z A-Z < src/in.txt > out.txt; cp build.sh a.out; ls -l build.sh"],
                           files={"src/in.txt": "hello", "build.sh": ("#!/bin/sh\necho built\n", 0o755)},
                           collect=["out.txt", "a.out", "never-made"])
        assert compiled.verdict.value == "OK", compiled.stderr
        assert compiled.stdout.startswith(b"-rwxr-xr-x")
        assert compiled.files == {"out.txt": b"HELLO", "a.out": b"#!/bin/sh\necho built\n"}
        ran = box.run(["./a.out"], files={"a.out": (compiled.files["a.out"], 0o755)})
        assert ran.stdout == b"built\n"


def test_collected_files_are_cut_at_the_limit_and_symlinks_are_not_followed():
    with Sandbox("sh") as box:
        result = box.run(["/bin/sh", "-c", "head -c 5000 /dev/zero > big; ln -s /etc/hostname link; ln -s /proc/1 p"],
                         collect=["big", "link", "p/environ"], collect_limit="1K")
    assert result.files == {"big": bytes(1024)} and result.files_truncated == ["big"]


def test_timeout_is_the_wall_time_limit_and_gives_tle():
    with Sandbox("sh") as box:
        result = box.run(["/bin/sleep", "30"], timeout=0.5)
        assert result.verdict.value == "TLE" and result.limit == "wall_time"
        assert result.limits["wall_time"] == 0.5


def test_a_request_interrupted_before_its_reply_does_not_hand_the_next_run_its_init(monkeypatch):
    """^C between a spawn request and the server's reply: the reply (and the init's pidfd) must not be
    taken as the next run's, or the next run's deadlines would kill the wrong box and never its own."""
    import socket

    from sandbox import _forkserver

    real, interrupted = socket.recv_fds, []

    def interrupt_once(*args, **kwargs):
        if not interrupted:
            interrupted.append(True)
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    with Sandbox("sh") as box:
        monkeypatch.setattr(_forkserver.socket, "recv_fds", interrupt_once)
        with pytest.raises(KeyboardInterrupt):
            box.run(["/usr/bin/true"])
        result = box.run(["/bin/sh", "-c", "sleep 3; echo second"], wall_time=0.5)
    assert (result.verdict.value, result.limit, result.stdout) == ("TLE", "wall_time", b"")
