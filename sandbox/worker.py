"""`sandbox worker`: runs taken from a Celery queue on Redis, on as many machines as a judge needs.  Side: parent.

Issue 19.  The task `sandbox.run` takes one run spec document (or a group, or a batch of cases with a checker),
as sandbox.runspec takes it, and returns its result document; a client needs only Celery:

    Celery(broker=URL, backend=URL).send_task("sandbox.run", args=[spec]).get()

Imported only by `sandbox worker` (cli), so a plain `sandbox run` never imports celery.

Nothing is lost when a worker dies: a message is acknowledged only once its run ended (acks_late), a pool
process that dies mid-run has its message put back at once (reject_on_worker_lost), and a worker that
dies whole (SIGKILL, the machine gone) leaves its message in Redis's unacked set, which any other worker
puts back on the queue once it is older than the visibility timeout.  Each slot takes one message at a
time (prefetch 1), so a dead worker holds at most one message per slot.  A run is a fresh box and reads
nothing but its spec, so running one again is safe.  The pool processes die with the worker
(parent-death signal), and their boxes with them (the boxes' own guarantee).

Big files travel once (filecache): a spec may name a file by its SHA-256; the client puts the content on
the broker once with the task `sandbox.put` (base64 in, the hex digest out, kept FILE_TTL seconds), and
each machine fetches it from there once into its cache directory.

Serializer: JSON only, both ways (a pickle from a queue that other machines write to is code).  A
SandboxError crosses in its wire form (errors.SandboxError.on_the_wire): args (message, to_dict()).
"""
from __future__ import annotations

import logging
import os
import signal
from typing import Any, Optional
from urllib.parse import urlsplit

from celery import Celery
from celery.signals import worker_process_init

from .errors import HostError, SandboxError, UsageError
from .filecache import FileCache, resolve
from .runspec import run_spec

TASK = "sandbox.run"
PUT_TASK = "sandbox.put"
FILE_KEY = "sandbox:file:"
FILE_TTL = 7 * 24 * 3600  # a week after its last put: a problem's data is put again with each batch
FILE_CACHE_SIZE = 1 << 30
# Seconds a message may stay delivered and unacknowledged before another worker runs it again: longer
# than the longest run (a group's wall_time), short enough that a dead machine's jobs are not long lost.
VISIBILITY_TIMEOUT = 300.0
REDIS_SCHEMES = ("redis", "rediss", "redis+socket")
CONNECT_TIMEOUT = 5.0
# Characters of a result in the INFO line Celery logs per job (its default, 1024, would put much of a
# program's output, which may be a contestant's, into the journal).
RESULT_IN_LOG = 160


def make_app(broker: str, visibility_timeout: float = VISIBILITY_TIMEOUT) -> Celery:
    """The Celery app of a worker: `broker` is both broker and result backend; the task registered."""
    app = Celery("sandbox", broker=broker, backend=broker, set_as_current=False)
    app.conf.update(
        task_serializer="json", result_serializer="json", accept_content=["json"], result_accept_content=["json"],
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        broker_transport_options=transport_options(visibility_timeout),
        broker_connection_retry_on_startup=True, worker_hijack_root_logger=True,
        result_extended=False, task_track_started=False,
    )
    for name, function in ((TASK, run), (PUT_TASK, put)):
        app.task(name=name, bind=True, acks_late=True, reject_on_worker_lost=True, throws=(SandboxError,),
                 resultrepr_maxsize=RESULT_IN_LOG)(function)
    return app


def transport_options(visibility_timeout: float) -> dict[str, Any]:
    """Redis's: the visibility timeout, and a scan for messages past it every quarter of it (at most every
    10 s; kombu's default scans every 100 s), so a dead worker's job runs again within about 1.25 of it."""
    return {"visibility_timeout": visibility_timeout,
            "unacked_restore_interval": max(1.0, min(10.0, visibility_timeout / 4)),
            "unacked_restore_throttle": 1}


def run(task: Any, document: object) -> dict[str, Any]:
    """The task `sandbox.run`: one spec (or group) run in fresh boxes; its result document."""
    try:
        return run_spec(resolve(document, _file_cache(), lambda digest: _fetch(task.app, digest)))
    except SandboxError as error:
        raise error.on_the_wire() from None


def put(task: Any, content: object) -> str:
    """The task `sandbox.put`: a file's content (base64) kept on the broker; its SHA-256, for specs to name."""
    import base64
    import binascii
    import hashlib

    try:
        data = base64.b64decode(content, validate=True)  # type: ignore[arg-type]
    except (binascii.Error, TypeError, ValueError):
        raise UsageError("sandbox.put: expected a file's content as base64").on_the_wire() from None
    digest = hashlib.sha256(data).hexdigest()
    task.app.backend.client.set(FILE_KEY + digest, data, ex=FILE_TTL)
    return digest


def _fetch(app: Celery, digest: str) -> Optional[bytes]:
    data = app.backend.client.get(FILE_KEY + digest)
    if data is not None:
        logging.getLogger(__name__).info("file %s fetched from the broker (%d bytes)", digest, len(data))
    return data


def _file_cache() -> FileCache:
    """This machine's cache of files by content (this user's cache directory, shared by its workers)."""
    if _PIN.get("files") is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        _PIN["files"] = FileCache(os.path.join(base, "sandbox", "worker", "files"), _PIN["file_cache_size"])
    return _PIN["files"]  # type: ignore[no-any-return]


