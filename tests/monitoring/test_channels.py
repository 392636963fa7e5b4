"""The external channels against real servers on loopback: email through Django's SMTP backend to an aiosmtpd
server, and the signed webhook to an http.server, including the retry with backoff of the deliver task."""

from __future__ import annotations

import email
import email.message
import email.policy
import hashlib
import hmac
import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from celery import signals

from monitoring import services
from monitoring.channels import DeliveryError
from monitoring.models import Delivery, Notification, PlateletCheck
from monitoring.tasks import MAX_DELIVERY_RETRIES, deliver
from tests.factories import UserFactory, given_order

pytestmark = pytest.mark.db

WEBHOOK_SECRET = "shared-webhook-secret-for-tests"
WEBHOOK_PATH = "/hooks/ivig"


def free_loopback_port() -> int:
    """A port nothing listens on (the OS picks it; the probe socket is closed again)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- A real SMTP server ------------------------------------------------------------------------------------


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage

    @property
    def body(self) -> str:
        return self.message.get_content().replace("\r\n", "\n").rstrip("\n")  # SMTP carries CRLF lines


class RecordingSMTPHandler:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.received: list[ReceivedMail] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.received.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


def use_smtp_server_at(settings: Any, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[RecordingSMTPHandler]:
    """A real SMTP server on a free loopback port, and Django's SMTP backend pointed at it."""
    handler = RecordingSMTPHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_loopback_port())
    controller.start()
    try:
        use_smtp_server_at(settings, controller.port)
        yield handler
    finally:
        controller.stop()


# --- A real HTTP server for the webhook --------------------------------------------------------------------


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: email.message.Message  # case-insensitive, as HTTP headers are
    body: bytes


class RecordingWebhookServer(ThreadingHTTPServer):
    """Records every request; answers 500 to the first ``failing_requests`` of them and 200 afterwards."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), WebhookRequestHandler)
        self.received: list[ReceivedRequest] = []
        self.failing_requests = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{WEBHOOK_PATH}"

    def record(self, request: ReceivedRequest) -> int:
        with self.lock:
            self.received.append(request)
            return 500 if len(self.received) <= self.failing_requests else 200


class WebhookRequestHandler(BaseHTTPRequestHandler):
    server: RecordingWebhookServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status = self.server.record(ReceivedRequest(self.command, self.path, self.headers, body))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook_server(settings: Any) -> Iterator[RecordingWebhookServer]:
    """A real HTTP server on a free loopback port, configured as the webhook (set before any notification is
    created: deliveries per channel are created with the notification)."""
    server = RecordingWebhookServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        settings.IVIG_WEBHOOK_URL = server.url
        settings.IVIG_WEBHOOK_SECRET = WEBHOOK_SECRET
        settings.IVIG_WEBHOOK_TIMEOUT_SECONDS = 5
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class NotHTTPRequestHandler(socketserver.StreamRequestHandler):
    """Reads a whole HTTP request, then answers a line that is not HTTP (a wrong port, a broken proxy)."""

    def handle(self) -> None:
        length = 0
        while (line := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        self.rfile.read(length)
        self.server.requests += 1  # type: ignore[attr-defined]
        self.wfile.write(b"this is not http\r\n\r\n")


@pytest.fixture
def not_http_webhook_server(settings: Any) -> Iterator[socketserver.ThreadingTCPServer]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), NotHTTPRequestHandler)
    server.daemon_threads = True
    server.requests = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        settings.IVIG_WEBHOOK_URL = f"http://127.0.0.1:{server.server_address[1]}{WEBHOOK_PATH}"
        settings.IVIG_WEBHOOK_SECRET = WEBHOOK_SECRET
        settings.IVIG_WEBHOOK_TIMEOUT_SECONDS = 5
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def signature_verifies(body: bytes, header: str, secret: str) -> bool:
    scheme, _, digest = header.partition("=")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return scheme == "sha256" and hmac.compare_digest(digest, expected)


# --- Shared arrangements -----------------------------------------------------------------------------------


@pytest.fixture
def nurses(db: Any) -> list[Any]:
    return [UserFactory(role="nurse", email=f"nurse{i}@ward.example") for i in range(2)]


def owed_reminders_for(nurses: list[Any], hematologist: Any, **order_kwargs: Any) -> Any:
    """An order whose 24 h check fell due an hour ago, swept: one due reminder per nurse, deliveries claimed."""
    order = given_order(nurse=nurses[0], prescriber=hematologist, completed_hours_ago=25, **order_kwargs)
    assert services.run_sweep().notifications == len(nurses)
    return order


def deliveries_by(channel: str) -> list[Delivery]:
    return list(Delivery.objects.filter(channel=channel).select_related("notification__recipient").order_by("pk"))


@pytest.fixture
def retry_countdowns() -> Iterator[list[float]]:
    """The countdown of every retry the deliver task asks Celery for (the task_retry signal's Retry.when)."""
    countdowns: list[float] = []

    def record(sender: Any = None, request: Any = None, reason: Any = None, **kwargs: Any) -> None:
        if sender is not None and sender.name == deliver.name:
            countdowns.append(reason.when)

    signals.task_retry.connect(record, weak=False)
    try:
        yield countdowns
    finally:
        signals.task_retry.disconnect(record)


# --- Email -------------------------------------------------------------------------------------------------


def test_each_owed_reminder_is_mailed_once_to_each_nurse_through_a_real_smtp_server(
    nurses, hematologist, smtp_server, settings
):
    settings.IVIG_WEBHOOK_URL = ""
    order = owed_reminders_for(nurses, hematologist)
    email_deliveries = deliveries_by("email")
    assert len(email_deliveries) == 2

    assert [services.deliver(delivery.pk) for delivery in email_deliveries] == ["sent", "sent"]

    assert sorted(mail.rcpt_tos for mail in smtp_server.received) == [[nurse.email] for nurse in nurses]
    message_for = {d.notification.recipient.email: d.notification.message for d in email_deliveries}
    for mail in smtp_server.received:
        (recipient,) = mail.rcpt_tos
        assert mail.mail_from == settings.DEFAULT_FROM_EMAIL
        assert mail.message["To"] == recipient
        assert mail.message["Subject"] == "[IVIG Tracker] Platelet check due"
        assert mail.body == message_for[recipient]
        assert str(order.patient) in mail.body
        assert f"order #{order.pk}" in mail.body
    for delivery in email_deliveries:
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 1, "")
        assert delivery.sent_at is not None
        assert delivery.claimed_until is None


