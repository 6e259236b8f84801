"""What the program sees inside the box, and how its outcome reaches the caller."""
from __future__ import annotations

import os
import signal

import pytest
from boxrun import run_json, sandbox


def test_hello_example_runs():
    here = os.path.dirname(os.path.abspath(__file__))
    completed = sandbox("run", "--profile", "py3", os.path.join(here, "..", "..", "examples", "hello.py"))
    assert completed.returncode == 0, completed.stderr
    assert b"hello from the sandbox" in completed.stdout


@pytest.mark.parametrize("code", [0, 1, 3, 42])
def test_exit_code_passes_through(script, code):
    completed = sandbox("run", script(f"import sys; sys.exit({code})"))
    assert completed.returncode == code


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGABRT, signal.SIGSEGV])
def test_death_by_signal_is_128_plus_n_and_re(script, signum):
    program = script(f"import os, signal; signal.signal({int(signum)}, signal.SIG_DFL); os.kill(os.getpid(), {int(signum)})")
    result, completed = run_json(program)
    assert completed.returncode == 128 + signum
    assert result["signal"] == signum and result["verdict"] == "RE"


def test_stdin_and_stdout_pass_through(script):
    completed = sandbox("run", script("import sys; print(sys.stdin.read().upper())"), input=b"judge me\n")
    assert completed.stdout == b"JUDGE ME\n\n"


def test_stdio_redirected_to_files(script, tmp_path):
    (tmp_path / "in.txt").write_text("41\n")
    program = script("import sys; n = int(input()); print(n + 1); print('oops', file=sys.stderr)")
    completed = sandbox("run", "--stdin", str(tmp_path / "in.txt"), "--stdout", str(tmp_path / "out.txt"),
                        "--stderr", str(tmp_path / "err.txt"), program)
    assert completed.returncode == 0 and completed.stdout == b""
    assert (tmp_path / "out.txt").read_text() == "42\n"
    assert (tmp_path / "err.txt").read_text() == "oops\n"


def test_script_arguments_reach_the_program(script):
    completed = sandbox("run", script("import sys; print(sys.argv[1:])"), "a", "--b", "-c")
    assert completed.stdout == b"['a', '--b', '-c']\n"


def test_program_mode_runs_any_program():
    completed = sandbox("run", "--profile", "sh", "--", "/bin/sh", "-c", "echo $((6*7))")
    assert completed.returncode == 0 and completed.stdout == b"42\n"


def test_filesystem_is_read_only_except_tmp_and_work(script):
    result, _ = run_json(script("""
        import os
        def writable(path):
            try:
                with open(os.path.join(path, "probe"), "w") as f:
                    f.write("x")
                return True
            except OSError:
                return False
        print({p: writable(p) for p in ["/usr", "/", "/etc", "/proc", "/tmp", "/work", "/dev/shm"]})
    """))
    seen = eval(result["stdout"])
    assert seen == {"/usr": False, "/": False, "/etc": False, "/proc": False, "/tmp": True, "/work": True,
                    "/dev/shm": True}


def test_host_files_are_not_visible(script):
    result, _ = run_json(script("""
        import os
        print(sorted(os.listdir("/")))
        print([p for p in ["/home", "/root", "/etc/passwd", "/etc/shadow", "/var", "/opt", "/sys"] if os.path.exists(p)])
    """))
    top, visible = result["stdout"].splitlines()
    assert visible == "[]"
    assert eval(top) == sorted(["bin", "dev", "etc", "lib", "lib64", "proc", "tmp", "usr", "work"])


def test_only_the_box_processes_are_visible_and_init_is_pid_1(script):
    result, _ = run_json(script("""
        import os
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        print(pids, os.getpid(), os.getppid())
    """))
    assert result["stdout"].strip() == "[1, 2] 2 1"


def test_only_loopback_exists_and_it_is_up(script):
    result, _ = run_json(script("""
        import socket
        with open("/proc/net/dev") as f:
            print([line.split(":")[0].strip() for line in f.readlines()[2:]])
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); print("listen ok")
        try:
            socket.create_connection(("10.0.0.1", 80), timeout=2)
        except OSError as e:
            print("egress:", e.errno)
    """))
    lines = result["stdout"].splitlines()
    assert lines[0] == "['lo']" and lines[1] == "listen ok"
    assert lines[2] == "egress: 101"  # ENETUNREACH: no route out of the box


