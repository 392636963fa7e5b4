"""The reminder sweep Celery beat ticks every minute: checks fall due and overdue, owed reminders are
created in SKIP LOCKED batches, lab checks likewise (§A13), emergency orders still unweighed 12 h on are reminded
(weigh_patient), expired
delivery leases are reaped, pending deliveries are enqueued (docs/architecture.md "The reminder pipeline")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.history import update_with_history
from core.services import record_heartbeat
from infusions.models import Order, OrderStatus
from monitoring.models import FOLLOW_UP_LABELS, CheckStatus, LabCheck, Notification, NotificationKind, PlateletCheck
from monitoring.services.notifications import (
    create_notifications,
    enqueue_pending_deliveries,
    reap_expired_leases,
    users_with_role,
)
from patients.models import WeightMeasurement

SWEEP_HEARTBEAT = "reminder_sweep"
# The history rows of the sweep's changes name no user: this reason says who made them.
SWEEP_ACTOR = "system (sweep)"


@dataclass
class SweepResult:
    due: int = 0
    overdue: int = 0
    notifications: int = 0
    weigh_patient: int = 0
    lab_due: int = 0
    lab_overdue: int = 0
    reaped: int = 0
    enqueued: int = 0
    batches: int = 0


def reminder_message(check: PlateletCheck, kind: str) -> str:
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


def follow_up_group() -> list[Any] | None:
    """The members of ``IVIG_FOLLOW_UP_GROUP`` when one is named (A12), else None: the ordering hematologist."""
    name = settings.IVIG_FOLLOW_UP_GROUP
    return users_with_role(name) if name else None


# A check owes a reminder when it is due or overdue and that reminder was not created yet.
OWED_REMINDER = Q(status=CheckStatus.DUE, due_reminded_at__isnull=True) | Q(
    status=CheckStatus.OVERDUE, overdue_reminded_at__isnull=True
)


def _claim_owed(checks: Any) -> list[Any]:
    """One batch of checks (platelet or lab) owing a reminder, locked; rows another sweep holds are skipped."""
    return list(
        checks.select_for_update(skip_locked=True, of=("self",))
        .filter(OWED_REMINDER)
        .select_related("order__patient", "order__created_by")
        .order_by("due_at", "pk")[: settings.IVIG_SWEEP_BATCH_SIZE]
    )


def _mark_reminded(checks: Any, batch: list[Any], now: datetime) -> None:
    checks.filter(pk__in=[c.pk for c in batch if c.status == CheckStatus.DUE]).update(due_reminded_at=now)
    # An overdue reminder also settles the "due" one: nobody needs both at once.
    checks.filter(pk__in=[c.pk for c in batch if c.status == CheckStatus.OVERDUE]).update(
        overdue_reminded_at=now, due_reminded_at=Coalesce("due_reminded_at", Value(now))
    )


def _each_once(recipients: list[Any]) -> list[Any]:
    return list({r.pk: r for r in recipients}.values())


def remind_batch(now: datetime, nurses: list[Any], follow_up: list[Any] | None = None) -> tuple[int, int]:
    """Claim one batch of owed reminders and create them; a fixed number of queries per batch."""
    with transaction.atomic():
        batch = _claim_owed(PlateletCheck.objects.all())
        if not batch:
            return 0, 0
        rows: list[Notification] = []
        for check in batch:
            kind = (
                NotificationKind.PLATELET_CHECK_OVERDUE
                if check.status == CheckStatus.OVERDUE
                else NotificationKind.PLATELET_CHECK_DUE
            )
            # Due reaches every nurse; overdue every nurse and the ordering hematologist (docs/api.md). A follow-up
            # check (A12) goes to the ordering hematologist, or the follow-up group, never to every nurse.
            if check.label in FOLLOW_UP_LABELS:
                recipients = follow_up if follow_up else [check.order.created_by]
            elif kind == NotificationKind.PLATELET_CHECK_OVERDUE:
                recipients = [*nurses, check.order.created_by]
            else:
                recipients = nurses
            message = reminder_message(check, kind)
            rows.extend(
                Notification(
                    recipient=recipient,
                    kind=kind,
                    message=message,
                    order=check.order,
                    platelet_check=check,
                    dedupe_key=f"{kind}:check{check.pk}:user{recipient.pk}",
                )
                for recipient in _each_once(recipients)
            )
        created = create_notifications(rows)
        _mark_reminded(PlateletCheck.objects.all(), batch, now)
    return len(created), 1


def lab_reminder_message(check: LabCheck, kind: str) -> str:
    patient = check.order.patient
    what = f"{check.get_test_display().lower()} {check.get_label_display().lower()}"
    if check.label == LabCheck.Label.BEFORE_DAY_3:
        when = "before day 3 of the course"
    else:
        opens = timezone.localtime(check.window_opens_at)
        closes = timezone.localtime(check.window_closes_at or check.overdue_at)
        when = f"collected between {opens:%Y-%m-%d %H:%M} and {closes:%Y-%m-%d %H:%M}"
    if kind == NotificationKind.LAB_CHECK_OVERDUE:
        return f"OVERDUE: the {what} for {patient} (order #{check.order_id}) has no result ({when})."
    return (
        f"The {what} for {patient} (order #{check.order_id}) is due: a sample {when} (IVIG renal and hemolysis safety)."
    )


def lab_remind_batch(now: datetime, nurses: list[Any]) -> tuple[int, int]:
    """Claim one batch of owed lab-check reminders: due to every nurse, overdue to every nurse and the ordering
    hematologist, as for platelet checks (docs/api.md "Notifications")."""
    with transaction.atomic():
        batch = _claim_owed(LabCheck.objects.all())
        if not batch:
            return 0, 0
        rows: list[Notification] = []
        for check in batch:
            overdue = check.status == CheckStatus.OVERDUE
            kind = NotificationKind.LAB_CHECK_OVERDUE if overdue else NotificationKind.LAB_CHECK_DUE
            recipients = [*nurses, check.order.created_by] if overdue else nurses
            message = lab_reminder_message(check, kind)
            rows.extend(
                Notification(
                    recipient=recipient,
                    kind=kind,
                    message=message,
                    order=check.order,
                    lab_check=check,
                    dedupe_key=f"{kind}:labcheck{check.pk}:user{recipient.pk}",
                )
                for recipient in _each_once(recipients)
            )
        created = create_notifications(rows)
        _mark_reminded(LabCheck.objects.all(), batch, now)
    return len(created), 1


OPEN_ORDER_STATUSES = (OrderStatus.DRAFT, OrderStatus.VERIFIED, OrderStatus.IN_PROGRESS)


def weigh_patient_message(order: Order) -> str:
    created = timezone.localtime(order.created_at)
    return (
        f"Weigh {order.patient}: emergency order #{order.pk} was dosed on an estimated weight of "
        f"{order.estimated_weight_kg} kg at {created:%Y-%m-%d %H:%M} and no weight has been recorded since. Record "
        "the measured weight; the course's remaining days are then recalculated on it."
    )


def weigh_patient_batch(now: datetime, nurses: list[Any]) -> tuple[int, int]:
    """Claim one batch of open emergency orders still on their estimated weight, written more than
    ``IVIG_WEIGH_PATIENT_AFTER_HOURS`` ago, with no weight recorded for the patient since and no weigh_patient
    reminder yet, and remind every nurse and the ordering hematologist, once (§A9 "Emergency orders")."""
    written_before = now - timedelta(hours=settings.IVIG_WEIGH_PATIENT_AFTER_HOURS)
    weighed_since = WeightMeasurement.objects.filter(patient_id=OuterRef("patient_id")).filter(
        Q(created_at__gte=OuterRef("created_at")) | Q(measured_at__gte=OuterRef("created_at"))
    )
    reminded = Notification.objects.filter(order_id=OuterRef("pk"), kind=NotificationKind.WEIGH_PATIENT)
    with transaction.atomic():
        batch = list(
            Order.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                emergency=True,
                estimated_weight_kg__isnull=False,
                weight_measurement__isnull=True,
                status__in=OPEN_ORDER_STATUSES,
                created_at__lte=written_before,
            )
            .exclude(Exists(weighed_since))
            .exclude(Exists(reminded))
            .select_related("patient", "created_by")
            .order_by("created_at", "pk")[: settings.IVIG_SWEEP_BATCH_SIZE]
        )
        if not batch:
            return 0, 0
        rows: list[Notification] = []
        for order in batch:
            message = weigh_patient_message(order)
            recipients = {r.pk: r for r in [*nurses, order.created_by]}
            rows.extend(
                Notification(
                    recipient=recipient,
                    kind=NotificationKind.WEIGH_PATIENT,
                    message=message,
                    order=order,
                    dedupe_key=f"{NotificationKind.WEIGH_PATIENT}:order{order.pk}:user{recipient.pk}",
                )
                for recipient in recipients.values()
            )
        created = create_notifications(rows)
    return len(created), 1


def _move(checks: Any, status: str, now: datetime) -> int:
    """Checks (platelet or lab) that time has made due or overdue, moved with a history row each. A row a nurse is
    resulting at this moment is locked: it is skipped, not waited for, and the next tick moves it if still open."""
    return update_with_history(
        checks, reason=f"{SWEEP_ACTOR}: {status}", at=now, skip_locked=True, status=status, updated_at=now
    )


def run_sweep(*, now: datetime | None = None) -> SweepResult:
    """What Celery beat runs every minute and ``send_due_reminders`` runs by hand. Safe to run twice, and two
    at once: rows are claimed with SKIP LOCKED and every reminder has a unique key."""
    now = now or timezone.now()
    result = SweepResult()
    scheduled_due = PlateletCheck.objects.filter(status=CheckStatus.SCHEDULED, due_at__lte=now)
    result.due = _move(scheduled_due, CheckStatus.DUE, now)
    overdue_before = now - timedelta(hours=settings.IVIG_CHECK_OVERDUE_AFTER_HOURS)
    follow_up_overdue_before = now - timedelta(hours=settings.IVIG_FOLLOW_UP_OVERDUE_AFTER_HOURS)
    late = Q(due_at__lte=overdue_before) & ~Q(label__in=FOLLOW_UP_LABELS)
    late |= Q(due_at__lte=follow_up_overdue_before, label__in=FOLLOW_UP_LABELS)
    result.overdue = _move(
        PlateletCheck.objects.filter(status__in=[CheckStatus.SCHEDULED, CheckStatus.DUE]).filter(late),
        CheckStatus.OVERDUE,
        now,
    )
    result.lab_due = _move(LabCheck.objects.filter(status=CheckStatus.SCHEDULED, due_at__lte=now), CheckStatus.DUE, now)
    result.lab_overdue = _move(
        LabCheck.objects.filter(status__in=[CheckStatus.SCHEDULED, CheckStatus.DUE], overdue_at__lte=now),
        CheckStatus.OVERDUE,
        now,
    )
    nurses = users_with_role("nurse")
    follow_up = follow_up_group()
    while True:
        created, batches = remind_batch(now, nurses, follow_up)
        if not batches:
            break
        result.notifications += created
        result.batches += batches
    while True:
        created, batches = lab_remind_batch(now, nurses)
        if not batches:
            break
        result.notifications += created
        result.batches += batches
    while True:
        created, batches = weigh_patient_batch(now, nurses)
        if not batches:
            break
        result.weigh_patient += created
        result.notifications += created
        result.batches += batches
    result.reaped = reap_expired_leases(now=now)
    result.enqueued = enqueue_pending_deliveries(now=now)
    record_heartbeat(SWEEP_HEARTBEAT, now=now)
    return result
