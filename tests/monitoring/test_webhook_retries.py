"""A webhook receiver slower than our timeout, against a real HTTP server on loopback: every attempt of a
delivery carries the same X-IVIG-Delivery-Id, an attempt in flight is never sent again beside itself, a failed
attempt is recorded before any retry, and a webhook URL without a scheme stops start-up."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.utils import timezone

from ivig_tracker.celery import app as celery_app
from monitoring import services
from monitoring.channels import DeliveryError
from monitoring.models import Delivery
from monitoring.tasks import MAX_DELIVERY_RETRIES, deliver
from tests.factories import UserFactory, given_order

pytestmark = pytest.mark.db

TIMEOUT_SECONDS = 1
SLOWER_THAN_THE_TIMEOUT_SECONDS = 2.5


class SlowWebhookServer(ThreadingHTTPServer):
    """Answers 200, after sleeping longer than the sender's timeout for the first ``slow_requests`` requests;
    records each request's delivery id header as it arrives."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), SlowHandler)
        self.delivery_ids: list[str] = []
        self.slow_requests = 0
        self.first_request_arrived = threading.Event()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/ivig"


class SlowHandler(BaseHTTPRequestHandler):
    server: SlowWebhookServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            self.server.delivery_ids.append(self.headers.get("X-IVIG-Delivery-Id", ""))
            slow = len(self.server.delivery_ids) <= self.server.slow_requests
        self.server.first_request_arrived.set()
        if slow:
            time.sleep(SLOWER_THAN_THE_TIMEOUT_SECONDS)
        try:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:
            pass  # the sender gave up waiting: it closed the connection

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def slow_webhook(settings: Any) -> Iterator[SlowWebhookServer]:
    server = SlowWebhookServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    settings.IVIG_WEBHOOK_URL = server.url
    settings.IVIG_WEBHOOK_SECRET = "shared-webhook-secret-for-tests"
    settings.IVIG_WEBHOOK_TIMEOUT_SECONDS = TIMEOUT_SECONDS
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def webhook_deliveries(db: Any, hematologist: Any, slow_webhook: SlowWebhookServer) -> list[Delivery]:
    """Two nurses each owed the 24 h reminder, swept: one claimed webhook delivery each."""
    nurses = [UserFactory(role="nurse", email=f"nurse{i}@ward.example") for i in range(2)]
    given_order(nurse=nurses[0], prescriber=hematologist, completed_hours_ago=25)
    services.run_sweep()
    deliveries = list(Delivery.objects.filter(channel="webhook").order_by("pk"))
    assert [d.status for d in deliveries] == ["claimed", "claimed"]
    return deliveries


def test_a_receiver_slower_than_the_timeout_sees_the_same_delivery_id_on_the_retry(slow_webhook, webhook_deliveries):
    slow_webhook.slow_requests = 1
    delivery = webhook_deliveries[0]

    with pytest.raises(DeliveryError, match="timed out"):
        services.deliver(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("claimed", 1)  # recorded failed before any retry
    assert "timed out" in delivery.last_error
    assert services.deliver(delivery.pk) == "sent"

    assert slow_webhook.delivery_ids == [str(delivery.delivery_id)] * 2
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 2, "")


def test_each_delivery_has_its_own_delivery_id(slow_webhook, webhook_deliveries):
    assert [services.deliver(d.pk) for d in webhook_deliveries] == ["sent", "sent"]

    assert slow_webhook.delivery_ids == [str(d.delivery_id) for d in webhook_deliveries]
    assert len(set(slow_webhook.delivery_ids)) == 2


