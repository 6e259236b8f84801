"""How the box's init is started: a clone, never an interpreter start.  Side: parent.

A run must cost one clone, not a fresh Python (~50 ms with imports).  Two launchers:

  ForkServer  for the API.  One small, single-threaded `python -I -S` per Sandbox,
              started once with subprocess (fork+exec in C, safe from threaded
              callers), that has imported the child pipeline and clones an init
              per request.  Requests carry the run's pipes over a Unix socket
              (SCM_RIGHTS); the answer carries a pidfd, which the supervisor uses
              to wait for, signal and kill its init without pid-reuse races.
              The server exits, killing whatever inits it still has, when its
              socket hits EOF: when the Sandbox is closed or its process dies.
              No thread of the caller is a parent of a box, so no pdeathsig fires
              when a caller's short-lived thread ends.
  fork_here   for the single-threaded CLI: the init is a clone of the CLI itself.

Python code never runs in a child of a threaded process: the server is
single-threaded, and fork_here refuses a process with threads.  Whoever clones
the inits holds a lifeline pipe, so an init can tell that its parent died.
Man pages: unix(7) (SCM_RIGHTS), pidfd_open(2), pidfd_send_signal(2), clone(2).
"""
from __future__ import annotations

import os
import select
import signal
import socket
import threading
from typing import TYPE_CHECKING, Callable, Optional

from . import _channel
from ._channel import InitFds
from ._syscalls import prctl_directory
from .errors import SetupError
from .selfexec import package_parent, python_command

if TYPE_CHECKING:
    import subprocess

_SERVER_NAME = "sandbox-forkserver"
_BOOT = "from sandbox._forkserver import serve; serve(int(sys.argv[1]))"
_REPLY_SIZE = 512


class InitProcess:
    """The box's init, held by a pidfd: waitable and signalable without pid reuse.

    Its exit (the pidfd turns readable) comes after the kernel has killed and reaped
    every other process of its pid namespace.  An init we cloned ourselves is our child
    and we reap it (its exit status is known); a served one is the server's to reap.
    """

    def __init__(self, pid: int, pidfd: int, our_child: bool) -> None:
        self.pid = pid
        self.pidfd = pidfd
        self.our_child = our_child
        self.returncode: Optional[int] = None  # known only for our own child
        self.exited = False

    def poll(self) -> bool:
        """Has the init exited?"""
        return self.exited or self._wait(block=False)

    def wait(self) -> None:
        if not self.exited:
            self._wait(block=True)

    def _wait(self, block: bool) -> bool:
        if self.our_child:
            pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
                self.exited = True
        else:
            self.exited = bool(select.select([self.pidfd], [], [], None if block else 0)[0])
        return self.exited

    def send_signal(self, signum: int) -> None:
        try:
            signal.pidfd_send_signal(self.pidfd, signum)
        except ProcessLookupError:
            pass  # already gone

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def close(self) -> None:
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1


def fork_here(fds: InitFds) -> InitProcess:
    """Clone the init from this process, which must have no other thread (the CLI)."""
    if threading.active_count() != 1:
        raise RuntimeError("fork_here needs a single-threaded process; use a ForkServer")
    from ._child import warm_up

    # As the fork server does: what the init reads of the host (cap_last_cap) is read here, before
    # its root hides it (a profile need not mount /proc), and gc is frozen (the clone shares pages).
    warm_up()
    init, handover = _clone_init(_lifeline(), our_child=True)
    with handover:
        try:
            _channel.hand_over(handover, fds)
        except BaseException:  # an init that never got its run: not left behind
            init.kill()
            init.wait()
            init.close()
            raise
    return init


def _clone_init(lifeline: int, our_child: bool) -> tuple[InitProcess, socket.socket]:
    """A new init, ready and waiting for its run's descriptors on the returned socket."""
    from ._child import start_box  # imported at the first call, not per clone

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        pid = start_box(theirs.fileno(), lifeline)
        init = InitProcess(pid, os.pidfd_open(pid), our_child)
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    return init, ours


_lifelines: dict[int, int] = {}  # pid -> the read end of this process's lifeline


def _lifeline() -> int:
    """The read end of a pipe whose write end this process holds until it dies."""
    pid = os.getpid()
    if pid not in _lifelines:
        read, _write = os.pipe2(os.O_CLOEXEC)  # the write end stays open, unused, for our lifetime
        _lifelines.clear()
        _lifelines[pid] = read
    return _lifelines[pid]


