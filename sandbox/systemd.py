"""The caller's systemd user manager: a transient delegated scope to put the boxes in.  Side: parent.

On a systemd host (Debian, Ubuntu, Fedora, RHEL: pure cgroup v2) a plain user's login
shell sits in a session scope that is not delegated: the user may not write its
cgroup files, so a run there would fall back to rlimits.  systemd delegates a subtree
only to the user's manager (user@UID.service) and to units with Delegate=yes.  So, as
podman and rootless docker do, we ask the user manager for a transient scope with
Delegate=yes holding the process that will create the boxes' cgroups (the CLI itself;
the API's fork server), and use that scope as the delegated subtree (cgroup.Subtree).

We speak D-Bus to the manager's private socket, $XDG_RUNTIME_DIR/systemd/private, as
`systemctl --user` and `systemd-run --user` do first: it needs no session bus (a
server without dbus-user-session has none), and no process is started for it.  The
call is org.freedesktop.systemd1.Manager.StartTransientUnit (systemd's
org.freedesktop.systemd1(5)); its job moves the given pids into the scope, which we
wait to see in /proc/PID/cgroup.  The scope needs no cleanup of ours: CollectMode
lets systemd remove it, with the cgroups we made in it, once its last process exits.

The setting (flag, API keyword, or SANDBOX_SYSTEMD_SCOPE): True wants a scope (a user
error where none can be had), False never asks, None (the default) asks only where
it helps: no cgroup root was named, our own cgroup is not delegated, and a user
manager runs.
"""
from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Optional, Sequence

from . import cgroup
from .errors import HostError, UsageError

if TYPE_CHECKING:
    import socket

    from jeepney import Message

SCOPE_ENV = "SANDBOX_SYSTEMD_SCOPE"
SCOPE_PREFIX = "sandbox-"
_JOB_TIMEOUT = 30.0  # seconds for the manager to answer and move the pids (a loaded or emulated host is slow)
_MAX_MESSAGE = 16 << 20  # bytes: far above any reply or signal of the manager's, not read into memory
_MANAGER_PATH = "/org/freedesktop/systemd1"
_MANAGER_INTERFACE = "org.freedesktop.systemd1.Manager"
_NO_MANAGER_FIX = ("fix: log in through a systemd session (pam_systemd), or `loginctl enable-linger $USER` for a "
                   "service user, or pass --cgroup-root / SANDBOX_CGROUP_ROOT")


class ScopeRefused(HostError):
    """The user manager would not make the scope, or did not move our processes into it."""