@pytest.mark.django_db(transaction=True)  # the attempt in flight runs in its own thread, on its own connection
def test_an_attempt_in_flight_is_not_sent_again_by_a_copy_of_its_task_a_sweep_or_the_reaper(
    slow_webhook, webhook_deliveries
):
    slow_webhook.slow_requests = 1
    delivery = webhook_deliveries[0]
    outcome: list[BaseException | str] = []

    def first_attempt() -> None:
        try:
            outcome.append(services.deliver(delivery.pk))
        except DeliveryError as exc:
            outcome.append(exc)

    in_flight = threading.Thread(target=first_attempt)
    in_flight.start()
    assert slow_webhook.first_request_arrived.wait(5)

    # While the receiver holds the first attempt: a duplicate task, a sweep and the reaper change nothing.
    assert services.deliver(delivery.pk) == "duplicate"
    assert services.enqueue_pending_deliveries() == 0
    assert services.reap_expired_leases() == 0
    assert Delivery.objects.get(pk=delivery.pk).status == "sending"
    in_flight.join(10)

    assert len(outcome) == 1 and isinstance(outcome[0], DeliveryError)
    assert slow_webhook.delivery_ids == [str(delivery.delivery_id)]
    assert Delivery.objects.get(pk=delivery.pk).status == "claimed"


def test_the_deliver_task_retries_a_slow_receiver_with_one_delivery_id_until_it_answers_in_time(
    slow_webhook, webhook_deliveries
):
    slow_webhook.slow_requests = 2
    delivery = webhook_deliveries[0]

    outcome = deliver.apply(args=[delivery.pk], throw=False)  # eager: the retries run inline, one after another

    assert (outcome.state, outcome.result) == ("SUCCESS", "sent")
    assert slow_webhook.delivery_ids == [str(delivery.delivery_id)] * 3
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 3)


def test_a_delivery_left_sending_past_its_lease_becomes_retryable(slow_webhook, webhook_deliveries):
    # A worker killed mid-send leaves its delivery "sending": once its lease has passed, it is sent again.
    stuck, other = webhook_deliveries
    Delivery.objects.filter(pk=stuck.pk).update(status="sending", claimed_until=timezone.now() - timedelta(seconds=1))
    Delivery.objects.filter(pk=other.pk).update(status="sending", claimed_until=timezone.now() + timedelta(minutes=5))

    assert services.reap_expired_leases() == 1

    assert Delivery.objects.get(pk=stuck.pk).status == "pending"
    assert Delivery.objects.get(pk=other.pk).status == "sending"
    assert services.enqueue_pending_deliveries() == 1
    assert services.deliver(stuck.pk) == "sent"
    assert slow_webhook.delivery_ids == [str(stuck.delivery_id)]


def test_a_webhook_url_without_a_scheme_fails_each_attempt_clearly_and_ends_failed_never_sending(
    settings, slow_webhook, webhook_deliveries
):
    settings.IVIG_WEBHOOK_URL = "hooks.example.org/ivig"  # changed at run time, past the start-up check
    delivery = webhook_deliveries[0]

    outcome = deliver.apply(args=[delivery.pk], throw=False)

    assert (outcome.state, outcome.result) == ("SUCCESS", "failed")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", MAX_DELIVERY_RETRIES + 1)
    assert "has no http:// or https:// scheme" in delivery.last_error
    assert slow_webhook.delivery_ids == []


@pytest.mark.parametrize("url", ["hooks.example.org/ivig", "ftp://hooks.example.org/ivig", "https:///ivig"])
def test_manage_py_check_refuses_a_webhook_url_without_a_scheme_or_host(settings, url):
    settings.IVIG_WEBHOOK_URL = url

    with pytest.raises(SystemCheckError, match="monitoring.E001"):
        call_command("check")


def test_manage_py_check_accepts_a_full_webhook_url_or_none(settings):
    for url in ("https://hooks.example.org/ivig", ""):
        settings.IVIG_WEBHOOK_URL = url
        call_command("check")


def test_a_worker_does_not_start_with_a_webhook_url_without_a_scheme(settings):
    settings.IVIG_WEBHOOK_URL = "hooks.example.org/ivig"

    with pytest.raises(SystemExit, match="IVIG_WEBHOOK_URL 'hooks.example.org/ivig' has no http:// or https://"):
        celery_app.WorkController(pool_cls="solo", concurrency=1)


def test_a_worker_starts_with_a_full_webhook_url(settings):
    settings.IVIG_WEBHOOK_URL = "https://hooks.example.org/ivig"

    worker = celery_app.WorkController(pool_cls="solo", concurrency=1)

    assert worker.pool_cls is not None
