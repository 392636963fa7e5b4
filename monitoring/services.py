"""Monitoring state changes: platelet checks and results, the response, notifications and their deliveries,
the reminder sweep (design.md habit 2 and "Reminders that are never lost and never doubled")."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from infusions import services as infusion_services
from infusions.models import Infusion, Order
from ivig_tracker.errors import Conflict
from ivig_tracker.services import record_heartbeat
from monitoring import response as rules
from monitoring.channels import CHANNELS
from monitoring.models import (
    CHECK_OFFSETS_HOURS,
    CheckStatus,
    Delivery,
    Notification,
    NotificationKind,
    OrderResponse,
    PlateletCheck,
    PlateletResult,
)

logger = logging.getLogger(__name__)

OPEN_CHECK_STATUSES = (CheckStatus.SCHEDULED, CheckStatus.DUE, CheckStatus.OVERDUE)
SWEEP_HEARTBEAT = "reminder_sweep"


# --- Checks ------------------------------------------------------------------------------------------------


def create_platelet_checks(*, order: Order, first_infusion_ended_at: datetime) -> list[PlateletCheck]:
    """The four checks of A6, due 24/48/72/168 elapsed hours after the first infusion ends. Aware datetimes
    are added in UTC, so 24 h is 24 elapsed hours across a DST change. Unique on order + label: a second call
    is a no-op."""
    # Python adds a timedelta to the wall clock of the datetime's own zone (23 or 25 elapsed hours across a DST
    # change when the time arrives in the hospital's zone, as the API gives it), so convert to UTC first.
    ended = first_infusion_ended_at.astimezone(UTC)
    checks = [
        PlateletCheck(order=order, label=label, due_at=ended + timedelta(hours=hours))
        for label, hours in CHECK_OFFSETS_HOURS.items()
    ]
    PlateletCheck.objects.bulk_create(checks, ignore_conflicts=True)
    OrderResponse.objects.get_or_create(order=order, defaults={"assessed_at": timezone.now()})
    return list(PlateletCheck.objects.filter(order=order))


def cancel_open_checks(*, order: Order) -> int:
    """Cancelling an order cancels its open checks; their reminders then stop (the deliveries are skipped)."""
    return PlateletCheck.objects.filter(order=order, status__in=OPEN_CHECK_STATUSES).update(
        status=CheckStatus.CANCELLED, updated_at=timezone.now()
    )


# --- Results and the response ------------------------------------------------------------------------------


def _first_infusion(order: Order) -> Infusion | None:
    return order.infusions.filter(started_at__isnull=False).order_by("day_number").first()


def _validated_result(order: Order, count: Any, collected_at: datetime, bleeding: bool, who_grade: int | None) -> bool:
    errors: dict[str, list[str]] = {}
    message = rules.implausible_count_message(count) if isinstance(count, int) else "Enter a whole number."
    if message:
        errors["platelet_count"] = [message]
    if collected_at > timezone.now() + timedelta(seconds=5):
        errors["collected_at"] = ["A sample cannot be collected in the future."]
    first = _first_infusion(order)
    if first is None:
        raise Conflict("No infusion of this order has started: there is no response to measure yet.")
    if collected_at < first.started_at:
        errors["collected_at"] = ["The sample was collected before the first infusion started (use it as baseline)."]
    if who_grade is not None:
        if not 0 <= who_grade <= 4:
            errors["bleeding_who_grade"] = ["The WHO bleeding grade is 0 to 4."]
        elif bleeding is not None and bleeding != (who_grade >= 2):
            errors["bleeding"] = ["Bleeding means new WHO grade 2 or more bleeding; this does not match the grade."]
    if errors:
        raise ValidationError(errors)
    # clinical.md A6: "bleeding" = new bleeding of WHO grade >= 2 since the previous check.
    return bool(bleeding) if who_grade is None else who_grade >= 2


def reassess_response(order: Order, *, now: datetime | None = None) -> OrderResponse:
    """Classify every current result and store the order's response; tell the hematologist once when a repeat
    dose becomes recommended (A6)."""
    now = now or timezone.now()
    current = list(
        PlateletResult.objects.filter(order=order, superseded_by__isnull=True, preliminary=False).select_related(
            "platelet_check"
        )
    )
    first = _first_infusion(order)
    record, _ = OrderResponse.objects.select_for_update().get_or_create(order=order, defaults={"assessed_at": now})
    assessment = rules.assess_response(
        baseline_count=order.baseline_platelet_count,
        results=[
            rules.PlateletResult(
                platelet_count=result.platelet_count,
                collected_at=result.collected_at,
                bleeding=result.bleeding,
                check_label=result.platelet_check.label if result.platelet_check else None,
            )
            for result in current
        ],
        first_infusion_started_at=first.started_at if first else None,
        first_infusion_completed_at=first.ended_at if first else None,
        repeat_decision_made=bool(record.repeat_decision),
        assessed_at=now,
    )
    by_key = {(c.result.collected_at, c.result.platelet_count): c.category for c in assessment.classified}
    for result in current:
        category = by_key.get((result.collected_at, result.platelet_count))
        if category is not None and result.category != category:
            PlateletResult.objects.filter(pk=result.pk).update(category=category)
            if result.platelet_check_id:
                PlateletCheck.objects.filter(pk=result.platelet_check_id).update(category=category)
    latest = max(current, key=lambda r: (r.collected_at, r.pk), default=None)
    record.category = assessment.category
    record.best_platelet_count = assessment.best_platelet_count
    record.latest_platelet_count = latest.platelet_count if latest else None
    record.time_to_response_hours = assessment.time_to_response_hours
    record.repeat_dose_recommended = assessment.repeat_dose_recommended
    record.loss_of_response = assessment.loss_of_response is not None
    record.assessed_at = now
    record.save()
    if assessment.repeat_dose_recommended:
        patient = order.patient
        notify(
            recipients=[order.created_by],
            kind=NotificationKind.NON_RESPONSE,
            message=(
                f"No response to IVIG for {patient} (order #{order.pk}): baseline {order.baseline_platelet_count}, "
                f"best {assessment.best_platelet_count} ×10⁹/L by 72 h. A repeat 1 g/kg is recommended: "
                "accept (drafts the order for signature) or decline with a reason."
            ),
            dedupe_key=f"non_response:order{order.pk}",
            order=order,
        )
    return record


@transaction.atomic
def record_platelet_result(
    *,
    check_id: int | None = None,
    order_id: int | None = None,
    platelet_count: int,
    collected_at: datetime,
    bleeding: bool | None = None,
    bleeding_who_grade: int | None = None,
    user: Any = None,
    source: str = PlateletResult.Source.MANUAL,
    preliminary: bool = False,
) -> PlateletResult:
    """A result of a scheduled check (closing it), or an ad hoc result of an order (``order_id``). A second
    result for the same check is a correction: the earlier result stays, marked superseded."""
    check = None
    if check_id is not None:
        check = PlateletCheck.objects.select_for_update().select_related("order__patient").get(pk=check_id)
        order = check.order
        if check.status == CheckStatus.CANCELLED:
            raise Conflict("This check was cancelled with its order; record the count as an ad hoc result.")
    else:
        order = Order.objects.select_related("patient").get(pk=order_id)
    bleeding = _validated_result(order, platelet_count, collected_at, bleeding, bleeding_who_grade)
    category = rules.classify(platelet_count, order.baseline_platelet_count, bleeding)
    result = PlateletResult(
        order=order,
        platelet_check=check,
        platelet_count=platelet_count,
        collected_at=collected_at,
        bleeding=bleeding,
        bleeding_who_grade=bleeding_who_grade,
        category=category,
        preliminary=preliminary,
        source=source,
        entered_by=user if getattr(user, "is_authenticated", False) else None,
    )
    result._history_user = user
    result.save()
    if check is not None and not preliminary:
        # The final (or corrected) result replaces every current result of the check, a preliminary included.
        earlier = check.results.filter(superseded_by__isnull=True).exclude(pk=result.pk)
        for old in earlier:
            old.superseded_by = result
            old._history_user = user
            old.save(update_fields=["superseded_by"])
        check.status = CheckStatus.RESULTED
        check.platelet_count = platelet_count
        check.collected_at = collected_at
        check.bleeding = bleeding
        check.category = category
        check.resulted_at = timezone.now()
        check._history_user = user
        check.save()
    if not preliminary:
        reassess_response(order)
    return result


@transaction.atomic
def decide_repeat_dose(*, order_id: int, user: Any, decision: str, reason: str = "") -> OrderResponse:
    """The hematologist answers the non-response flag: accept drafts a repeat_1g_per_kg order with the
    patient's current weight, ready for verification; decline needs a reason (A6)."""
    reason = (reason or "").strip()
    if decision not in ("accept", "decline"):
        raise ValidationError({"decision": ["Choose accept or decline."]})
    if decision == "decline" and not reason:
        raise ValidationError({"reason": ["Give the reason for declining the repeat dose."]})
    order = Order.objects.select_related("patient", "product").get(pk=order_id)
    record = OrderResponse.objects.select_for_update().filter(order=order).first()
    if record is None or not record.repeat_dose_recommended:
        raise Conflict("No repeat dose is recommended for this order.")
    if record.repeat_decision:
        raise Conflict(f"The repeat dose was already decided ({record.repeat_decision}).")
    if decision == "accept":
        latest = record.latest_platelet_count
        record.repeat_order = infusion_services.create_order(
            data={
                "patient": order.patient,
                "regimen": "repeat_1g_per_kg",
                "product": order.product,
                # The baseline of the treatment being evaluated is the count when it starts (IWG).
                "baseline_platelet_count": latest if latest is not None else order.baseline_platelet_count,
                "first_infusion_on": timezone.localdate(),
                "previous_order": order,
                "iga_override_reason": order.iga_override_reason,
                "notes": f"Repeat dose for non-response to order #{order.pk}. {reason}".strip(),
            },
            user=user,
        )
    record.repeat_decision = decision
    record.repeat_decision_reason = reason
    record.repeat_decided_by = user
    record.repeat_decided_at = timezone.now()
    record.repeat_dose_recommended = False
    record._history_user = user
    record.save()
    return record


