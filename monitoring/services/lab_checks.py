"""The creatinine and hemoglobin a course owes after it, and what a rise or a fall in them does
(docs/clinical-rules.md §A13 "After the course"; docs/api.md "Lab checks").

The checks are rows the reminder sweep reads, like platelet checks (docs/decisions/0001-reminders-are-rows-not-eta-
tasks.md). Which result answers a check is worked out again whenever the patient's labs change, so a correction or
a withdrawal moves the check with it; a renal decline or a hemoglobin fall notifies the ordering hematologist once
per course and holds the course's days not yet started (§A10 course_on_hold).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.history import attribute_change, record_creations, update_with_history
from infusions import dosing
from infusions import services as infusion_services
from infusions.models import Order, OrderStatus
from monitoring import lab_check_rules as rules
from monitoring.models import CheckStatus, LabCheck, NotificationKind
from monitoring.services.notifications import notify
from monitoring.services.results import course_times
from patients.models import CURRENT_LAB, LabResult

OPEN_LAB_CHECK = (CheckStatus.SCHEDULED, CheckStatus.DUE, CheckStatus.OVERDUE)
# Courses whose labs are watched: begun (in progress), ended, or cancelled after a day was given.
WATCHED_ORDER_STATUSES = (OrderStatus.IN_PROGRESS, OrderStatus.COMPLETED, OrderStatus.CANCELLED)


def _utc(at: datetime) -> datetime:
    # Elapsed hours: add in UTC, so 72 h is 72 h across a DST change.
    return at.astimezone(UTC)


def _readings(patient_id: int, test: str) -> list[rules.LabReading]:
    """The patient's current (not superseded, not withdrawn) results of one test."""
    rows = LabResult.objects.filter(CURRENT_LAB, patient_id=patient_id, test=test, value_si__isnull=False).order_by(
        "collected_at", "pk"
    )
    return [
        rules.LabReading(value_si=r.value_si, collected_at=r.collected_at, key=r.pk)
        for r in rows
        if r.value_si is not None
    ]


def _blood_group(patient_id: int) -> str | None:
    latest = (
        LabResult.objects.filter(CURRENT_LAB, patient_id=patient_id, test=LabResult.Test.BLOOD_GROUP)
        .order_by("-collected_at", "-pk")
        .first()
    )
    return latest.blood_group if latest is not None else None


def hemoglobin_check_needed(order: Order) -> bool:
    return rules.hemoglobin_check_needed(
        course_g_per_kg=dosing.REGIMENS[order.regimen].course_g_per_kg, blood_group=_blood_group(order.patient_id)
    )


def ensure_lab_checks(order: Order, *, user: Any = None) -> None:
    """Write the checks the course owes by now (unique on order, test and label: a second call writes nothing),
    and answer them from the labs already recorded. Called when a day ends and when a course is cancelled."""
    times = course_times(order)
    if times is None:
        return
    renal = bool(infusion_services.renal_risk_factors(order))
    plans: list[rules.LabCheckPlan] = []
    if times.last_ended_at is not None:
        plans += rules.post_course_checks(
            last_ended_at=_utc(times.last_ended_at),
            renal_risk=renal,
            hemoglobin_needed=hemoglobin_check_needed(order),
        )
        # The course ended before its day 3: the check before it is no longer owed.
        if not order.infusions.filter(day_number=3, started_at__isnull=False).exists():
            update_with_history(
                LabCheck.objects.filter(order=order, label=LabCheck.Label.BEFORE_DAY_3, status__in=OPEN_LAB_CHECK),
                user=user,
                reason="The course ended before day 3",
                status=CheckStatus.CANCELLED,
                cancel_reason="The course ended before day 3",
                updated_at=timezone.now(),
            )
    elif renal and order.days > 2:
        day_2 = order.infusions.filter(day_number=2, started_at__isnull=False).first()
        if day_2 is not None and day_2.ended_at is not None:
            plans.append(
                rules.before_day_3_check(
                    first_started_at=_utc(times.first_started_at), day_2_ended_at=_utc(day_2.ended_at)
                )
            )
    if plans:
        LabCheck.objects.bulk_create(
            [
                LabCheck(
                    order=order,
                    test=plan.test.value,
                    label=plan.label.value,
                    due_at=plan.due_at,
                    window_opens_at=plan.window_opens_at,
                    window_closes_at=plan.window_closes_at,
                    overdue_at=plan.overdue_at,
                )
                for plan in plans
            ],
            ignore_conflicts=True,
        )
        record_creations(LabCheck.objects.filter(order=order), user=user, reason="Owed by the course (§A13)")
        answer_lab_checks(patient_id=order.patient_id, user=None)


def _open_status(check: LabCheck, now: datetime) -> str:
    if now >= check.overdue_at:
        return CheckStatus.OVERDUE
    return CheckStatus.DUE if now >= check.due_at else CheckStatus.SCHEDULED


def answer_lab_checks(*, patient_id: int, user: Any, now: datetime | None = None) -> None:
    """Each of the patient's checks is answered by the first current result inside its window; a check whose result
    was corrected away or withdrawn opens again (due or overdue as time says)."""
    now = now or timezone.now()
    checks = list(
        LabCheck.objects.select_for_update(of=("self",))
        .filter(order__patient_id=patient_id)
        .exclude(status=CheckStatus.CANCELLED)
    )
    readings = {test: _readings(patient_id, test) for test in {check.test for check in checks}}
    for check in checks:
        found = rules.satisfying_reading(
            readings[check.test], window_opens_at=check.window_opens_at, window_closes_at=check.window_closes_at
        )
        if found is not None:
            if check.status == CheckStatus.RESULTED and check.lab_result_id == found.key:
                continue
            check.status, check.lab_result_id = CheckStatus.RESULTED, found.key
        elif check.status == CheckStatus.RESULTED:
            check.status, check.lab_result_id = _open_status(check, now), None
        else:
            continue
        if user is not None:
            attribute_change(check, user)
        check.save()


