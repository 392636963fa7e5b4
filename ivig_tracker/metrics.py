"""``/metrics``: the figures a hospital's operations team watches, in Prometheus' text format.

Request latency is counted by each process as it serves (core/metrics.py). Everything else is read from the database
and the broker when Prometheus scrapes, so every replica answers the same and nothing is lost when a process
restarts: the Celery queue's depth, the reminder sweep's lag, deliveries by channel and outcome, HL7 messages by
outcome and lag, and notifications left unread for over an hour. Each query is bounded by an index or by a recent
window (the last hour or day), so a scrape costs the same whatever the history's length.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count, F, Max, Min
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from core.client_ip import address_in
from core.models import Heartbeat
from interop.models import HL7Message
from ivig_tracker.celery import app as celery_app
from monitoring.models import Delivery, LabCheck, Notification, PlateletCheck
from monitoring.services.sweep import OWED_REMINDER, SWEEP_HEARTBEAT

logger = logging.getLogger(__name__)

RECENT_DELIVERIES = timedelta(hours=24)
RECENT_HL7 = timedelta(hours=1)
UNREAD_FOR = timedelta(hours=1)


def celery_queue_depth(queue: str = "celery") -> int | None:
    """Messages waiting in the broker's queue (Redis or the embedded filesystem broker); None when unreachable."""
    try:
        with celery_app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)
            # Not passive: Redis keeps no key for an empty queue, and a passive declare would call it missing.
            return int(conn.default_channel.queue_declare(queue=queue).message_count)
    except Exception:  # the broker being down is a figure to show (absent), never a failed scrape
        logger.warning("metrics: the broker did not answer for the queue depth")
        return None


class ClinicalOperationsCollector(Collector):
    def describe(self) -> list[GaugeMetricFamily]:
        # Registering must not query the database (it may not be migrated yet); the names come at scrape time.
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()

        depth = celery_queue_depth()
        if depth is not None:
            gauge = GaugeMetricFamily(
                "ivig_celery_queue_depth", "Tasks waiting in the broker's queue.", labels=["queue"]
            )
            gauge.add_metric(["celery"], depth)
            yield gauge

        last_sweep = Heartbeat.objects.filter(name=SWEEP_HEARTBEAT).values_list("last_seen_at", flat=True).first()
        if last_sweep is not None:
            yield GaugeMetricFamily(
                "ivig_sweep_seconds_since_last",
                "Seconds since the reminder sweep last finished a tick.",
                value=(now - last_sweep).total_seconds(),
            )
        oldest_owed = [
            model.objects.filter(OWED_REMINDER).aggregate(oldest=Min("due_at"))["oldest"]
            for model in (PlateletCheck, LabCheck)
        ]
        owed = [due for due in oldest_owed if due is not None]
        yield GaugeMetricFamily(
            "ivig_sweep_oldest_owed_reminder_seconds",
            "How long the oldest reminder the sweep owes has been owed (0 when none is owed).",
            value=max(0.0, (now - min(owed)).total_seconds()) if owed else 0.0,
        )

        deliveries = GaugeMetricFamily(
            "ivig_deliveries_last_day",
            "Deliveries created in the last 24 hours, by channel and outcome.",
            labels=["channel", "status"],
        )
        for row in (
            Delivery.objects.filter(created_at__gte=now - RECENT_DELIVERIES)
            .values("channel", "status")
            .annotate(n=Count("pk"))
            .order_by()
        ):
            deliveries.add_metric([row["channel"], row["status"]], row["n"])
        yield deliveries

        hl7 = GaugeMetricFamily(
            "ivig_hl7_messages_last_hour",
            "HL7 v2 messages received in the last hour, by outcome and acknowledgement.",
            labels=["outcome", "ack"],
        )
        recent = HL7Message.objects.filter(received_at__gte=now - RECENT_HL7)
        for row in recent.values("outcome", "ack_code").annotate(n=Count("pk")).order_by():
            hl7.add_metric([row["outcome"], row["ack_code"]], row["n"])
        yield hl7
        slowest = recent.aggregate(slowest=Max(F("processed_at") - F("received_at")))["slowest"]
        yield GaugeMetricFamily(
            "ivig_hl7_processing_seconds_max_last_hour",
            "The longest time from receiving an HL7 message to acknowledging it in the last hour.",
            value=slowest.total_seconds() if slowest else 0.0,
        )
        last_message = HL7Message.objects.order_by("-received_at").values_list("received_at", flat=True).first()
        if last_message is not None:
            yield GaugeMetricFamily(
                "ivig_hl7_seconds_since_last_message",
                "Seconds since the last HL7 message arrived (a silent interface shows here first).",
                value=(now - last_message).total_seconds(),
            )

        yield GaugeMetricFamily(
            "ivig_notifications_unread_over_1h",
            "Notifications left unread for more than an hour.",
            value=Notification.objects.filter(read_at__isnull=True, created_at__lt=now - UNREAD_FOR).count(),
        )


_operations = CollectorRegistry(auto_describe=False)
_operations.register(ClinicalOperationsCollector())


def _may_scrape(request: HttpRequest) -> bool:
    token = settings.IVIG_METRICS_TOKEN
    offered = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(offered.encode(), f"Bearer {token}".encode()):
        return True
    networks = [ipaddress.ip_network(net, strict=False) for net in settings.IVIG_METRICS_ALLOWED_NETWORKS]
    return address_in(request.META.get("REMOTE_ADDR", ""), networks)


def _process_figures() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several gunicorn workers: sum their request counts from the shared folder.
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


@login_not_required
@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not _may_scrape(request):
        return HttpResponse(
            "Metrics need the scrape token or a permitted network.\n", status=403, content_type="text/plain"
        )
    return HttpResponse(_process_figures() + generate_latest(_operations), content_type=CONTENT_TYPE_LATEST)