def check_broker(url: str) -> None:
    """A bad URL is a UsageError, a broker that does not answer a HostError: one line each, before the
    worker starts (Celery's own worker would retry for ever, printing a traceback per try)."""
    parts = urlsplit(url)
    if parts.scheme not in REDIS_SCHEMES:
        raise UsageError(f"worker --broker {url!r}: expected a Redis URL, redis://HOST:PORT/DB")
    try:
        parts.port
    except ValueError:
        raise UsageError(f"worker --broker {url!r}: the port is not a number") from None
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=CONNECT_TIMEOUT) as connection:
            connection.ensure_connection(max_retries=1, timeout=CONNECT_TIMEOUT)
            connection.default_channel.client.ping()
    except Exception as error:  # kombu, redis-py and the socket each have their own classes
        raise HostError(f"worker --broker {url}: cannot reach the broker ({type(error).__name__}: {error})",
                        step="broker") from None


def serve(url: str, concurrency: Optional[int], visibility_timeout: float, file_cache_size: Optional[int] = None,
          loglevel: str = "INFO") -> int:
    """Run a worker until it is stopped; `concurrency` pool processes (default: one per core we may use)."""
    if concurrency is not None and concurrency < 1:
        raise UsageError(f"worker --concurrency {concurrency}: expected 1 or more")
    if visibility_timeout <= 0:
        raise UsageError(f"worker --visibility-timeout {visibility_timeout}: expected seconds above 0")
    check_broker(url)
    _PIN["file_cache_size"] = FILE_CACHE_SIZE if file_cache_size is None else file_cache_size
    slots = concurrency or len(os.sched_getaffinity(0))
    _PIN["cpus"] = sorted(os.sched_getaffinity(0)) if slots <= len(os.sched_getaffinity(0)) else []
    _PIN["parent"] = os.getpid()
    _pool_scratch_dir()
    _delegated_cgroup()
    app = make_app(url, visibility_timeout)
    app.worker_main(["worker", "--pool", "prefork", "--concurrency", str(slots), "--loglevel", loglevel,
                     "--hostname", f"sandbox-{os.getpid()}@%h", "--without-gossip", "--without-mingle",
                     "--without-heartbeat"])
    return 0


_PIN: dict[str, Any] = {"cpus": [], "parent": None, "files": None, "file_cache_size": FILE_CACHE_SIZE}


def _pool_scratch_dir() -> None:
    """billiard makes a new /tmp/pymp-XXXX (multiprocessing.util.get_temp_dir) for its shared-memory files,
    unlinked at once, and removes it at a clean exit only: every killed worker would leave one.  One fixed
    directory of the user's cache instead, used again by every start (multiprocessing's own setting,
    `_config["tempdir"]`; a directory set there is never removed)."""
    from multiprocessing.process import current_process

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    scratch = os.path.join(base, "sandbox", "worker")
    os.makedirs(scratch, mode=0o700, exist_ok=True)
    current_process()._config["tempdir"] = scratch  # type: ignore[attr-defined]


def _delegated_cgroup() -> None:
    """Under a Delegate=yes unit (contrib/systemd/sandbox-worker.service) the worker and, once forked, its
    pool processes all sit in the delegated cgroup itself: a pool process cannot enable controllers for its
    boxes there (the no-internal-process rule: its siblings stay), so every box fell back to rlimits.  The
    worker prepares it once, before the pool forks: it moves itself into a leaf (where its pool processes
    are then born) and enables the controllers; every run, a group's too, then names that cgroup as its
    root ($SANDBOX_CGROUP_ROOT).  Nothing changes where our cgroup is not delegated (a login shell: each
    run asks for a scope as before) or where $SANDBOX_CGROUP_ROOT already names a subtree."""
    from . import cgroup

    if cgroup.named_root(None):
        return
    delegation = cgroup.find_delegation(None)
    if delegation is None or not delegation.usable:
        return
    try:
        cgroup.Subtree(delegation)
    except OSError as error:  # the runs find the same problem each, and fall back as without a subtree
        logging.getLogger(__name__).warning("the delegated cgroup %s: %s", delegation.path, error)
        return
    os.environ[cgroup.ROOT_ENV] = delegation.path
    logging.getLogger(__name__).info("boxes get cgroups below the delegated %s", delegation.path)


@worker_process_init.connect
def _slot_started(**_: Any) -> None:
    """In each new pool process: die with the worker (so a SIGKILLed worker's runs and boxes end with it),
    and keep this slot's runs on a core of its own where there is one per slot (CPU time is steadier so;
    the boxes inherit the affinity)."""
    from billiard.process import current_process

    from ._syscalls import set_parent_death_signal

    set_parent_death_signal(signal.SIGKILL)
    if _PIN["parent"] is not None and os.getppid() != _PIN["parent"]:
        os._exit(1)  # the worker died before the line above: nobody would ever take our results
    cpus, index = _PIN["cpus"], getattr(current_process(), "index", None)
    if cpus and index is not None:
        os.sched_setaffinity(0, {cpus[index % len(cpus)]})
        logging.getLogger(__name__).info("pool process %d (slot %d) runs on cpu %d", os.getpid(), index,
                                         cpus[index % len(cpus)])
