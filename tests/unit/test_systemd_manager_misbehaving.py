"""Red-team reproducers for sandbox.systemd and the API's scope per fork server (no systemd here:
a stand-in manager on a socket, and fake scopes that are never created; this host's cgroups are
never touched: supervisor.cgroup_subtree is replaced)."""
from __future__ import annotations

import os
import signal
import socket
import struct
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from fake_manager import FakeManager
from sandbox import api, cgroup, cli, supervisor, systemd
from sandbox.result import Verdict


class RawManager(FakeManager):
    """A 'manager' that completes the EXTERNAL handshake, then does what `behave(connection, stop)` does."""

    def __init__(self, runtime: Path, behave) -> None:
        self.behave = behave
        self.stop = threading.Event()
        super().__init__(runtime)

    def close(self) -> None:
        self.stop.set()
        super().close()

    def _converse(self, connection: socket.socket) -> None:
        if self.handshake(connection) is not None:
            self.behave(connection, self.stop)


def _header(endian: bytes = b"l", fields: bytes = b"", body_length: int = 0) -> bytes:
    return endian + bytes([2, 0, 1]) + struct.pack("<III", body_length, 1, len(fields)) + fields


GARBAGE = {
    "not D-Bus at all": b"\xff" * 64,
    "an unknown byte order": b"X" + b"\0" * 63,
    "a header whose signature field is cut short": _header(
        fields=b"\x05\x01u\x00\x01\x00\x00\x00\x08\x01g\x00\x01(\x00\x00", body_length=4) + b"\0" * 4,
}


@pytest.mark.parametrize("what", GARBAGE)
def test_a_manager_answering_garbage_is_a_scope_refusal_not_a_crash(runtime, what):
    manager = RawManager(runtime, lambda connection, stop: (connection.sendall(GARBAGE[what]), stop.wait(5)))
    try:
        with pytest.raises(systemd.ScopeRefused, match="cannot talk to the user manager"):
            systemd._call_start_transient_unit(str(manager.path), "x.scope", [4242], "a test")
    finally:
        manager.close()


def test_a_default_run_whose_manager_garbles_goes_on_with_a_note(systemd_host, runtime, capsys):
    """The default scope, refused in any way, costs one `sandbox: note:` line and the run goes on
    (README); a garbling manager must not end the run as an internal error."""
    systemd_host.close()
    systemd_host.path.unlink()
    manager = RawManager(runtime, lambda connection, stop: (connection.sendall(b"\xff" * 64), stop.wait(5)))
    try:
        cli._enter_systemd_scope(None, None)
    finally:
        manager.close()
    err = capsys.readouterr().err
    assert err.startswith("sandbox: note: ") and err.count("\n") == 1, err


def _chatter(connection: socket.socket, stop: threading.Event) -> None:
    """A manager busy with other units: a signal every 50 ms, never the reply."""
    from jeepney import DBusAddress, new_signal

    emitter = DBusAddress("/org/freedesktop/systemd1", interface="org.freedesktop.systemd1.Manager")
    serial = 100
    while not stop.wait(0.05):
        connection.sendall(new_signal(emitter, "UnitNew", "so", ("x.service", "/x")).serialise(serial=serial))
        serial += 1


def _trickle(connection: socket.socket, stop: threading.Event) -> None:
    """A manager that sends its reply a byte at a time, each just inside the socket timeout."""
    while not stop.wait(0.3):
        connection.sendall(b"l")


@pytest.mark.parametrize("behave", [_chatter, _trickle], ids=["signals, never the reply", "a byte at a time"])
def test_the_exchange_with_the_manager_is_bounded_by_its_timeout(runtime, monkeypatch, behave):
    monkeypatch.setattr(systemd, "_JOB_TIMEOUT", 0.5)
    manager = RawManager(runtime, behave)
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            systemd._call_start_transient_unit(str(manager.path), "x.scope", [4242], "a test")
        except BaseException as e:
            outcome.append(e)
    caller = threading.Thread(target=call, daemon=True)
    started = time.monotonic()
    caller.start()
    caller.join(5)
    manager.close()
    assert not caller.is_alive(), "still waiting for the manager 10 timeouts later"
    assert isinstance(outcome[0], systemd.ScopeRefused) and time.monotonic() - started < 5


