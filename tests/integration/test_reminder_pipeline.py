"""The whole reminder pipeline with real parts: the beat task through real Redis to a real worker, which sweeps,
enqueues one deliver task per email, and sends each through Django's SMTP backend to a real SMTP server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker

from core.models import Heartbeat
from core.tasks import record_heartbeat
from ivig_tracker.celery import app as celery_app
from monitoring.models import Delivery, Notification
from monitoring.tasks import sweep_reminders
from tests.factories import UserFactory, given_order
from tests.monitoring.test_channels import RecordingSMTPHandler, free_loopback_port, use_smtp_server_at

# The worker runs in a thread of this process: settings overrides reach it, and it needs a database that a
# second connection can see (PostgreSQL; committed rows, hence a transactional test).
pytestmark = [
    pytest.mark.worker,
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[RecordingSMTPHandler]:
    from aiosmtpd.controller import Controller

    handler = RecordingSMTPHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_loopback_port())
    controller.start()
    try:
        use_smtp_server_at(settings, controller.port)
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def real_worker() -> Iterator[None]:
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield


def last_sweep_at() -> Any:
    heartbeat = Heartbeat.objects.filter(name="reminder_sweep").first()
    return heartbeat.last_seen_at if heartbeat else None


def test_the_beat_sweep_mails_each_nurse_once_through_a_real_worker_and_a_second_sweep_sends_nothing(
    smtp_server, settings, real_worker
):
    settings.IVIG_WEBHOOK_URL = ""
    nurses = [UserFactory(role="nurse", email=f"nurse{i}@ward.example") for i in range(2)]
    hematologist = UserFactory(role="hematologist")
    order = given_order(nurse=nurses[0], prescriber=hematologist, completed_hours_ago=25)

    sweep_reminders.delay()

    def every_email_sent() -> bool:
        statuses = list(Delivery.objects.filter(channel="email").values_list("status", flat=True))
        return statuses == ["sent", "sent"] and len(smtp_server.received) == 2

    assert wait_for(every_email_sent), (
        list(Delivery.objects.values_list("channel", "status", "last_error")),
        len(smtp_server.received),
    )
    assert sorted(mail.rcpt_tos for mail in smtp_server.received) == [[nurse.email] for nurse in nurses]
    for mail in smtp_server.received:
        assert mail.message["Subject"] == "[IVIG Tracker] Platelet check due"
        assert str(order.patient) in mail.body
    first_sweep_at = last_sweep_at()

    sweep_reminders.delay()
    assert wait_for(lambda: last_sweep_at() > first_sweep_at)
    # The solo worker takes tasks in order: once this marker has run, any deliver task the second sweep
    # enqueued (they are published before it records its heartbeat) has run too.
    record_heartbeat.delay("reminder-pipeline-after-second-sweep")
    assert wait_for(lambda: Heartbeat.objects.filter(name="reminder-pipeline-after-second-sweep").exists())

    assert len(smtp_server.received) == 2
    assert Notification.objects.count() == 2
    assert sorted(Delivery.objects.values_list("channel", "status", "attempts")) == [
        ("email", "sent", 1),
        ("email", "sent", 1),
    ]
