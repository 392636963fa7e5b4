"""Notifications in the app's inbox and their deliveries through external channels (email, webhook): each
delivery is a row, claimed with a lease, sent at most once per claim, retried with backoff, and returned by the
reaper when a lease expires (docs/decisions/0001-reminders-are-rows-not-eta-tasks.md)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from infusions.models import Order
from monitoring.channels import CHANNELS, DeliveryError
from monitoring.models import CheckStatus, Delivery, Notification, PlateletCheck

logger = logging.getLogger(__name__)

# The delivery task, named rather than imported: the task module calls these services, not the other way round.
DELIVER_TASK = "monitoring.tasks.deliver"


def notify(
    *,
    recipients: Iterable[Any],
    kind: str,
    message: str,
    dedupe_key: str,
    order: Order | None = None,
    platelet_check: PlateletCheck | None = None,
) -> list[Notification]:
    """One notification per recipient, once (the dedupe key is unique), plus one pending delivery per
    external channel. Returns the notifications created now; deliveries are enqueued after commit."""
    rows = [
        Notification(
            recipient=recipient,
            kind=kind,
            message=message,
            order=order,
            platelet_check=platelet_check,
            dedupe_key=f"{dedupe_key}:user{recipient.pk}",
        )
        for recipient in recipients
    ]
    return create_notifications(rows)


def create_notifications(rows: list[Notification]) -> list[Notification]:
    if not rows:
        return []
    # Keys already present were sent by an earlier run; the unique key settles a concurrent insert. A fixed
    # number of queries however many rows.
    existing = set(
        Notification.objects.filter(dedupe_key__in=[row.dedupe_key for row in rows]).values_list(
            "dedupe_key", flat=True
        )
    )
    new_keys = [row.dedupe_key for row in rows if row.dedupe_key not in existing]
    if not new_keys:
        return []
    Notification.objects.bulk_create([row for row in rows if row.dedupe_key in new_keys], ignore_conflicts=True)
    # A row another process inserted between the two statements already has its deliveries: excluded here.
    created = list(
        Notification.objects.filter(dedupe_key__in=new_keys)
        .exclude(deliveries__isnull=False)
        .select_related("recipient")
    )
    deliveries = [
        Delivery(notification=notification, channel=name)
        for notification in created
        for name, channel in CHANNELS.items()
        if channel.wants(notification)
    ]
    Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    if deliveries:
        transaction.on_commit(enqueue_pending_deliveries)
    return created


def users_with_role(role: str) -> list[Any]:
    return list(get_user_model().objects.filter(groups__name=role, is_active=True))


@transaction.atomic
def mark_read(*, notification_id: int, user: Any) -> Notification:
    notification = Notification.objects.get(pk=notification_id, recipient=user)
    Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=timezone.now())
    notification.refresh_from_db()
    return notification


def enqueue_pending_deliveries(*, now: datetime | None = None, limit: int | None = None) -> int:
    """Claim pending deliveries (skip locked) with a lease and enqueue one task each after commit."""
    now = now or timezone.now()
    lease = timedelta(seconds=settings.IVIG_DELIVERY_LEASE_SECONDS)
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(status=Delivery.Status.PENDING)
            .order_by("pk")
            .values_list("pk", flat=True)[: limit or settings.IVIG_SWEEP_BATCH_SIZE * 10]
        )
        if not ids:
            return 0
        Delivery.objects.filter(pk__in=ids).update(
            status=Delivery.Status.CLAIMED, claimed_until=now + lease, enqueued_at=now
        )
        transaction.on_commit(partial(_publish_deliveries, ids))
    return len(ids)


def _publish_deliveries(ids: list[int]) -> None:
    """After commit: one task per delivery. If the broker is down, stop at the first failure: the rows stay
    claimed and the reaper returns them when their lease expires, so the sweep itself never fails on it."""
    for delivery_id in ids:
        try:
            current_app.send_task(DELIVER_TASK, args=(delivery_id,))
        except Exception:  # kombu raises OperationalError and friends; any failure is the same to us
            logger.warning("broker unavailable: %d deliveries left for the reaper", len(ids), exc_info=True)
            return


def reap_expired_leases(*, now: datetime | None = None) -> int:
    """Return deliveries whose lease expired (worker killed, Redis restarted, on_commit lost) to pending."""
    now = now or timezone.now()
    return Delivery.objects.filter(
        status__in=[Delivery.Status.CLAIMED, Delivery.Status.SENDING], claimed_until__lt=now
    ).update(status=Delivery.Status.PENDING, claimed_until=None)


def deliver(delivery_id: int) -> str:
    """Send one delivery, at most once per claim. Returns what happened (sent, skipped, duplicate).

    A failed attempt (DeliveryError, or anything else the channel raised, a time limit included) is recorded
    before this raises DeliveryError: the row is back to claimed, with a fresh lease, so a retry can only start
    once this attempt is over. Each attempt is fenced by its number: an attempt whose lease expired and whose
    delivery was claimed again cannot mark the newer attempt's outcome."""
    now = timezone.now()
    lease = timedelta(seconds=settings.IVIG_DELIVERY_LEASE_SECONDS)
    # The conditional update is the claim: of two copies of this task, only one moves claimed -> sending.
    taken = Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.CLAIMED).update(
        status=Delivery.Status.SENDING, claimed_until=now + lease, attempts=F("attempts") + 1
    )
    if not taken:
        return "duplicate"
    delivery = Delivery.objects.select_related(
        "notification__recipient", "notification__platelet_check", "notification__lab_check"
    ).get(pk=delivery_id)
    this_attempt = Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.SENDING, attempts=delivery.attempts)
    notification = delivery.notification
    check = notification.platelet_check or notification.lab_check
    if check is not None and check.status in (CheckStatus.RESULTED, CheckStatus.CANCELLED):
        this_attempt.update(status=Delivery.Status.SKIPPED, claimed_until=None)
        return "skipped"
    try:
        # Outside any transaction: a slow receiver holds no row lock.
        CHANNELS[delivery.channel].send(notification, delivery_id=str(delivery.delivery_id))
    except Exception as exc:  # Celery's soft time limit included: an attempt that overran is a failed attempt
        error = exc if isinstance(exc, DeliveryError) else DeliveryError(f"{delivery.channel}: {exc!r}")
        this_attempt.update(
            status=Delivery.Status.CLAIMED, claimed_until=timezone.now() + lease, last_error=str(error)[:2000]
        )
        if error is exc:
            raise
        raise error from exc
    this_attempt.update(status=Delivery.Status.SENT, sent_at=timezone.now(), claimed_until=None, last_error="")
    return "sent"


def delivery_failed(delivery_id: int, error: str, *, final: bool) -> None:
    """After a failed attempt: failed for good when retries are exhausted, else claimed for the retry (which
    ``deliver`` has already recorded; this keeps a caller that records it itself right)."""
    if final:
        Delivery.objects.filter(pk=delivery_id, status__in=[Delivery.Status.SENDING, Delivery.Status.CLAIMED]).update(
            status=Delivery.Status.FAILED, claimed_until=None, last_error=error[:2000]
        )
        return
    Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.SENDING).update(
        status=Delivery.Status.CLAIMED, last_error=error[:2000]
    )
