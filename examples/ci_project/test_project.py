"""A project's test suite as `sandbox run --profile ci --workdir .` runs it (README: CI).

Two ordinary tests pass; the two that try to leave the box fail there: no network, and
nothing outside the work dir is writable.  Writes inside the work dir succeed, into a
throwaway layer: the project directory on the host is unchanged afterwards.
"""
import os
import socket


def test_arithmetic():
    assert sum(range(10)) == 45


def test_writes_inside_the_work_dir_succeed():
    os.makedirs("build", exist_ok=True)
    with open("build/report.txt", "w") as f:
        f.write("built\n")
    with open("build/report.txt") as f:
        assert f.read() == "built\n"


def test_reaches_the_network():
    host, _, port = os.environ.get("ESCAPE_ADDRESS", "deb.debian.org:80").rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(b"escaped\n")


def test_writes_outside_the_work_dir():
    with open(os.environ.get("ESCAPE_FILE", "../escaped.txt"), "w") as f:
        f.write("escaped\n")