def setting(flag: Optional[bool]) -> Optional[bool]:
    """The caller's wish: the flag or keyword if given, else $SANDBOX_SYSTEMD_SCOPE, else automatic (None)."""
    if flag is not None:
        return flag
    value = os.environ.get(SCOPE_ENV, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value in ("1", "yes", "true", "on"):
        return True
    if value in ("0", "no", "false", "off"):
        return False
    raise UsageError(f"{SCOPE_ENV}={value!r}: write 1 (always), 0 (never) or auto")


def private_socket() -> Optional[str]:
    """The user manager's private D-Bus socket, if one runs for us."""
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    path = os.path.join(runtime, "systemd", "private")
    return path if os.path.exists(path) else None


def wanted(flag: Optional[bool], explicit_root: Optional[str]) -> bool:
    """Should this run ask for a scope?  A forced wish that cannot be met is a user error, here."""
    wish = setting(flag)
    if wish is False:
        return False
    if wish is True:
        if private_socket() is None:
            raise HostError(f"systemd scope: no systemd user manager is running for this user; {_NO_MANAGER_FIX}")
        return True
    mount = cgroup.cgroup2_mount()
    if cgroup.named_root(explicit_root) or os.geteuid() == 0 or private_socket() is None or mount is None:
        return False  # root's cgroups say nothing of delegation (cgroup.find_delegation); no manager, no scope
    if not cgroup.controllers_offered(mount):
        return False  # a hybrid host: the controllers are on cgroup v1, a v2 scope would limit nothing
    if not _in_users_slice():
        return False  # a system service: a scope would take its boxes out of the admin's caps and its stop
    own = cgroup.find_delegation(None)
    return own is None or not own.usable


def _in_users_slice() -> bool:
    """Are we in one of the user's own cgroups (a login session's scope, or under the user's manager:
    user.slice/user-UID.slice/)?  Only there is a scope of the manager no escape: elsewhere (a system
    service, not delegated) moving out would take the boxes past the service's TasksMax= and
    MemoryMax=, and out of reach of its `systemctl stop`; there, Delegate=yes is the way."""
    own = cgroup.cgroup_of(os.getpid()) or ""
    return own.startswith(f"/user.slice/user-{os.getuid()}.slice/")


def start_scope(pids: Sequence[int], purpose: str) -> str:
    """A new transient scope with Delegate=yes holding `pids`, once they are in it: its cgroup directory."""
    socket_path = private_socket()
    mount = cgroup.cgroup2_mount()
    if socket_path is None or mount is None:
        raise ScopeRefused(f"systemd scope: no systemd user manager is running for this user; {_NO_MANAGER_FIX}")
    name = f"{SCOPE_PREFIX}{os.getpid()}-{os.urandom(4).hex()}.scope"
    _call_start_transient_unit(socket_path, name, pids, purpose)
    deadline = time.monotonic() + _JOB_TIMEOUT
    while True:
        places = [cgroup.cgroup_of(pid) for pid in pids]
        if all(place is not None and place.endswith("/" + name) for place in places):
            return os.path.normpath(mount + str(places[0]))
        if time.monotonic() > deadline:
            raise ScopeRefused(f"systemd scope {name}: the user manager did not move pid(s) "
                               f"{' '.join(map(str, pids))} into it within {_JOB_TIMEOUT:.0f}s")
        time.sleep(0.002)


def _call_start_transient_unit(socket_path: str, name: str, pids: Sequence[int], purpose: str) -> None:
    """StartTransientUnit(name, "fail", properties, []) on the manager's private socket; errors as ScopeRefused.
    A peer-to-peer connection: no bus, so no Hello (jeepney's DBusConnection would send one)."""
    from jeepney import DBusAddress, HeaderFields, MessageType, new_method_call

    properties = [
        ("Description", ("s", f"sandbox: {purpose}")),
        ("Delegate", ("b", True)),
        ("PIDs", ("au", [int(pid) for pid in pids])),
        ("CollectMode", ("s", "inactive-or-failed")),  # gone once its processes are, even had it failed
    ]
    manager = DBusAddress(_MANAGER_PATH, bus_name="org.freedesktop.systemd1", interface=_MANAGER_INTERFACE)
    message = new_method_call(manager, "StartTransientUnit", "ssa(sv)a(sa(sv))", (name, "fail", properties, []))
    try:
        reply = _exchange(socket_path, message.serialise(serial=1))
    except (OSError, ValueError) as e:  # jeepney's AuthenticationError is a ValueError; timeouts are OSErrors
        raise ScopeRefused(f"systemd scope: cannot talk to the user manager at {socket_path}: {e or type(e).__name__}") \
            from None
    except Exception as e:  # jeepney's parser on bytes that are not D-Bus: KeyError, IndexError, struct.error...
        raise ScopeRefused(f"systemd scope: cannot talk to the user manager at {socket_path}: it does not speak "
                           f"D-Bus ({type(e).__name__}: {e})") from None
    if reply.header.message_type == MessageType.error:
        error = _printable(reply.header.fields.get(HeaderFields.error_name, "an error"))
        detail = _printable(reply.body[0] if reply.body else "")
        raise ScopeRefused(f"systemd scope: the user manager refused {name}: {error}: {detail}")


def _printable(text: object, limit: int = 300) -> str:
    """The manager's words for one line of ours: control characters escaped, cut at `limit`."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))[:limit]


def _exchange(socket_path: str, call: bytes) -> "Message":
    """Connect, authenticate (EXTERNAL: the kernel vouches for our uid), send one call, read its reply."""
    import socket

    from jeepney.auth import BEGIN, Authenticator
    from jeepney.low_level import HeaderFields, Parser

    deadline = time.monotonic() + _JOB_TIMEOUT  # for the whole exchange: a manager that keeps talking
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:  # (signals, a byte at a time) still ends
        sock.settimeout(_JOB_TIMEOUT)
        sock.connect(socket_path)
        authenticator = Authenticator()
        for request in authenticator:
            sock.sendall(request)
            authenticator.feed(_received(sock, deadline))
        sock.sendall(BEGIN + call)
        parser = Parser()
        while True:
            message = parser.get_next_message()
            if message is None:
                if (parser.next_msg_size or 0) > _MAX_MESSAGE:
                    raise ValueError(f"a message of {parser.next_msg_size} bytes announced")
                parser.add_data(_received(sock, deadline))
            elif message.header.fields.get(HeaderFields.reply_serial) == 1:
                return message


def _received(sock: "socket.socket", deadline: float) -> bytes:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError(f"no answer within {_JOB_TIMEOUT:.0f}s")
    sock.settimeout(left)
    data = sock.recv(4096)
    if not data:
        raise ConnectionResetError("the connection was closed")
    return data