def test_net_none_leaves_loopback_down(script):
    result, _ = run_json("--net", "none", script("""
        import socket
        server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen()
        try:
            socket.create_connection(server.getsockname(), timeout=2); print("connected")
        except OSError as e:
            print("errno", e.errno)
    """))
    assert result["stdout"].strip() == "errno 101"  # ENETUNREACH: lo is down


def test_only_fds_0_to_2_reach_the_program(script):
    read_end, write_end = os.pipe()  # an fd the caller holds, inheritable
    os.set_inheritable(write_end, True)
    try:
        completed = sandbox("run", script("""
            import os
            open_fds = []
            for fd in range(1024):
                try:
                    os.fstat(fd); open_fds.append(fd)
                except OSError:
                    pass
            print(open_fds)
        """), pass_fds=(write_end,))
    finally:
        os.close(read_end)
        os.close(write_end)
    assert completed.stdout == b"[0, 1, 2]\n"


def test_environment_is_clean_plus_env_flags(script):
    os.environ["SANDBOX_TEST_SECRET"] = "hunter2"
    result, _ = run_json("--env", "EXTRA=1", script("import os; print(sorted(os.environ))"))
    names = eval(result["stdout"])
    assert "SANDBOX_TEST_SECRET" not in names
    assert set(names) == {"EXTRA", "HOME", "LANG", "PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"}


def test_identity_and_privileges_inside(script):
    result, _ = run_json(script("""
        import os, socket
        status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\\t" in line)
        print(os.getuid(), os.getgid(), os.getgroups(), socket.gethostname())
        print(status["CapEff"].strip(), status["CapBnd"].strip(), status["NoNewPrivs"].strip(), status["Seccomp"].strip())
    """))
    ids, privs = result["stdout"].splitlines()
    uid, gid, groups, hostname = ids.split(" ", 3)[0], ids.split(" ")[1], eval(ids[ids.index("["):ids.index("]") + 1]), ids.split()[-1]
    assert (uid, gid, hostname) == ("1000", "1000", "sandbox")
    # setgroups is denied in a rootless box, so the caller's groups stay: mapped to the box's gid or nobody.
    assert set(groups) <= {1000, 65534}
    assert privs == "0000000000000000 0000000000000000 1 2"


def test_filtered_syscall_gets_enosys(script):
    result, _ = run_json(script("""
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        for name, number in [("ptrace", 101), ("unshare", 272), ("bpf", 321), ("clone3", 435)]:
            ret = libc.syscall(number, 0, 0, 0, 0)
            print(name, ret, ctypes.get_errno())
    """))
    assert result["stdout"].splitlines() == ["ptrace -1 38", "unshare -1 38", "bpf -1 38", "clone3 -1 38"]


def test_threads_and_subprocess_work_in_py3(script):
    result, _ = run_json(script("""
        import subprocess, threading
        out = []
        t = threading.Thread(target=lambda: out.append(subprocess.run(["echo", "child"], capture_output=True).stdout))
        t.start(); t.join()
        print(out[0].decode().strip())
    """))
    assert result["verdict"] == "OK", result["stderr"]
    assert result["stdout"] == "child\n"


def test_seccomp_kill_action_gives_sv(script, tmp_path):
    profile = tmp_path / "killer.yaml"
    shipped = sandbox("profiles").stdout  # the shipped profile is the base we edit
    assert b"py3" in shipped
    import yaml
    from sandbox.profile import load_profile
    source = yaml.safe_load(open(load_profile("py3").source))
    source["seccomp"]["kill"] = ["ptrace"]
    profile.write_text(yaml.safe_dump(source))
    result, completed = run_json("--profile", str(profile), script("import ctypes; ctypes.CDLL(None).syscall(101, 0, 0, 0, 0)"))
    assert result["verdict"] == "SV"
    assert result["signal"] == signal.SIGSYS and completed.returncode == 128 + signal.SIGSYS


def test_json_result_has_the_documented_keys(script):
    result, _ = run_json(script("print('x')"))
    for key in ("verdict", "exit_code", "signal", "limit", "cpu_time", "wall_time", "memory_peak", "pids_peak",
                "oom_killed", "enforced_by", "message", "stdout", "stderr"):
        assert key in result
    assert result["verdict"] == "OK" and result["stdout"] == "x\n"
    assert result["enforced_by"]["wall_time"] == "supervisor timer"
    assert result["enforced_by"]["pids"].startswith("RLIMIT_NPROC")
    assert 0 < result["wall_time"] < 10
    assert result["memory_peak"] is None or result["memory_peak"] > 0  # null: below what rusage can tell (README)