def test_an_unreachable_smtp_server_raises_a_delivery_error_and_the_delivery_is_retried_then_failed(
    nurses, hematologist, settings
):
    settings.IVIG_WEBHOOK_URL = ""
    use_smtp_server_at(settings, free_loopback_port())  # nothing listens there
    owed_reminders_for(nurses, hematologist)
    delivery = deliveries_by("email")[0]

    with pytest.raises(DeliveryError, match=r"^email: ") as first:
        services.deliver(delivery.pk)
    delivery.refresh_from_db()
    # The failed attempt is recorded before the error reaches the task: claimed again, ready for the retry.
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("claimed", 1, str(first.value))

    with pytest.raises(DeliveryError, match=r"^email: ") as second:
        services.deliver(delivery.pk)
    services.delivery_failed(delivery.pk, str(second.value), final=True)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 2, str(second.value))
    assert delivery.sent_at is None


# --- Webhook -----------------------------------------------------------------------------------------------


def test_each_notification_is_posted_once_to_the_webhook_as_json_signed_with_the_shared_secret(
    nurses, hematologist, webhook_server
):
    order = owed_reminders_for(nurses, hematologist)
    check = PlateletCheck.objects.get(order=order, label="24h")
    webhook_deliveries = deliveries_by("webhook")
    assert sorted(d.notification_id for d in webhook_deliveries) == sorted(
        Notification.objects.values_list("pk", flat=True)
    )

    assert [services.deliver(delivery.pk) for delivery in webhook_deliveries] == ["sent", "sent"]

    assert len(webhook_server.received) == 2
    request_for = {json.loads(request.body)["id"]: request for request in webhook_server.received}
    assert sorted(request_for) == sorted(d.notification_id for d in webhook_deliveries)
    for delivery in webhook_deliveries:
        notification = delivery.notification
        request = request_for[notification.pk]
        assert (request.method, request.path) == ("POST", WEBHOOK_PATH)
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["X-IVIG-Delivery"] == f"notification-{notification.pk}"
        assert json.loads(request.body) == {
            "id": notification.pk,
            "kind": "platelet_check_due",
            "message": notification.message,
            "recipient": notification.recipient.username,
            "order": order.pk,
            "platelet_check": check.pk,
            "created_at": notification.created_at.isoformat(),
        }
        assert signature_verifies(request.body, request.headers["X-IVIG-Signature"], WEBHOOK_SECRET)
        assert not signature_verifies(request.body, request.headers["X-IVIG-Signature"], "not-the-secret")
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("sent", 1)