# --- Notifications and deliveries --------------------------------------------------------------------------


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
    return _create_notifications(rows)


def _create_notifications(rows: list[Notification]) -> list[Notification]:
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
    from monitoring.tasks import deliver

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
        transaction.on_commit(partial(_publish_deliveries, deliver, ids))
    return len(ids)


def _publish_deliveries(task: Any, ids: list[int]) -> None:
    """After commit: one task per delivery. If the broker is down, stop at the first failure: the rows stay
    claimed and the reaper returns them when their lease expires, so the sweep itself never fails on it."""
    for delivery_id in ids:
        try:
            task.delay(delivery_id)
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
    """Send one delivery, at most once per claim. Returns what happened (sent, skipped, duplicate)."""
    now = timezone.now()
    lease = timedelta(seconds=settings.IVIG_DELIVERY_LEASE_SECONDS)
    # The conditional update is the claim: of two copies of this task, only one moves claimed -> sending.
    taken = Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.CLAIMED).update(
        status=Delivery.Status.SENDING, claimed_until=now + lease, attempts=F("attempts") + 1
    )
    if not taken:
        return "duplicate"
    delivery = Delivery.objects.select_related("notification__recipient", "notification__platelet_check").get(
        pk=delivery_id
    )
    notification = delivery.notification
    check = notification.platelet_check
    if check is not None and check.status in (CheckStatus.RESULTED, CheckStatus.CANCELLED):
        Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.SENDING).update(
            status=Delivery.Status.SKIPPED, claimed_until=None
        )
        return "skipped"
    CHANNELS[delivery.channel].send(notification)  # outside any transaction; raises DeliveryError to retry
    Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.SENDING).update(
        status=Delivery.Status.SENT, sent_at=timezone.now(), claimed_until=None, last_error=""
    )
    return "sent"