def _shown(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _local(at: datetime) -> str:
    return f"{timezone.localtime(at):%Y-%m-%d %H:%M}"


def renal_decline_message(
    order: Order, reference: rules.LabReading, risen: rules.LabReading, first_started_at: datetime
) -> str:
    # §A13: the reference is shown with its age, counted to the course's first start.
    age_days = (first_started_at - reference.collected_at).days
    rise = risen.value_si - reference.value_si
    ratio = round(risen.value_si / reference.value_si, 2)
    return (
        f"Creatinine rise after IVIG for {order.patient} (order #{order.pk}): {_shown(risen.value_si)} µmol/L at "
        f"{_local(risen.collected_at)}, {_shown(rise)} µmol/L above (× {_shown(ratio)}) "
        f"the reference {_shown(reference.value_si)} µmol/L of {_local(reference.collected_at)} ({age_days} days "
        "before the first infusion): possible acute kidney injury (KDIGO stage 1). Review hydration and nephrotoxic "
        "drugs and repeat the creatinine."
    )


def hemolysis_message(order: Order, reference: rules.LabReading, fallen: rules.LabReading) -> str:
    fall = reference.value_si - fallen.value_si
    return (
        f"Hemoglobin fall after IVIG for {order.patient} (order #{order.pk}): {_shown(fallen.value_si)} g/L at "
        f"{_local(fallen.collected_at)}, {_shown(fall)} g/L below the pre-course {_shown(reference.value_si)} g/L of "
        f"{_local(reference.collected_at)}: haemolysis suspected. Check DAT, LDH, bilirubin, haptoglobin and "
        "reticulocytes, and exclude bleeding."
    )


# A course is watched from its first start to 10 days after its last infusion (the longer of the two watches), and
# no course runs longer than 5 days: a sample collected after a start can concern only a course begun in the 15 days
# before it (30 read, to spare nothing that matters). A sample collected before a course may be its reference, so
# every course begun since counts too.
WATCH_LOOKBACK = timedelta(days=30)


def _watched_courses(patient_id: int, collected_at: datetime) -> Iterable[Order]:
    """The patient's courses a sample collected at ``collected_at`` may concern: as a value after their start, or as
    their reference before it (a value that arrives, is corrected or is withdrawn late)."""
    since = collected_at - WATCH_LOOKBACK
    begun = Q(infusions__started_at__gte=since) | Q(outside_doses__started_at__gte=since)
    return (
        Order.objects.filter(patient_id=patient_id, status__in=WATCHED_ORDER_STATUSES)
        .filter(begun)
        .distinct()
        .select_related("patient", "created_by")
        .order_by("pk")
    )


def watch_course_labs(*, patient_id: int, test: str, collected_at: datetime, user: Any) -> None:
    """§A13: a creatinine 26.5 µmol/L above, or 1.5 × , the reference from the first start to 7 days after the last
    infusion (renal_decline), or a hemoglobin 20 g/L below the pre-course value up to 10 days after it
    (hemolysis_suspected), notifies the ordering hematologist once per course and holds its days not yet started."""
    if test not in (LabResult.Test.CREATININE, LabResult.Test.HEMOGLOBIN):
        return
    readings = _readings(patient_id, test)
    if not readings:
        return
    for order in _watched_courses(patient_id, collected_at):
        times = course_times(order)
        if times is None:
            continue
        if test == LabResult.Test.CREATININE:
            reference = rules.creatinine_reference(readings, first_started_at=times.first_started_at)
            found = rules.renal_decline(
                readings,
                reference=reference,
                first_started_at=times.first_started_at,
                last_ended_at=times.last_ended_at,
            )
            kind, why = NotificationKind.RENAL_DECLINE, "renal_decline: creatinine rise after IVIG"
            message = (
                renal_decline_message(order, reference, found, times.first_started_at) if found and reference else ""
            )
        else:
            reference = rules.hemoglobin_reference(readings, first_started_at=times.first_started_at)
            found = rules.hemoglobin_fall(
                readings,
                reference=reference,
                first_started_at=times.first_started_at,
                last_ended_at=times.last_ended_at,
            )
            kind, why = NotificationKind.HEMOLYSIS_SUSPECTED, "hemolysis_suspected: hemoglobin fall after IVIG"
            message = hemolysis_message(order, reference, found) if found and reference else ""
        if not message:
            continue
        created = notify(
            recipients=[order.created_by], kind=kind, message=message, dedupe_key=f"{kind}:order{order.pk}", order=order
        )
        if created:
            # Once per course: a later value notifies nothing more, and a hold already reviewed stays reviewed.
            infusion_services.hold_course(order, user, why)


@transaction.atomic
def lab_results_changed(*, patient_id: int, test: str, collected_at: datetime, user: Any) -> None:
    """What a new, corrected or withdrawn creatinine or hemoglobin changes for the patient's courses."""
    # The courses first, then their checks: the order in which the bedside takes them (an infusion's end locks its
    # order, then writes the checks), so the two never wait on each other.
    list(Order.objects.select_for_update(of=("self",)).filter(patient_id=patient_id).order_by("pk").values_list("pk"))
    answer_lab_checks(patient_id=patient_id, user=user)
    watch_course_labs(patient_id=patient_id, test=test, collected_at=collected_at, user=user)
