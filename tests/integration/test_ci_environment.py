"""The `ci` profile's box environment behaves as bare (issue 15, items 1-4 and 7): threads, the
user's name, localhost, a loopback server, a pseudo-terminal, /dev/shm and the CA store.  Each
probe is a small Python program run in the box that prints "ok" only when the bare behaviour
holds; the host's own listener stays unreachable with loopback up."""
from __future__ import annotations

import getpass
import socket
import textwrap

import pytest
from boxrun import sandbox


def in_ci(code: str, *args: str, timeout: float = 120) -> str:
    """Run `code` with the box's python3 in the ci profile; its stdout, asserting exit 0."""
    completed = sandbox("run", "--profile", "ci", *args, "--", "python3", "-c", textwrap.dedent(code),
                        timeout=timeout)
    output = completed.stdout.decode()
    assert completed.returncode == 0, output + completed.stderr.decode()
    return output


def test_a_process_starts_a_thousand_threads_as_bare():
    output = in_ci("""
        import threading
        gate = threading.Event()
        threads = [threading.Thread(target=gate.wait) for _ in range(1000)]
        for thread in threads:
            thread.start()
        gate.set()
        for thread in threads:
            thread.join()
        print("ok", len(threads))
    """)
    assert output.split() == ["ok", "1000"]


def test_the_user_is_the_callers_name_and_nothing_else_of_the_host():
    output = in_ci("""
        import getpass, grp, os, pwd
        entry = pwd.getpwuid(os.getuid())
        print(entry.pw_name, getpass.getuser(), grp.getgrgid(os.getgid()).gr_name, len(pwd.getpwall()))
        try:
            pwd.getpwnam("root")
            print("root is known")
        except KeyError:
            print("no root")
    """)
    name = getpass.getuser()
    assert output.split() == [name, name, name, "1", "no", "root"]


def test_localhost_and_the_box_hostname_resolve_to_loopback():
    output = in_ci("""
        import socket
        print(socket.gethostbyname("localhost"), socket.gethostbyname(socket.gethostname()))
    """)
    assert output.split() == ["127.0.0.1", "127.0.0.1"]


def test_a_server_on_loopback_accepts_a_connection_from_the_same_box():
    output = in_ci("""
        import socket, threading
        server = socket.create_server(("127.0.0.1", 0))
        def serve():
            connection, _ = server.accept()
            connection.sendall(connection.recv(100).upper())
            connection.close()
        threading.Thread(target=serve).start()
        with socket.create_connection(server.getsockname(), timeout=5) as client:
            client.sendall(b"ping")
            print(client.recv(100).decode())
    """)
    assert output.split() == ["PING"]


def test_no_interface_but_loopback_and_the_hosts_listener_stays_unreachable():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        port = listener.getsockname()[1]
        output = in_ci(f"""
            import socket
            names = sorted(line.split(":")[0].strip() for line in open("/proc/net/dev").readlines()[2:])
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=5)
                print(names, "connected")
            except OSError as e:
                print(names, type(e).__name__)
        """)
        assert output.split() == ["['lo']", "ConnectionRefusedError"]
        with pytest.raises(BlockingIOError):
            listener.accept()


def test_openpty_works_and_a_write_through_it_reads_back():
    output = in_ci("""
        import os
        main, tty = os.openpty()
        os.write(main, b"hello\\n")
        print(os.read(tty, 100).decode().strip(), os.ttyname(tty).startswith("/dev/pts/"))
    """)
    assert output.split() == ["hello", "True"]


def test_64_mib_fit_in_dev_shm():
    output = in_ci("""
        with open("/dev/shm/big", "wb") as f:
            for _ in range(64):
                f.write(b"x" * (1 << 20))
        import os
        print(os.path.getsize("/dev/shm/big") >> 20)
    """)
    assert output.split() == ["64"]


def test_the_default_tls_context_loads_the_hosts_ca_certificates():
    output = in_ci("""
        import ssl
        print(ssl.create_default_context().cert_store_stats()["x509_ca"])
    """)
    assert int(output) > 0


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_pools_and_locks_work_with_each_start_method(method, tmp_path):
    probe = tmp_path / "probe.py"  # a file: spawn and forkserver import __main__ again in each worker
    probe.write_text(textwrap.dedent(f"""
        import multiprocessing
        def square(n):
            return n * n
        if __name__ == "__main__":
            context = multiprocessing.get_context("{method}")
            lock = context.Lock()  # a POSIX semaphore in /dev/shm
            with lock, context.Pool(4) as pool:
                print(sum(pool.map(square, range(100))))
    """))
    completed = sandbox("run", "--profile", "ci", "--bind", f"{probe}:/work/probe.py", "--", "python3", "/work/probe.py",
                        timeout=120)
    assert (completed.returncode, completed.stdout.split()) == (0, [b"328350"]), completed.stderr.decode()
