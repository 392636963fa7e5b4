"""Platelet checks, results and the IWG response, with the repeat-dose decision
(docs/clinical-rules.md §A6–A7; docs/api.md "Monitoring" and "Response")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict
from core.history import attribute_change
from infusions import services as infusion_services
from infusions.models import Infusion, Order
from monitoring import response_rules
from monitoring.models import (
    CHECK_OFFSETS_HOURS,
    CheckStatus,
    NotificationKind,
    OrderResponse,
    PlateletCheck,
    PlateletResult,
)
from monitoring.services.notifications import notify

OPEN_CHECK_STATUSES = (CheckStatus.SCHEDULED, CheckStatus.DUE, CheckStatus.OVERDUE)


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


def course_time_zero(order: Order) -> tuple[datetime | None, datetime | None]:
    """The start and end of the course's first dose (A6): a dose given elsewhere when the course began there (§A9
    "Courses that change"), else the first infusion given here; (None, None) before any."""
    outside = order.outside_doses.order_by("started_at", "pk").first()
    if outside is not None:
        return outside.started_at, outside.ended_at
    first = _first_infusion(order)
    return (first.started_at, first.ended_at) if first is not None else (None, None)


def _validated_result(
    order: Order, count: Any, collected_at: datetime, bleeding: bool | None, who_grade: int | None
) -> bool:
    errors: dict[str, list[str]] = {}
    message = response_rules.implausible_count_message(count) if isinstance(count, int) else "Enter a whole number."
    if message:
        errors["platelet_count"] = [message]
    if collected_at > timezone.now() + timedelta(seconds=5):
        errors["collected_at"] = ["A sample cannot be collected in the future."]
    started_at, _ended_at = course_time_zero(order)
    if started_at is None:
        raise Conflict("No infusion of this order has started: there is no response to measure yet.")
    if collected_at < started_at:
        errors["collected_at"] = ["The sample was collected before the first infusion started (use it as baseline)."]
    if who_grade is not None:
        if not 0 <= who_grade <= 4:
            errors["bleeding_who_grade"] = ["The WHO bleeding grade is 0 to 4."]
        elif bleeding is not None and bleeding != (who_grade >= 2):
            errors["bleeding"] = ["Bleeding means new WHO grade 2 or more bleeding; this does not match the grade."]
    if errors:
        raise ValidationError(errors)
    # docs/clinical-rules.md §A6: "bleeding" = new bleeding of WHO grade >= 2 since the previous check.
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
    first_started_at, first_ended_at = course_time_zero(order)
    record, _ = OrderResponse.objects.select_for_update().get_or_create(order=order, defaults={"assessed_at": now})
    assessment = response_rules.assess_response(
        baseline_count=order.baseline_platelet_count,
        results=[reading_of(result) for result in current],
        first_infusion_started_at=first_started_at,
        first_infusion_completed_at=first_ended_at,
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
    apply_assessment(record, assessment, latest_count=latest.platelet_count if latest else None)
    record.assessed_at = now
    record.save()
    if assessment.repeat_dose_recommended:
        notify(
            recipients=[order.created_by],
            kind=NotificationKind.NON_RESPONSE,
            message=non_response_message(order, assessment.best_platelet_count),
            dedupe_key=f"non_response:order{order.pk}",
            order=order,
        )
    return record


def reading_of(result: PlateletResult) -> response_rules.PlateletReading:
    """A stored result as the response rules read it."""
    return response_rules.PlateletReading(
        platelet_count=result.platelet_count,
        collected_at=result.collected_at,
        bleeding=result.bleeding,
        check_label=result.platelet_check.label if result.platelet_check else None,
    )


def apply_assessment(
    record: OrderResponse, assessment: response_rules.ResponseAssessment, *, latest_count: int | None
) -> None:
    """Copy the rules' assessment onto the order's stored response (the caller saves it)."""
    record.category = assessment.category
    record.best_platelet_count = assessment.best_platelet_count
    record.latest_platelet_count = latest_count
    record.time_to_response_hours = assessment.time_to_response_hours
    record.repeat_dose_recommended = assessment.repeat_dose_recommended
    record.loss_of_response = assessment.loss_of_response is not None


def non_response_message(order: Order, best_count: int | None) -> str:
    return (
        f"No response to IVIG for {order.patient} (order #{order.pk}): baseline {order.baseline_platelet_count}, "
        f"best {best_count} ×10⁹/L by 72 h. A repeat 1 g/kg is recommended: accept (drafts the order for "
        "signature) or decline with a reason."
    )


def close_check_with_result(
    check: PlateletCheck, *, platelet_count: int, collected_at: datetime, bleeding: bool, category: str, at: datetime
) -> None:
    """A check's own copy of its final result (the caller saves it)."""
    check.status = CheckStatus.RESULTED
    check.platelet_count = platelet_count
    check.collected_at = collected_at
    check.bleeding = bleeding
    check.category = category
    check.resulted_at = at


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
    elif order_id is not None:
        order = Order.objects.select_related("patient").get(pk=order_id)
    else:
        raise TypeError("record_platelet_result needs check_id or order_id")
    bleeding = _validated_result(order, platelet_count, collected_at, bleeding, bleeding_who_grade)
    category = response_rules.classify(platelet_count, order.baseline_platelet_count, bleeding)
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
    attribute_change(result, user)
    result.save()
    if check is not None and not preliminary:
        # The final (or corrected) result replaces every current result of the check, a preliminary included.
        earlier = check.results.filter(superseded_by__isnull=True).exclude(pk=result.pk)
        for old in earlier:
            old.superseded_by = result
            attribute_change(old, user)
            old.save(update_fields=["superseded_by"])
        close_check_with_result(
            check,
            platelet_count=platelet_count,
            collected_at=collected_at,
            bleeding=bleeding,
            category=category,
            at=timezone.now(),
        )
        attribute_change(check, user)
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
    attribute_change(record, user)
    record.save()
    return record
