"""Fixtures of the fault tests: a private Redis this process publishes to, an SMTP sink, Celery workers."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kombu.pools
import pytest

from ivig_tracker.celery import app as celery_app
from tests.conftest import REQUIRE_SERVICES
from tests.faults.harness import (
    LEASE_SECONDS,
    Mailbox,
    RedisServer,
    SmtpServer,
    Worker,
    database_url,
    worker_environment,
)


def _forget_broker_connections() -> None:
    """Celery and kombu keep pools of broker connections per URL; close them so the next publish connects to
    whatever ``broker_url`` says now."""
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    kombu.pools.reset()


@pytest.fixture
def broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[RedisServer]:
    """A private redis-server, and this process's Celery app publishing to it. Celery reads
    CELERY_BROKER_URL from the environment before its configuration, so both are set."""
    if shutil.which("redis-server") is None:
        message = "needs the redis-server binary on the PATH (apt-get install redis-server)"
        if REQUIRE_SERVICES:
            pytest.fail(f"IVIG_REQUIRE_SERVICES is set but this test {message}", pytrace=False)
        pytest.skip(message)
    server = RedisServer(tmp_path)
    server.start()
    _forget_broker_connections()
    monkeypatch.setenv("CELERY_BROKER_URL", server.url)
    monkeypatch.setattr(celery_app.conf, "broker_url", server.url)
    settings.IVIG_DELIVERY_LEASE_SECONDS = LEASE_SECONDS
    settings.IVIG_EMAIL_NOTIFICATIONS = True
    settings.IVIG_WEBHOOK_URL = ""
    try:
        yield server
    finally:
        _forget_broker_connections()
        server.stop()


@pytest.fixture
def mailbox(settings: Any) -> Iterator[Mailbox]:
    box = Mailbox()
    smtp = SmtpServer(box)
    smtp.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp.port
    try:
        yield box
    finally:
        smtp.stop()


@pytest.fixture
def start_worker(broker: RedisServer, mailbox: Mailbox, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Start a Celery worker process on the test database, the private Redis and the SMTP sink."""
    from django.db import connection

    assert connection.vendor == "postgresql"
    assert connection.settings_dict["NAME"].startswith("test_"), "workers only ever see the test database"
    env = worker_environment(database=database_url(connection.settings_dict), broker=broker.url, smtp_port=mailbox.port)
    started: list[Worker] = []

    def start(name: str, *, pool: str = "solo", concurrency: int = 1) -> Worker:
        worker = Worker(name, env, tmp_path, pool=pool, concurrency=concurrency)
        started.append(worker)
        return worker.start()

    try:
        yield start
    finally:
        mailbox.release.set()
        for worker in started:
            worker.stop()
