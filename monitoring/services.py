"""Monitoring state changes: platelet checks, notifications (design.md habit 2)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from infusions.models import Order
from monitoring.models import CHECK_OFFSETS_HOURS, CheckStatus, Notification, PlateletCheck

OPEN_CHECK_STATUSES = (CheckStatus.SCHEDULED, CheckStatus.DUE, CheckStatus.OVERDUE)


def create_platelet_checks(*, order: Order, first_infusion_ended_at: datetime) -> list[PlateletCheck]:
    """The four checks of A6, due 24/48/72/168 elapsed hours after the first infusion ends. Aware datetimes
    are added in UTC, so 24 h is 24 elapsed hours across a DST change. Unique on order + label: a second call
    is a no-op."""
    checks = [
        PlateletCheck(order=order, label=label, due_at=first_infusion_ended_at + timedelta(hours=hours))
        for label, hours in CHECK_OFFSETS_HOURS.items()
    ]
    PlateletCheck.objects.bulk_create(checks, ignore_conflicts=True)
    return list(PlateletCheck.objects.filter(order=order))


def cancel_open_checks(*, order: Order) -> int:
    return PlateletCheck.objects.filter(order=order, status__in=OPEN_CHECK_STATUSES).update(
        status=CheckStatus.CANCELLED, claimed_until=None, updated_at=timezone.now()
    )


def notify(
    *,
    recipients: Iterable[Any],
    kind: str,
    message: str,
    dedupe_key: str,
    order: Order | None = None,
    platelet_check: PlateletCheck | None = None,
) -> list[Notification]:
    """Create one notification per recipient, once: the dedupe key (with the recipient) is unique, so running
    the same reminder twice creates nothing the second time. Returns the notifications created now."""
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
    if not rows:
        return []
    keys = [row.dedupe_key for row in rows]
    existing = set(Notification.objects.filter(dedupe_key__in=keys).values_list("dedupe_key", flat=True))
    Notification.objects.bulk_create([row for row in rows if row.dedupe_key not in existing], ignore_conflicts=True)
    created = Notification.objects.filter(dedupe_key__in=set(keys) - existing)
    return list(created)


def users_with_role(role: str) -> Any:
    return get_user_model().objects.filter(groups__name=role, is_active=True)


@transaction.atomic
def mark_read(*, notification_id: int, user: Any) -> Notification:
    notification = Notification.objects.get(pk=notification_id, recipient=user)
    if notification.read_at is None:
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=timezone.now())
        notification.refresh_from_db()
    return notification
