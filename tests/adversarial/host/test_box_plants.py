"""The program in the box attacks the host side: files the supervisor writes or reads after the box
started, per-user quotas it shares with its caller, and paths in an image (items 2, 4, 6, 9, 10).

The box runs as the caller's uid on the host, so in a directory it may write (--bind-rw) it can
plant symlinks, FIFOs and forged files where the supervisor will look once the program ends.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from boxrun import SANDBOX, sandbox

BUSYBOX = shutil.which("busybox") or "/bin/busybox"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The caller's project, shared read-write with the box; `precious` beside it stands for ~/.bashrc."""
    (tmp_path / "precious").write_text("the caller's own file\n")
    directory = tmp_path / "proj"
    directory.mkdir()
    return directory


def unchanged(project: Path) -> None:
    assert (project.parent / "precious").read_text() == "the caller's own file\n"


def test_the_result_is_never_written_through_a_symlink_the_box_planted(project):
    """01_result_symlink: the program turns --result into a symlink to the caller's file."""
    completed = sandbox("run", "--profile", "ci", "--bind-rw", f"{project}:/work", "--json",
                        "--result", str(project / "result.json"), "--", "sh", "-c",
                        "ln -sf ../precious /work/result.json; echo '$(id > /tmp/pwned)'")
    assert completed.returncode == 0, completed.stderr
    unchanged(project)
    assert not (project / "result.json").is_symlink()
    assert json.loads((project / "result.json").read_text())["verdict"] == "OK"