class ForkServer:
    """The client end: starts the server on first use, restarts it if it died, thread-safe."""

    def __init__(self, on_start: Optional[Callable[[int], None]] = None) -> None:
        """on_start(pid): called with each server's pid as it starts, before any request, to place it
        (Sandbox puts it into a scope of the user's systemd manager): it clones no init before its
        first request, so its inits are born where it was placed."""
        self._lock = threading.Lock()
        self._sock: Optional[socket.socket] = None
        self._server: Optional["subprocess.Popen[bytes]"] = None
        self._owner = 0  # the pid that started the server; a forked caller starts its own
        self._on_start = on_start

    def start(self) -> None:
        """Start the server now, if none of ours runs (spawn starts one when needed anyway).  A server
        that died (killed from outside) is replaced here too, not only at the next spawn: on_start may
        place the new one elsewhere (a new scope), and the run about to be planned must know where."""
        with self._lock:
            if self._sock is not None and self._owner == os.getpid() and self._server is not None \
                    and self._server.poll() is not None:
                self._stop()
            if self._sock is None or self._owner != os.getpid():
                self._start()

    def spawn(self, fds: InitFds) -> InitProcess:
        with self._lock:
            for attempt in (1, 2):
                if self._sock is None or self._owner != os.getpid():
                    self._start()
                assert self._sock is not None
                try:
                    _channel.send_init_fds(self._sock, b"spawn", fds)
                    reply, received, _, _ = socket.recv_fds(self._sock, _REPLY_SIZE, 1)
                except (BrokenPipeError, ConnectionResetError):
                    reply, received = b"", []
                except BaseException:  # e.g. ^C between request and reply: the reply would be the next
                    self._stop()       # run's, with another init's pidfd; a fresh server, and no reply
                    raise
                if reply:
                    return _init_from_reply(reply, received)
                self._stop()  # the server died (killed from outside?): one fresh start
            raise SetupError("the sandbox fork server did not answer")

    def _start(self) -> None:
        import subprocess  # only the API starts a server: the CLI does not pay for the import

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            python, *arguments = python_command(_BOOT, child_path(), site=False)  # never the caller's cwd or env
            self._server = subprocess.Popen(
                [_SERVER_NAME, *arguments, str(theirs.fileno())],
                executable=python, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                pass_fds=[theirs.fileno()], start_new_session=True,  # the terminal's ^C is the caller's
                env={},
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._sock, self._owner = ours, os.getpid()
        if self._on_start is not None:
            try:
                self._on_start(self._server.pid)
            except BaseException:
                self._stop()
                raise

    def _stop(self) -> None:
        if self._sock is not None and self._owner == os.getpid():
            self._sock.close()  # EOF: the server kills its inits and exits
            if self._server is not None:
                self._server.wait()
        self._sock, self._server = None, None

    def close(self) -> None:
        with self._lock:
            self._stop()


def _init_from_reply(reply: bytes, fds: list[int]) -> InitProcess:
    words = reply.split(b" ", 2)
    if words[0] == b"ok" and len(fds) == 1:
        return InitProcess(int(words[1]), fds[0], our_child=False)
    for fd in fds:
        os.close(fd)
    if len(words) < 3 or not words[1].isdigit():
        raise SetupError(f"the sandbox fork server answered {reply[:100]!r}")
    raise OSError(int(words[1]), words[2].decode(errors="replace"))  # as if we had called clone() ourselves


def child_path() -> list[str]:
    """sys.path entries a `python -I -S` helper needs: this package's parent and python-prctl's."""
    here = package_parent()
    prctl_dir = prctl_directory()
    return [here] if here == prctl_dir else [here, prctl_dir]


# --- the server side ------------------------------------------------------------------------------

def serve(sock_fd: int) -> None:
    """The fork server's main loop: one request, one init handed its descriptors, one pidfd back.

    The next run's init is cloned while the server waits for the request, so a run
    does not wait for its clone and the init's first steps.
    """
    from ._child import warm_up

    warm_up()  # everything an init imports is imported once, here
    server = _Server(socket.socket(fileno=sock_fd))
    signal.signal(signal.SIGCHLD, server.reap)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The reaper runs only while we wait for a request: it closes pidfds, which must not happen
    # between a clone and its pidfd_open, nor before a pidfd is sent back.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    try:
        while (request := server.next_request()) is not None:  # None: the caller closed the Sandbox or died
            if not server.answer(request):
                break
    finally:
        server.end_inits()


class _Server:
    """The fork server's state: its socket, the inits it cloned and has not reaped, a spare init."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lifeline = _lifeline()
        self.live: dict[int, InitProcess] = {}  # pid -> init, to kill what is left when the caller goes
        self.spare: Optional[tuple[InitProcess, socket.socket]] = None
        self.answered = 0  # requests answered so far

    def reap(self, *_: object) -> None:
        while True:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if not pid:
                return
            if pid in self.live:
                self.live.pop(pid).close()

    def end_inits(self) -> None:
        """Kill the inits still ours (a running box's, the spare) and reap them, so that once this
        server has exited, which Sandbox.close() waits for, nothing of its boxes is left: an init's
        exit comes after the kernel has ended the rest of its pid namespace."""
        for init in self.live.values():
            init.kill()
        for pid, init in list(self.live.items()):
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass  # reaped already
            init.close()
        self.live.clear()

    def clone(self) -> tuple[InitProcess, socket.socket]:
        init, handover = _clone_init(self.lifeline, our_child=False)  # the server reaps; the supervisor only waits
        self.live[init.pid] = init
        return init, handover

    def next_request(self) -> Optional[_channel.InitFds]:
        """Clone the spare, then wait (reaping) for a request.  Not before the first request: until
        then the caller may still be moving this server into another cgroup (ForkServer's on_start),
        and an init cloned earlier would stay behind in the old one."""
        if self.spare is None and self.answered:
            try:
                self.spare = self.clone()
            except OSError:
                pass  # reported when a run asks for it
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        try:
            return _channel.receive_init_fds(self.sock, b"spawn")
        except OSError:
            return None
        finally:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})

    def answer(self, request: _channel.InitFds) -> bool:
        """Hand the request's descriptors to an init and send its pidfd back; False if the caller is gone."""
        try:
            init = self._hand_over(request)
            reply, passed = b"ok %d" % init.pid, [init.pidfd]
        except OSError as e:
            reply, passed = b"error %d %s" % (e.errno or 0, (e.strerror or str(e)).encode()[:400]), []
        finally:
            for fd in request.as_list():
                os.close(fd)
        self.answered += 1
        try:
            socket.send_fds(self.sock, [reply], passed)
        except OSError:
            return False
        return True

    def _hand_over(self, request: _channel.InitFds) -> InitProcess:
        for attempt in (1, 2):
            init, handover = self.spare or self.clone()
            self.spare = None
            with handover:
                try:
                    _channel.hand_over(handover, request)
                except OSError:
                    if attempt == 2:
                        raise
                    continue  # the spare died (killed from outside?): a fresh one
            return init
        raise AssertionError("unreachable")