@pytest.fixture
def fake_scopes(monkeypatch):
    """Every fork server 'placed' in a scope of its own (recorded, never created); cgroups never touched."""
    placed: dict[int, str] = {}
    refuse = {"now": False}

    def start_scope(pids, purpose):
        if refuse["now"]:
            raise systemd.ScopeRefused("systemd scope: the user manager refused it: busy")
        path = f"/nonexistent/sandbox-{len(placed) + 1}.scope"
        placed[pids[0]] = path
        return path
    monkeypatch.setattr(systemd, "wanted", lambda flag, root: True)
    monkeypatch.setattr(systemd, "start_scope", start_scope)
    monkeypatch.setattr(supervisor, "cgroup_subtree", lambda explicit, profile, residents=(): None)
    roots: list = []

    def recording_run(profile, request, *rest, **kw):
        roots.append(request.cgroup_root)
        return SimpleNamespace(verdict=Verdict.OK)  # no box: the unit tier starts none (it runs inside ci too)
    monkeypatch.setattr(supervisor, "run", recording_run)
    return placed, roots, refuse


def test_a_run_after_the_fork_server_was_killed_uses_the_new_servers_scope(fake_scopes, monkeypatch):
    """ForkServer.spawn starts a fresh server when its server died; the run's cgroup root must be the scope
    that fresh server went into, not the dead one's (which systemd has collected: the box's mkdir fails)."""
    monkeypatch.delenv("SANDBOX_SYSTEMD_SCOPE", raising=False)
    placed, roots, _ = fake_scopes
    with api.Sandbox("sh") as box:
        assert box.run(["/bin/true"]).verdict.value == "OK"
        dead = box._server._server.pid
        os.kill(dead, signal.SIGKILL)  # from outside
        time.sleep(0.3)
        assert box.run(["/bin/true"]).verdict.value == "OK"
        serving = box._server._server.pid
    assert serving != dead
    assert roots[-1] == placed[serving], (roots, placed)


def test_a_refused_scope_after_close_falls_back_to_no_root_not_the_old_scope(fake_scopes, monkeypatch):
    """close() then run(): a new server, a new scope; where that one is refused (the default: a warning, runs
    go on with rlimits), the runs must not go on naming the previous server's scope, which is gone."""
    monkeypatch.delenv("SANDBOX_SYSTEMD_SCOPE", raising=False)
    placed, roots, refuse = fake_scopes
    with api.Sandbox("sh") as box:
        assert box.run(["/bin/true"]).verdict.value == "OK"
        box.close()
        refuse["now"] = True
        with pytest.warns(UserWarning, match="limits are rlimits"):
            assert box.run(["/bin/true"]).verdict.value == "OK"
    assert roots[-1] is None, roots


def test_a_manager_announcing_a_huge_message_is_refused_before_it_is_buffered(runtime, monkeypatch):
    """A reply that says it is 2 GiB long is not read into memory until the timeout."""
    monkeypatch.setattr(systemd, "_JOB_TIMEOUT", 2.0)
    sent = {"bytes": 0}

    def flood(connection: socket.socket, stop: threading.Event) -> None:
        connection.sendall(_header(body_length=(1 << 31) - 64))
        chunk = b"\0" * (1 << 20)
        while not stop.is_set() and sent["bytes"] < (1 << 30):
            connection.sendall(chunk)
            sent["bytes"] += len(chunk)
    manager = RawManager(runtime, flood)
    try:
        with pytest.raises(systemd.ScopeRefused):
            systemd._call_start_transient_unit(str(manager.path), "x.scope", [4242], "a test")
    finally:
        manager.close()
    assert sent["bytes"] < (64 << 20), f"read {sent['bytes'] >> 20} MiB of it"


def test_a_refusal_is_one_line_whatever_the_managers_words(systemd_host, runtime, capsys):
    """The note (and the exit-125 error) quote the manager's error text: its newlines and escape
    sequences must not reach the user's terminal as such."""
    from jeepney import DBusAddress, new_error, new_method_call

    systemd_host.close()
    systemd_host.path.unlink()
    call = new_method_call(DBusAddress("/x", bus_name="org.x", interface="org.x"), "X")
    call.header.serial = 1
    reply = new_error(call, "org.freedesktop.DBus.Error.AccessDenied", "s",
                      ("no\nsandbox: OK, a second line\x1b[2J",)).serialise(serial=2)
    manager = RawManager(runtime, lambda connection, stop: (connection.sendall(reply), stop.wait(5)))
    try:
        cli._enter_systemd_scope(None, None)
    finally:
        manager.close()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err, repr(err)