def test_result_file_is_written(script, tmp_path):
    completed = sandbox("run", "--result", str(tmp_path / "r.json"), script("raise SystemExit(4)"))
    import json
    document = json.loads((tmp_path / "r.json").read_text())
    assert completed.returncode == 4
    assert document["verdict"] == "RE" and document["exit_code"] == 4


def test_workdir_is_shown_read_only_at_work(script, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "data.txt").write_text("from the host")
    (project / "main.py").write_text(
        "import os\nprint(os.getcwd(), open('data.txt').read())\n"
        "try:\n    open('new.txt', 'w')\nexcept OSError as e:\n    print(e.strerror)\n")
    completed = sandbox("run", "--workdir", str(project), str(project / "main.py"))
    assert completed.stdout.decode().splitlines() == ["/work from the host", "Read-only file system"]
    assert sorted(os.listdir(project)) == ["data.txt", "main.py"]


def test_bind_rw_lets_the_program_write_there(script, tmp_path):
    shared = tmp_path / "out"
    shared.mkdir()
    completed = sandbox("run", "--bind-rw", f"{shared}:/out", script("open('/out/answer', 'w').write('42')"))
    assert completed.returncode == 0, completed.stderr
    assert (shared / "answer").read_text() == "42"


def test_program_starts_with_default_signal_dispositions():
    # Python ignores SIGPIPE and SIGXFSZ; a program exec'd from it must not inherit that.
    completed = sandbox("run", "--profile", "sh", "--", "grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status")
    assert completed.stdout == b"SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"


def test_x32_syscalls_kill_the_program(script):
    result, _ = run_json(script("""
        import ctypes
        ctypes.CDLL(None).syscall(0x40000000 | 39)  # getpid through the x32 ABI
        print("survived")
    """))
    assert result["verdict"] == "SV" and result["stdout"] == ""


def test_i386_int80_syscalls_kill_the_program(script):
    result, _ = run_json(script("""
        import ctypes, mmap
        code = b"\\xb8\\x14\\x00\\x00\\x00\\xcd\\x80\\xc3"  # mov eax, 20 (i386 getpid); int 0x80; ret
        page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        page.write(code)
        address = ctypes.addressof(ctypes.c_char.from_buffer(page))
        print("pid via int 0x80:", ctypes.CFUNCTYPE(ctypes.c_int)(address)())
    """))
    assert result["verdict"] == "SV" and "pid via" not in result["stdout"]


def test_the_cli_runs_a_profile_that_mounts_no_proc(tmp_path):
    # The init reads the host's highest capability number before it builds the root; the CLI once
    # read it after, from the box's /proc, and failed at 'privileges' when a profile mounted none.
    profile = tmp_path / "noproc.yaml"
    profile.write_text("extends: sh\nmounts: [{bind: /usr}, {bind: /bin}, {bind: /lib}, {bind: /lib64, optional: true}]\n")
    completed = sandbox("run", "--profile", str(profile), "--", "/bin/sh", "-c", "test -e /proc/self || echo no-proc")
    assert (completed.returncode, completed.stdout, completed.stderr) == (0, b"no-proc\n", b"")


def test_ls_l_in_the_sh_profile_reads_attributes_without_errors():
    completed = sandbox("run", "--profile", "sh", "--", "/bin/ls", "-l", "/usr")
    assert completed.returncode == 0 and completed.stderr == b""  # no "Function not implemented" per file
    assert b" bin\n" in completed.stdout


def test_a_workdir_and_a_bind_reached_through_absolute_symlinks_work(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "f").write_text("through the link\n")
    (tmp_path / "link").symlink_to(real)  # absolute: inside the box's init it would point into the box
    completed = sandbox("run", "--profile", "sh", "--workdir", str(tmp_path / "link"),
                        "--bind", f"{tmp_path / 'link'}:/data", "--", "/bin/sh", "-c", "cat f /data/f")
    assert (completed.returncode, completed.stdout) == (0, b"through the link\n" * 2), completed.stderr
