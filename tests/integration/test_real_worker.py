"""A real Celery worker (celery.contrib.testing) consuming from real Redis runs our task to completion."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker

from core.models import Heartbeat
from core.tasks import record_heartbeat
from ivig_tracker.celery import app as celery_app

pytestmark = [pytest.mark.worker, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def wait_for(condition, timeout: float = 20.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def test_a_task_sent_through_redis_is_completed_by_a_real_worker() -> None:
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        record_heartbeat.delay("integration-test")
        assert wait_for(lambda: Heartbeat.objects.filter(name="integration-test").exists())
