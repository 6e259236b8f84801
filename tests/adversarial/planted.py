"""What the harness plants for the probes to attack (shared by conftest.py and test_corpus.py)."""
from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

IN_VM = os.environ.get("SANDBOX_IN_VM") == "1"


@dataclass
class Targets:
    """What the harness planted for the probes to attack."""

    directory: Path
    canary: Path
    token: str
    sentinel: subprocess.Popen
    tcp: socket.socket
    abstract_name: str
    unix_path: Path
    accepted: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {
            "CANARY_PATH": str(self.canary),
            "CANARY_DIR": str(self.directory),
            "SENTINEL_PID": str(self.sentinel.pid),
            "HOST_TCP_PORT": str(self.tcp.getsockname()[1]),
            "HOST_ABSTRACT": self.abstract_name,
            "HOST_UNIX_PATH": str(self.unix_path),
        }
