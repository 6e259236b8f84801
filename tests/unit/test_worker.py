"""sandbox/worker.py and the errors' wire form (issue 19), without a broker: the queue tier has the real one."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sandbox import errors

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_a_run_never_imports_celery():
    """`sandbox worker` alone imports it: a run, the API and the rest of the CLI pay nothing for the queue."""
    code = ("import sys; import sandbox.cli, sandbox.api, sandbox.runspec, sandbox.groups, sandbox.checker; "
            "sandbox.cli._parser(); "
            "print(sorted(m for m in ('celery', 'kombu', 'billiard', 'redis') if m in sys.modules))")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert shown.stdout.strip() == "[]"


@pytest.mark.parametrize("error", [
    errors.UsageError("spec: unknown key(s) bogus"),
    errors.ProfileError("x.yaml", ["limits.memory: expected a size", "argv: expected a list"]),
    errors.HostError("no user namespaces", step="userns", errno=1),
    errors.SetupError("mount failed", step="mount", errno=13),
    errors.ExecError("nope: program not found", 127, errno=2),
])
def test_every_error_crosses_a_json_queue_whole(error):
    """Celery's own JSON path: prepare_exception on the worker, JSON, exception_to_python on the caller."""
    from celery import Celery

    backend = Celery(backend="cache+memory://", set_as_current=False).backend
    assert backend.serializer == "json"
    stored = backend.decode(backend.encode(backend.prepare_exception(error.on_the_wire())))
    rebuilt = backend.exception_to_python(stored)
    assert type(rebuilt) is type(error)
    assert rebuilt.to_dict() == error.to_dict() and rebuilt.message == error.message and str(rebuilt) == str(error)
    assert {k: getattr(rebuilt, k) for k in error.fields} == error.fields


def test_a_caller_without_the_package_gets_name_message_and_fields():
    """Celery makes a class of that name where sandbox.errors is not imported; args are (message, to_dict())."""
    from celery import Celery

    backend = Celery(backend="cache+memory://", set_as_current=False).backend
    error = errors.ExecError("nope: program not found", 127, errno=2)
    stored = backend.decode(backend.encode(backend.prepare_exception(error.on_the_wire())))
    rebuilt = backend.exception_to_python({**stored, "exc_module": "not.imported.here"})
    assert type(rebuilt).__name__ == "ExecError" and not isinstance(rebuilt, errors.SandboxError)
    assert rebuilt.args == (error.message, error.to_dict())


def test_a_class_called_as_usual_is_not_taken_for_a_wire_form():
    error = errors.ExecError("x", {"error": "ExecError"})  # type: ignore[arg-type]  (no "message": its own call)
    assert error.exit_code == {"error": "ExecError"}


def test_the_task_settings():
    from sandbox import worker

    app = worker.make_app("redis://127.0.0.1:1/0", visibility_timeout=120)
    conf = app.conf
    assert (conf.task_acks_late, conf.task_reject_on_worker_lost, conf.worker_prefetch_multiplier) == (True, True, 1)
    assert conf.task_serializer == conf.result_serializer == "json" and conf.accept_content == ["json"]
    assert conf.broker_transport_options["visibility_timeout"] == 120
    assert conf.broker_transport_options["unacked_restore_interval"] == 10
    task = app.tasks[worker.TASK]
    assert task.name == "sandbox.run" and task.acks_late and task.reject_on_worker_lost


@pytest.mark.parametrize("args, message", [
    (["--broker", "http://127.0.0.1/0"], "worker --broker 'http://127.0.0.1/0': expected a Redis URL"),
    (["--broker", "redis://127.0.0.1:port/0"], "the port is not a number"),
    (["--broker", "redis://127.0.0.1:1/0"], "cannot reach the broker"),
    (["--broker", "redis://127.0.0.1:1/0", "--concurrency", "0"], "--concurrency 0: expected 1 or more"),
    ([], "the following arguments are required: --broker"),
])
def test_a_bad_broker_is_one_line_and_125(args, message):
    shown = subprocess.run([sys.executable, "-m", "sandbox", "worker", *args], capture_output=True, text=True,
                           cwd=ROOT, timeout=60)
    assert shown.returncode == 125
    assert message in shown.stderr and shown.stderr.count("\n") == 1, shown.stderr


class _Recorded:
    def __init__(self, delegation):
        _Recorded.prepared.append(delegation.path)

    prepared: list = []


@pytest.mark.parametrize("named, usable, prepared", [
    (None, True, True),          # a Delegate=yes unit: prepared once, named for every run (a group's too)
    (None, False, False),        # a login shell: not delegated, each run asks for a scope as before
    ("/sys/fs/cgroup/x", True, False),  # SANDBOX_CGROUP_ROOT already names one
])
def test_the_worker_prepares_its_delegated_cgroup_before_the_pool_forks(monkeypatch, named, usable, prepared):
    """Pool processes sit with the worker in its cgroup: none of them could enable the controllers there."""
    from sandbox import cgroup, worker

    monkeypatch.setenv(cgroup.ROOT_ENV, named or "")  # so that what the worker sets is undone after the test
    if not named:
        monkeypatch.delenv(cgroup.ROOT_ENV)
    own = cgroup.Delegation("/sys/fs/cgroup/system.slice/w.service", ("memory", "pids"), "own cgroup",
                            None if usable else "not delegated")
    monkeypatch.setattr(cgroup, "find_delegation", lambda explicit, residents=(): own)
    monkeypatch.setattr(cgroup, "Subtree", _Recorded)
    _Recorded.prepared = []
    worker._delegated_cgroup()
    assert _Recorded.prepared == ([own.path] if prepared else [])
    assert os.environ.get(cgroup.ROOT_ENV) == (own.path if prepared else named)