def test_a_fifo_planted_as_the_result_neither_hangs_the_run_nor_is_written_through(project):
    completed = sandbox("run", "--profile", "ci", "--bind-rw", f"{project}:/work", "--result",
                        str(project / "result.json"), "--", "sh", "-c",
                        "rm -f /work/result.json; mkfifo /work/result.json", timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert json.loads((project / "result.json").read_text())["verdict"] == "OK"


def test_a_forged_result_the_box_wrote_is_replaced_by_the_real_one(project):
    completed = sandbox("run", "--profile", "ci", "--bind-rw", f"{project}:/work", "--result",
                        str(project / "result.json"), "--", "sh", "-c",
                        """echo '{"verdict": "OK"}' > /work/result.json; exit 3""")
    assert completed.returncode == 3
    assert json.loads((project / "result.json").read_text())["verdict"] == "RE"


def test_collected_files_never_follow_a_directory_the_box_swapped(project):
    (project / "out").mkdir()
    home = project.parent / "home"
    home.mkdir()
    completed = sandbox("run", "--profile", "sh", "--bind-rw", f"{project}:/data", "--collect", ".bashrc",
                        "--collect-dir", str(project / "out"), "--", "/bin/sh", "-c",
                        "echo evil > .bashrc; mv /data/out /data/out.old; ln -s ../home /data/out")
    assert completed.returncode == 0, completed.stderr
    assert os.listdir(home) == []
    assert (project / "out.old" / ".bashrc").read_text() == "evil\n"  # into the directory named at the start


def test_an_output_file_an_earlier_box_turned_into_a_symlink_is_refused(project):
    sandbox("run", "--profile", "sh", "--bind-rw", f"{project}:/data", "--", "/bin/ln", "-s", "../precious",
            "/data/out.txt")
    assert (project / "out.txt").is_symlink()
    for flag in ("--stdout", "--stderr"):
        completed = sandbox("run", "--profile", "sh", flag, str(project / "out.txt"), "--", "/bin/echo", "overwrite")
        assert completed.returncode == 125 and completed.stderr.count(b"\n") == 1, completed.stderr
        assert b"is a symlink" in completed.stderr
    unchanged(project)


def test_expected_outputs_a_case_rewrites_are_not_used(project):
    """08_cases_lazy_expected: case 1's program rewrites the answers of the later cases."""
    cases = project / "cases"
    cases.mkdir()
    for i in (1, 2, 3):
        (cases / f"{i}.in").write_text(f"{i} {i}\n")
        (cases / f"{i}.out").write_text(f"{i + i}\n")
    (project / "wrong.sh").write_text(
        'read a b; [ "$a" = 1 ] && { echo 2; for i in 2 3; do echo forged > /data/cases/$i.out; done; exit 0; }\n'
        "echo forged\n")
    completed = sandbox("run", "--profile", "sh", "--bind-rw", f"{project}:/data", "--cases", str(cases),
                        "--", "/bin/sh", "/data/wrong.sh")
    assert completed.returncode != 0, completed.stdout
    assert b"2.out changed after the cases started" in completed.stderr


def test_an_image_symlink_never_makes_the_init_create_directories_on_the_host(tmp_path):
    """09_rootfs_symlink_mountpoint: image/mnt -> ../oldroot/HOME, with HOME/data/x made to exist next to
    the image so that a host-side check following the symlink finds it."""
    victim = tmp_path / "home"
    victim.mkdir()
    image = tmp_path / "img"
    (image / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, image / "bin" / "busybox")
    (image / "bin" / "sh").symlink_to("busybox")
    (image / "mnt").symlink_to(f"../oldroot{victim}")
    (tmp_path / "oldroot" / str(victim).lstrip("/") / "data" / "x").mkdir(parents=True)
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    completed = sandbox("run", "--profile", "sh", "--rootfs", str(image), "--bind", f"{dataset}:/mnt/data/x",
                        "--", "/bin/sh", "-c", "true")
    assert completed.returncode in (0, 125), completed.stderr
    assert os.listdir(victim) == [], "the box's init made directories in the caller's home"


def test_a_file_too_big_for_the_work_dir_is_refused_before_it_is_read(tmp_path):
    """13_file_names_ok: a 2 GiB --file was read into the supervisor's memory (4.2 GB) before failing."""
    big = tmp_path / "sparse.bin"
    with open(big, "wb") as f:
        f.truncate(2 << 30)
    process = subprocess.Popen([*SANDBOX, "run", "--profile", "sh", "--file", str(big), "--", "/bin/true"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)  # its own rusage: how big the supervisor grew
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 125 and stderr.count(b"\n") == 1, stderr
    assert b"do not fit in the work dir" in stderr
    assert usage.ru_maxrss < 512 << 10, f"the supervisor grew to {usage.ru_maxrss} KiB"  # ru_maxrss is in KiB


def test_a_file_that_fits_is_streamed_in_and_reaches_the_box_whole(tmp_path):
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(3 << 20))
    completed = sandbox("run", "--profile", "sh", "--file", f"{data}:in/data.bin", "--", "/bin/sh", "-c",
                        "wc -c < in/data.bin; md5sum < in/data.bin")
    size, digest = completed.stdout.decode().split()[:2]
    assert int(size) == 3 << 20
    assert digest == subprocess.run(["md5sum"], input=data.read_bytes(), capture_output=True).stdout.split()[0].decode()


HOLD_QUOTAS = """
import ctypes, fcntl, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
pipes = []
for _ in range(120):
    r, w = os.pipe()
    try:
        fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ: the caller's per-user pipe pages, 1 MiB at a time
    except OSError:
        pass
    pipes.append((r, w))
inotify = sum(1 for _ in range(300) if libc.inotify_init1(0) >= 0)
print("holding", inotify, flush=True)
while not os.path.exists("/work/done"):
    time.sleep(0.05)
"""


def test_a_box_draining_per_user_quotas_leaves_the_caller_and_its_other_runs_working(tmp_path):
    """05_pipe_quota: while one box holds the caller's pipe pages and inotify instances, every other run of
    the same user failed ('the run's plan is too large') and the caller's own inotify_init1 got EMFILE."""
    (tmp_path / "hold.py").write_text(HOLD_QUOTAS)
    holder = subprocess.Popen([*SANDBOX, "run", "--profile", "py3", "--open-files", "1024", "--wall-time", "120",
                               "--bind-rw", f"{tmp_path}:/work", "--", "python3", "/work/hold.py"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline().split()
        assert line[:1] == [b"holding"], holder.stderr.read() if holder.poll() is not None else line
        assert int(line[1]) <= 32, f"the box took {line[1]} inotify instances"
        for profile in ("py3", "sh"):
            completed = sandbox("run", "--profile", profile, "--", "/bin/echo", "hello")
            assert (completed.returncode, completed.stdout) == (0, b"hello\n"), completed.stderr
        api = subprocess.run([*SANDBOX[:-2], "-c", "from sandbox import Sandbox\n"
                              "with Sandbox('py3') as b: print(b.run(['/bin/echo', 'hi']).stdout)"],
                             capture_output=True, timeout=60)
        assert api.stdout == b"b'hi\\n'\n", api.stderr
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(0)
        assert fd >= 0, f"the caller's own inotify_init1 failed: {os.strerror(ctypes.get_errno())}"
        os.close(fd)
    finally:
        (tmp_path / "done").write_text("")
        holder.communicate(timeout=60)


CASE_ONE_PLANTS = """read n
if [ "$n" = 1 ]; then mv /job/data /job/data.old; ln -s ../private /job/data; fi
cat /data/* 2>&1
"""


@pytest.fixture
def job(tmp_path: Path) -> Path:
    """A job dir the box may write, a data dir inside it bound read-only, and the caller's key beside it."""
    (tmp_path / "private").mkdir(mode=0o700)
    (tmp_path / "private" / "id_rsa").write_text("VICTIM-SECRET-KEY\n")
    directory = tmp_path / "job"
    for sub in ("data", "cases"):
        (directory / sub).mkdir(parents=True)
    (directory / "data" / "input.txt").write_text("shared data\n")
    (directory / "prog.sh").write_text(CASE_ONE_PLANTS)
    for n in (1, 2):
        (directory / "cases" / f"{n}.in").write_text(f"{n}\n")
    return directory


def test_a_case_cannot_steer_where_the_next_cases_paths_lead(job):
    """H2 (red team): every case re-planned its binds, so the symlink case 1 planted in a --bind-rw
    directory counted as the caller's own and case 2's box got the caller's private directory."""
    completed = sandbox("run", "--profile", "sh", "--bind-rw", f"{job}:/job", "--bind", f"{job}/data:/data",
                        "--cases", str(job / "cases"), "--", "/bin/sh", "/job/prog.sh")
    assert b"VICTIM-SECRET" not in completed.stdout + completed.stderr
    # The batch found /data once; case 2's box gets that directory or nothing: the run stops.
    assert completed.returncode == 125 and completed.stderr.count(b"\n") == 1, completed.stderr
    assert b"/job/data changed after it was checked" in completed.stderr


def test_the_api_batch_finds_its_paths_once_too(job):
    script = (f"from sandbox import Bind, Case, Sandbox, SetupError\n"
              f"seen = []\n"
              f"with Sandbox('sh') as box:\n"
              f"    try:\n"
              f"        box.run_cases(['/bin/sh', '/job/prog.sh'], [Case('1', b'1\\n'), Case('2', b'2\\n')],\n"
              f"                      binds=[Bind('{job}', '/job', True), Bind('{job}/data', '/data')])\n"
              f"    except SetupError as e:\n"
              f"        print(e.message)\n")
    completed = subprocess.run([*SANDBOX[:-2], "-c", script], capture_output=True, timeout=120)
    assert b"VICTIM-SECRET" not in completed.stdout + completed.stderr
    assert b"/job/data changed after it was checked" in completed.stdout, completed.stderr


def test_a_result_whose_directory_the_box_replaced_is_an_error_not_a_forgery(project):
    """H4 (red team): the box moved the result's directory away and put one with a forged document
    in its place; the caller read "OK" at the path it named while the program had failed."""
    (project / "results").mkdir()
    completed = sandbox("run", "--profile", "sh", "--bind-rw", f"{project}:/data", "--result",
                        str(project / "results" / "result.json"), "--", "/bin/sh", "-c",
                        "mv /data/results /data/results.real; mkdir /data/results; "
                        "echo '{\"verdict\": \"OK\"}' > /data/results/result.json; exit 3")
    assert completed.returncode == 125 and completed.stderr.count(b"\n") == 1, completed.stderr
    assert b"its directory was moved or replaced" in completed.stderr
    assert json.loads((project / "results.real" / "result.json").read_text())["verdict"] == "RE"


def test_json_is_printed_even_when_the_box_spoiled_the_result_file(project):
    """G1 (red team): a box that made the result's directory unwritable also cost the caller --json."""
    completed = sandbox("run", "--profile", "sh", "--bind-rw", f"{project}:/data", "--json", "--result",
                        str(project / "result.json"), "--", "/bin/sh", "-c",
                        "echo '{\"verdict\": \"OK\"}' > /data/result.json; chmod 555 /data; exit 3")
    os.chmod(project, 0o755)
    assert completed.returncode == 125 and b"was not written by sandbox" in completed.stderr
    assert json.loads(completed.stdout)["verdict"] == "RE"


DRAIN_EPOLL = """
import os, select, sys, time
def worker():
    instances = [select.epoll() for _ in range(80)]
    targets = [os.eventfd(0) for _ in range(80)]
    try:
        for target in targets:  # an epoll entry outlives the dup it was made on while the file is open
            for number in range(174, 254):
                os.dup2(target, number)
                for instance in instances:
                    instance.register(number, select.EPOLLIN)
    except OSError as error:
        print("full:", error.strerror, flush=True)
    while not os.path.exists("/work/done"):
        time.sleep(0.05)
    os._exit(0)
for _ in range(12):
    if os.fork() == 0:
        worker()
while not os.path.exists("/work/done"):
    time.sleep(0.05)
"""


def test_a_box_draining_the_callers_epoll_watches_leaves_its_other_runs_working(tmp_path):
    """H3 (red team): fs.epoll.max_user_watches is counted per user, host-wide; a box filled it and
    every later run of the caller died with `internal error: OSError ENOSPC` (the supervisor's epoll)."""
    (tmp_path / "drain.py").write_text(DRAIN_EPOLL)
    holder = subprocess.Popen([*SANDBOX, "run", "--profile", "py3", "--wall-time", "120", "--cpu-time", "120", "--bind-rw",
                               f"{tmp_path}:/work", "--", "python3", "/work/drain.py"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert holder.stdout is not None
        assert b"No space left" in holder.stdout.readline(), "the box could not fill the count"
        completed = sandbox("run", "--profile", "sh", "--", "/bin/echo", "still works")
        assert (completed.returncode, completed.stdout) == (0, b"still works\n"), completed.stderr
        api = subprocess.run([*SANDBOX[:-2], "-c", "from sandbox import Sandbox\n"
                              "with Sandbox('sh') as b: print(b.run(['/bin/echo', 'hi']).stdout)"],
                             capture_output=True, timeout=60)
        assert api.stdout == b"b'hi\\n'\n", api.stderr
    finally:
        (tmp_path / "done").write_text("")
        holder.communicate(timeout=120)
