"""A stand-in for a systemd user manager's private D-Bus socket, for hosts without one (this one).

It answers the D-Bus EXTERNAL handshake and every method call with what the test chose ("ok":
a job path, as StartTransientUnit returns; "refuse": an AccessDenied error; "hangup": it closes
the connection), and records each call's member and body.  It never moves a process: a real
manager's move into the scope is tested in the systemd VM tier (tests/systemd).
"""
from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any, Optional

from jeepney import new_error, new_method_return
from jeepney.low_level import Parser


class FakeManager:
    def __init__(self, runtime_dir: Path, answer: str = "ok") -> None:
        (runtime_dir / "systemd").mkdir(parents=True, exist_ok=True)
        self.path = runtime_dir / "systemd" / "private"
        self.answer = answer
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self.path))
        os.chmod(self.path, 0o777)  # the test user's CLI connects to it
        self._listener.listen(8)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._listener.close()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with connection:
                try:
                    self._converse(connection)
                except OSError:
                    pass

    @staticmethod
    def handshake(connection: socket.socket) -> Optional[bytes]:
        """The EXTERNAL handshake as a manager answers it: what the peer sent after BEGIN, or None if it left."""
        data = b""
        while b"BEGIN\r\n" not in data:
            more = connection.recv(4096)
            if not more:
                return None
            data += more
            if b"AUTH" in data and b"OK" not in data:
                connection.sendall(b"OK 0123456789abcdef0123456789abcdef\r\n")
                data += b"OK"  # answered; keep reading until BEGIN
        return data.split(b"BEGIN\r\n", 1)[1]

    def _converse(self, connection: socket.socket) -> None:
        after = self.handshake(connection)
        if after is None:
            return
        parser = Parser()
        parser.add_data(after)
        while True:
            message = parser.get_next_message()
            while message is None:
                more = connection.recv(4096)
                if not more:
                    return
                parser.add_data(more)
                message = parser.get_next_message()
            self.calls.append((message.header.fields[3], message.body))
            if self.answer == "hangup":
                return
            reply = (new_method_return(message, "o", ("/org/freedesktop/systemd1/job/7",)) if self.answer == "ok"
                     else new_error(message, "org.freedesktop.DBus.Error.AccessDenied", "s", ("not for you",)))
            connection.sendall(reply.serialise(serial=1))