def test_a_webhook_answering_500_fails_the_attempt_and_the_next_attempt_sends(nurses, hematologist, webhook_server):
    webhook_server.failing_requests = 1
    owed_reminders_for(nurses, hematologist)
    delivery = deliveries_by("webhook")[0]

    with pytest.raises(DeliveryError, match="HTTP Error 500") as failure:
        services.deliver(delivery.pk)
    services.delivery_failed(delivery.pk, str(failure.value), final=False)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error) == ("claimed", str(failure.value))

    assert services.deliver(delivery.pk) == "sent"
    assert len(webhook_server.received) == 2
    assert webhook_server.received[0].body == webhook_server.received[1].body  # the same signed payload again
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 2, "")


def test_the_deliver_task_retries_a_failing_webhook_with_doubling_countdowns_until_it_accepts(
    nurses, hematologist, webhook_server, retry_countdowns
):
    # Eager apply() runs each retry inline at once; the countdown the task asked for is on the Retry.
    webhook_server.failing_requests = 3
    owed_reminders_for(nurses, hematologist)
    delivery = deliveries_by("webhook")[0]

    outcome = deliver.apply(args=[delivery.pk], throw=False)

    assert (outcome.state, outcome.result) == ("SUCCESS", "sent")
    assert retry_countdowns == [10, 20, 40]
    assert len(webhook_server.received) == 4
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 4, "")


def test_the_deliver_task_gives_up_after_its_last_retry_and_marks_the_delivery_failed(
    nurses, hematologist, webhook_server, retry_countdowns
):
    webhook_server.failing_requests = 1000
    owed_reminders_for(nurses, hematologist)
    delivery = deliveries_by("webhook")[0]

    outcome = deliver.apply(args=[delivery.pk], throw=False)

    assert (outcome.state, outcome.result) == ("SUCCESS", "failed")
    assert MAX_DELIVERY_RETRIES == 5
    assert retry_countdowns == [10, 20, 40, 80, 160]
    assert len(webhook_server.received) == MAX_DELIVERY_RETRIES + 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", MAX_DELIVERY_RETRIES + 1)
    assert "HTTP Error 500" in delivery.last_error


def test_a_webhook_endpoint_answering_something_other_than_http_fails_the_attempt_with_a_delivery_error(
    nurses, hematologist, not_http_webhook_server
):
    owed_reminders_for(nurses, hematologist)
    delivery = deliveries_by("webhook")[0]

    with pytest.raises(DeliveryError, match=r"^webhook: ") as failure:
        services.deliver(delivery.pk)
    assert not_http_webhook_server.requests == 1
    services.delivery_failed(delivery.pk, str(failure.value), final=False)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error) == ("claimed", str(failure.value))


# --- Reminders no longer needed ----------------------------------------------------------------------------


def result_the_24h_check(order: Any, nurse: Any) -> None:
    first = order.infusions.get(day_number=1)
    services.record_platelet_result(
        check_id=PlateletCheck.objects.get(order=order, label="24h").pk,
        platelet_count=40,
        collected_at=first.completed_at + timedelta(hours=24),
        bleeding=False,
        user=nurse,
    )


def cancel_the_check(order: Any, hematologist: Any) -> None:
    # Since a course cancelled after an infusion keeps its checks (docs/clinical-rules.md §A12), a check with a
    # reminder owed is cancelled only as a follow-up superseded by the next course: that state, set directly.
    PlateletCheck.objects.filter(order=order, label="24h").update(
        status="cancelled", cancel_reason=f"Superseded by order #{order.pk + 1}"
    )


@pytest.mark.parametrize(
    ("regimen", "settle", "check_status"),
    [
        ("one_dose_1g_per_kg", lambda order, nurse, hematologist: result_the_24h_check(order, nurse), "resulted"),
        ("two_days_1g_per_kg", lambda order, nurse, hematologist: cancel_the_check(order, hematologist), "cancelled"),
    ],
    ids=["resulted", "cancelled"],
)
def test_a_reminder_whose_check_was_settled_before_delivery_is_skipped_on_every_channel(
    nurses, hematologist, smtp_server, webhook_server, regimen, settle, check_status
):
    order = owed_reminders_for(nurses, hematologist, regimen=regimen)
    settle(order, nurses[0], hematologist)
    assert PlateletCheck.objects.get(order=order, label="24h").status == check_status
    deliveries = deliveries_by("email") + deliveries_by("webhook")
    assert sorted(d.channel for d in deliveries) == ["email", "email", "webhook", "webhook"]

    assert [services.deliver(delivery.pk) for delivery in deliveries] == ["skipped"] * 4

    assert smtp_server.received == []
    assert webhook_server.received == []
    assert set(Delivery.objects.values_list("status", flat=True)) == {"skipped"}
