"""/metrics: what an operations team watches, in Prometheus' text format, for a scraper with the token or network."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from core.services import record_heartbeat
from interop.models import HL7Message
from monitoring.models import Delivery, Notification, PlateletCheck
from monitoring.services.sweep import SWEEP_HEARTBEAT
from tests.factories import given_order

pytestmark = [pytest.mark.db, pytest.mark.django_db]


def scrape(client, **extra) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_a_scraper_outside_the_permitted_networks_without_the_token_is_refused(client, settings):
    settings.IVIG_METRICS_TOKEN = "scrape-token-7f3a"

    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert (
        client.get("/metrics", REMOTE_ADDR="10.20.30.40", HTTP_AUTHORIZATION="Bearer scrape-token-7f3a").status_code
        == 200
    )


def test_a_permitted_network_scrapes_without_a_token(client, settings):
    settings.IVIG_METRICS_TOKEN = ""
    settings.IVIG_METRICS_ALLOWED_NETWORKS = ["10.20.0.0/16"]

    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.21.0.1").status_code == 403


def test_the_figures_an_operations_team_watches(client, nurse, hematologist):
    now = timezone.now()
    record_heartbeat(SWEEP_HEARTBEAT, now=now - timedelta(seconds=90))
    order = given_order(completed_hours_ago=30, prescriber=hematologist)
    # The 24 h check fell due 6 hours ago and its reminder is still owed.
    check = PlateletCheck.objects.get(order=order, label="24h")
    PlateletCheck.objects.filter(pk=check.pk).update(status="due", due_at=now - timedelta(hours=6))
    old = Notification.objects.create(recipient=nurse, kind="vitals_alert", message="m", dedupe_key="metrics-old")
    Notification.objects.filter(pk=old.pk).update(created_at=now - timedelta(hours=2))
    Notification.objects.create(recipient=nurse, kind="vitals_alert", message="m", dedupe_key="metrics-new")
    Delivery.objects.create(notification=old, channel="email", status="sent")
    Delivery.objects.create(notification=old, channel="webhook", status="failed")
    HL7Message.objects.create(
        raw="MSH|...",
        transport="mllp",
        outcome="error",
        ack_code="AE",
        ack_text="MSA|AE",
        received_at=now - timedelta(seconds=40),
        processed_at=now - timedelta(seconds=37),
    )
    client.get("/healthz")  # a request the latency histogram counts

    figures = scrape(client, REMOTE_ADDR="127.0.0.1")

    assert 85 <= figures[("ivig_sweep_seconds_since_last", ())] < 300
    assert 6 * 3600 - 60 <= figures[("ivig_sweep_oldest_owed_reminder_seconds", ())] < 6 * 3600 + 300
    assert figures[("ivig_notifications_unread_over_1h", ())] == 1
    assert figures[("ivig_deliveries_last_day", (("channel", "email"), ("status", "sent")))] == 1
    assert figures[("ivig_deliveries_last_day", (("channel", "webhook"), ("status", "failed")))] == 1
    assert figures[("ivig_hl7_messages_last_hour", (("ack", "AE"), ("outcome", "error")))] == 1
    assert figures[("ivig_hl7_processing_seconds_max_last_hour", ())] == pytest.approx(3, abs=0.01)
    assert 35 <= figures[("ivig_hl7_seconds_since_last_message", ())] < 300
    assert ("ivig_celery_queue_depth", (("queue", "celery"),)) in figures
    healthz_count = [
        value
        for (name, labels), value in figures.items()
        if name == "ivig_http_request_duration_seconds_count" and ("view", "healthz") in labels
    ]
    assert sum(healthz_count) >= 1
