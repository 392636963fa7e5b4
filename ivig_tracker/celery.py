"""The Celery application. Settings live in Django settings under the CELERY_ namespace."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun, worker_init

from core.request_context import TASK_HEADER, current_request_id, new_request_id, request_id_var

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ivig_tracker.settings")

app = Celery("ivig_tracker")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

task_logger = logging.getLogger("ivig.task")

# What a running task needs at its end: the request-id token to restore and its start time, by task id.
_running: dict[str, tuple[Any, float]] = {}


def carry_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """A task enqueued while serving a request (or by another task) carries that request's id."""
    request_id = current_request_id()
    if headers is not None and request_id:
        headers.setdefault(TASK_HEADER, request_id)


def begin_task(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    inherited = getattr(task.request, TASK_HEADER, None) if task is not None else None
    token = request_id_var.set(inherited or new_request_id())
    _running[task_id or ""] = (token, time.perf_counter())


def end_task(task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
    """One log line per task: its name, id, outcome and duration, under the request id it inherited."""
    token, started = _running.pop(task_id or "", (None, time.perf_counter()))
    duration = time.perf_counter() - started
    name = getattr(task, "name", "?")
    task_logger.info(
        "task %s %s %.1f ms",
        name,
        state,
        duration * 1000,
        extra={"task": name, "task_id": task_id, "state": state, "duration_ms": round(duration * 1000, 1)},
    )
    if token is not None:
        request_id_var.reset(token)


before_task_publish.connect(carry_request_id)
task_prerun.connect(begin_task)
task_postrun.connect(end_task)


def refuse_to_start_with_a_broken_configuration(**kwargs: Any) -> None:
    """The worker runs the configuration checks `manage.py check` runs (monitoring/checks.py): a webhook URL
    without a scheme stops it at start-up rather than failing every delivery. SystemExit, because Celery logs and
    ignores an ordinary exception raised by a signal handler."""
    from django.core import checks

    from monitoring.checks import CONFIGURATION_TAG

    errors = [message for message in checks.run_checks(tags=[CONFIGURATION_TAG]) if message.is_serious()]
    if errors:
        raise SystemExit("The worker cannot start:\n" + "\n".join(str(message) for message in errors))


worker_init.connect(refuse_to_start_with_a_broken_configuration, weak=False)