def delivery_failed(delivery_id: int, error: str, *, final: bool) -> None:
    """A failed attempt goes back to claimed for the retry, or to failed when retries are exhausted."""
    Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.SENDING).update(
        status=Delivery.Status.FAILED if final else Delivery.Status.CLAIMED, last_error=error[:2000]
    )


# --- The sweep ---------------------------------------------------------------------------------------------


@dataclass
class SweepResult:
    due: int = 0
    overdue: int = 0
    notifications: int = 0
    reaped: int = 0
    enqueued: int = 0
    batches: int = 0


def _reminder_message(check: PlateletCheck, kind: str) -> str:
    patient = check.order.patient
    due = timezone.localtime(check.due_at)
    if kind == NotificationKind.PLATELET_CHECK_OVERDUE:
        return (
            f"OVERDUE: the {check.get_label_display()} platelet count for {patient} (order #{check.order_id}) was "
            f"due {due:%Y-%m-%d %H:%M} and has no result."
        )
    return (
        f"The {check.get_label_display()} platelet count for {patient} (order #{check.order_id}) is due "
        f"({due:%Y-%m-%d %H:%M})."
    )


def _remind_batch(now: datetime, nurses: list[Any]) -> tuple[int, int]:
    """Claim one batch of owed reminders and create them; a fixed number of queries per batch."""
    owed = Q(status=CheckStatus.DUE, due_reminded_at__isnull=True) | Q(
        status=CheckStatus.OVERDUE, overdue_reminded_at__isnull=True
    )
    with transaction.atomic():
        batch = list(
            PlateletCheck.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(owed)
            .select_related("order__patient", "order__created_by")
            .order_by("due_at", "pk")[: settings.IVIG_SWEEP_BATCH_SIZE]
        )
        if not batch:
            return 0, 0
        rows = []
        for check in batch:
            kind = (
                NotificationKind.PLATELET_CHECK_OVERDUE
                if check.status == CheckStatus.OVERDUE
                else NotificationKind.PLATELET_CHECK_DUE
            )
            # Due reaches every nurse; overdue every nurse and the ordering hematologist (api-v1).
            recipients = (
                [*nurses, check.order.created_by] if kind == NotificationKind.PLATELET_CHECK_OVERDUE else nurses
            )
            message = _reminder_message(check, kind)
            rows.extend(
                Notification(
                    recipient=recipient,
                    kind=kind,
                    message=message,
                    order=check.order,
                    platelet_check=check,
                    dedupe_key=f"{kind}:check{check.pk}:user{recipient.pk}",
                )
                for recipient in {r.pk: r for r in recipients}.values()
            )
        created = _create_notifications(rows)
        PlateletCheck.objects.filter(pk__in=[c.pk for c in batch if c.status == CheckStatus.DUE]).update(
            due_reminded_at=now
        )
        # An overdue reminder also settles the "due" one: nobody needs both at once.
        PlateletCheck.objects.filter(pk__in=[c.pk for c in batch if c.status == CheckStatus.OVERDUE]).update(
            overdue_reminded_at=now, due_reminded_at=Coalesce("due_reminded_at", Value(now))
        )
    return len(created), 1


def run_sweep(*, now: datetime | None = None) -> SweepResult:
    """What Celery beat runs every minute and ``send_due_reminders`` runs by hand. Safe to run twice, and two
    at once: rows are claimed with SKIP LOCKED and every reminder has a unique key."""
    now = now or timezone.now()
    result = SweepResult()
    result.due = PlateletCheck.objects.filter(status=CheckStatus.SCHEDULED, due_at__lte=now).update(
        status=CheckStatus.DUE, updated_at=now
    )
    overdue_before = now - timedelta(hours=settings.IVIG_CHECK_OVERDUE_AFTER_HOURS)
    result.overdue = PlateletCheck.objects.filter(
        status__in=[CheckStatus.SCHEDULED, CheckStatus.DUE], due_at__lte=overdue_before
    ).update(status=CheckStatus.OVERDUE, updated_at=now)
    nurses = users_with_role("nurse")
    while True:
        created, batches = _remind_batch(now, nurses)
        if not batches:
            break
        result.notifications += created
        result.batches += batches
    result.reaped = reap_expired_leases(now=now)
    result.enqueued = enqueue_pending_deliveries(now=now)
    record_heartbeat(SWEEP_HEARTBEAT, now=now)
    return result
