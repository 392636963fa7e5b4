"""Platelet checks, results and the IWG response, with the repeat-dose decision (docs/clinical-rules.md §A6–A7 as
amended by §A12: which results count toward a course, co-therapy, corrections, unassessed bleeding, loss of
response and the follow-up checks; docs/api.md "Platelet checks and results" and "Response")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import Conflict
from core.history import attribute_change, record_creations, update_with_history
from infusions import services as infusion_services
from infusions.models import Infusion, InfusionStatus, Order, OrderStatus, OutsideDose
from monitoring import response_rules
from monitoring.models import (
    CHECK_OFFSETS_HOURS,
    CURRENT_RESULT,
    FOLLOW_UP_DAYS,
    FOLLOW_UP_LABELS,
    CheckStatus,
    Notification,
    NotificationKind,
    OrderResponse,
    PlateletCheck,
    PlateletResult,
)
from monitoring.services.notifications import notify
from patients.models import CoTherapy

OPEN_CHECK_STATUSES = (CheckStatus.SCHEDULED, CheckStatus.DUE, CheckStatus.OVERDUE)


# --- Checks ------------------------------------------------------------------------------------------------


def create_platelet_checks(*, order: Order, first_infusion_ended_at: datetime, user: Any = None) -> list[PlateletCheck]:
    """The four checks of A6, due 24/48/72/168 elapsed hours after the first infusion ends, and the follow-up
    checks of A12 at 09:00 hospital time on the 14th and 28th day (unless ``IVIG_FOLLOW_UP_CHECKS`` is off). Aware
    datetimes are added in UTC, so 24 h is 24 elapsed hours across a DST change. Unique on order + label: a second
    call is a no-op."""
    # Python adds a timedelta to the wall clock of the datetime's own zone (23 or 25 elapsed hours across a DST
    # change when the time arrives in the hospital's zone, as the API gives it), so convert to UTC first.
    ended = first_infusion_ended_at.astimezone(UTC)
    checks = [
        PlateletCheck(order=order, label=label, due_at=ended + timedelta(hours=hours))
        for label, hours in CHECK_OFFSETS_HOURS.items()
    ]
    if settings.IVIG_FOLLOW_UP_CHECKS:
        local_end = timezone.localtime(first_infusion_ended_at)
        checks += [
            PlateletCheck(order=order, label=label, due_at=response_rules.follow_up_due_at(local_end, days))
            for label, days in FOLLOW_UP_DAYS.items()
        ]
    PlateletCheck.objects.bulk_create(checks, ignore_conflicts=True)
    record_creations(
        PlateletCheck.objects.filter(order=order), user=user, reason="Scheduled: the course's first dose ended"
    )
    OrderResponse.objects.get_or_create(order=order, defaults={"assessed_at": timezone.now()})
    return list(PlateletCheck.objects.filter(order=order))


def supersede_follow_ups(*, patient_id: int, new_order: Order, started_at: datetime, user: Any = None) -> int:
    """A new course's first start closes the patient's earlier courses' windows (A12): their open follow-up checks,
    and any of their checks due after the new start, are cancelled ("Superseded by order #n"), and their results
    are attributed again. A count drawn from now on belongs to the new course."""
    earlier = Order.objects.filter(patient_id=patient_id).exclude(pk=new_order.pk)
    superseded = PlateletCheck.objects.filter(order__in=earlier, status__in=OPEN_CHECK_STATUSES).filter(
        Q(label__in=FOLLOW_UP_LABELS) | Q(due_at__gt=started_at)
    )
    reason = f"Superseded by order #{new_order.pk}"
    cancelled = update_with_history(
        superseded,
        user=user,
        reason=reason,
        status=CheckStatus.CANCELLED,
        cancel_reason=reason,
        updated_at=timezone.now(),
    )
    for order in earlier.filter(response__isnull=False):
        reassess_response(order)
    return cancelled


def cancel_open_checks(*, order: Order, user: Any = None) -> int:
    """Cancelling an order before anything was given cancels its open checks; their reminders then stop. Once an
    infusion was given (here or elsewhere) the checks stay: the course was partly given and is followed (A12)."""
    if order.infusions.filter(started_at__isnull=False).exists() or order.outside_doses.exists():
        reassess_response(order)  # the course has ended: the non-response flag may now be due
        return 0
    return update_with_history(
        PlateletCheck.objects.filter(order=order, status__in=OPEN_CHECK_STATUSES),
        user=user,
        reason="Order cancelled",
        status=CheckStatus.CANCELLED,
        cancel_reason="Order cancelled",
        updated_at=timezone.now(),
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


OPEN_INFUSION_STATUSES = (InfusionStatus.SCHEDULED, InfusionStatus.IN_PROGRESS, InfusionStatus.PAUSED)


def course_times(order: Order) -> response_rules.CourseTimes | None:
    """The course's times as A12's window reads them; None before anything was given."""
    started_at, ended_at = course_time_zero(order)
    if started_at is None:
        return None
    open_days = order.infusions.filter(status__in=OPEN_INFUSION_STATUSES).exists()
    # A completed or cancelled course has ended, a hold left on it notwithstanding; an open one ends when no day is
    # left to give and none waits on a hold review.
    ended = order.status in (OrderStatus.COMPLETED, OrderStatus.CANCELLED) or (not open_days and not order.on_hold)
    last_ended_at = None
    if ended:
        ends = [i.ended_at for i in order.infusions.filter(started_at__isnull=False) if i.ended_at is not None]
        ends += [dose.ended_at for dose in order.outside_doses.all()]
        last_ended_at = max(ends, default=ended_at)
    later_here = (
        Infusion.objects.filter(order__patient_id=order.patient_id, started_at__gt=started_at)
        .exclude(order=order)
        .order_by("started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    later_elsewhere = (
        OutsideDose.objects.filter(order__patient_id=order.patient_id, started_at__gt=started_at)
        .exclude(order=order)
        .order_by("started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    next_start = min((t for t in (later_here, later_elsewhere) if t is not None), default=None)
    return response_rules.CourseTimes(
        first_started_at=started_at,
        first_ended_at=ended_at,
        last_ended_at=last_ended_at,
        next_course_started_at=next_start,
    )


def co_therapy_periods(patient_id: int) -> list[response_rules.CoTherapyPeriod]:
    """The patient's co-therapies as the rules read them (withdrawn entries left out)."""
    return [
        response_rules.CoTherapyPeriod(kind=t.kind, given_from=t.given_from, given_until=t.given_until)
        for t in CoTherapy.objects.filter(patient_id=patient_id, entered_in_error_at__isnull=True)
    ]


def reassess_response(order: Order, *, now: datetime | None = None) -> OrderResponse:
    """Attribute every current result of the order to its course or give the reason it counts toward nothing,
    classify those that count and store the order's response; tell the hematologist once when a repeat dose
    becomes recommended or the response is lost (A6, A12)."""
    now = now or timezone.now()
    current = list(
        PlateletResult.objects.filter(CURRENT_RESULT, order=order, preliminary=False).select_related("platelet_check")
    )
    record, _ = OrderResponse.objects.select_for_update().get_or_create(order=order, defaults={"assessed_at": now})
    course = course_times(order)
    co_therapies = co_therapy_periods(order.patient_id)
    counted: list[PlateletResult] = []
    for result in current:
        reason = (
            ""
            if course is None
            else response_rules.not_attributed_reason(result.collected_at, course, co_therapies) or ""
        )
        if result.not_attributed_reason != reason:
            result.not_attributed_reason = reason
            update_with_history(
                PlateletResult.objects.filter(pk=result.pk),
                reason="Attributed again to the course" if not reason else f"Not counted: {reason}",
                not_attributed_reason=reason,
            )
        if not reason:
            counted.append(result)
    first_started_at, first_ended_at = course_time_zero(order)
    readings = {result.pk: reading_of(result) for result in counted}
    assessment = response_rules.assess_response(
        baseline_count=order.baseline_platelet_count,
        results=list(readings.values()),
        first_infusion_started_at=first_started_at,
        first_infusion_completed_at=first_ended_at,
        repeat_decision_made=bool(record.repeat_decision),
        assessed_at=now,
        course_ended=course is not None and course.ended,
        co_therapies=co_therapies,
    )
    # Each reading is mapped back to its own result (two results of one sample may differ in bleeding).
    by_reading = {id(c.result): c.category for c in assessment.classified}
    for result in current:
        # A result that counts toward nothing is not classified toward the course (shown with its reason).
        category = by_reading.get(id(readings.get(result.pk)), response_rules.IwgCategory.PENDING)
        if result.category != category:
            why = f"Response reassessed: {category}"
            update_with_history(PlateletResult.objects.filter(pk=result.pk), reason=why, category=category)
            if result.platelet_check_id:
                update_with_history(
                    PlateletCheck.objects.filter(pk=result.platelet_check_id), reason=why, category=category
                )
    latest = max(counted, key=lambda r: (r.collected_at, r.pk), default=None)
    apply_assessment(record, assessment, latest_count=latest.platelet_count if latest else None)
    record.window_closes_at = response_rules.attribution_window_closes_at(course) if course is not None else None
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
    loss = assessment.loss_of_response
    if loss is not None and loss.notifies:
        notify(
            recipients=[order.created_by],
            kind=NotificationKind.LOSS_OF_RESPONSE,
            message=loss_of_response_message(order, loss),
            dedupe_key=f"loss_of_response:order{order.pk}",
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
        bleeding_assessed=result.bleeding_assessed,
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
    record.loss_of_response = assessment.loss_status.value
    record.bleeding_unassessed = assessment.bleeding_unassessed
    record.with_corticosteroids = assessment.with_corticosteroids
    record.with_other_itp_treatment = assessment.with_other_itp_treatment


def loss_of_response_message(order: Order, loss: response_rules.LossOfResponse) -> str:
    latest = loss.confirming_result or loss.result
    taken = timezone.localtime(latest.collected_at)
    what = "Confirmed loss of response" if loss.confirmed else "Loss of response with bleeding (not yet confirmed)"
    return (
        f"{what} for {order.patient} (order #{order.pk}): {latest.platelet_count} ×10⁹/L on {taken:%Y-%m-%d %H:%M}, "
        f"after a {loss.category_reached.replace('_', ' ')}. Review the patient."
    )


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
    reason: str = "",
) -> PlateletResult:
    """A result of a scheduled check (closing it), or an ad hoc result of an order (``order_id``). A second
    result for the same check is a correction: the earlier result stays, marked superseded; the same result typed
    again (same check or order, count, collection time and bleeding) changes nothing and is returned with
    ``already_recorded`` set. A check must belong to ``order_id`` when both are given. Bleeding neither
    given nor graded is "not assessed" (every lab result; A12); a lab correction keeps the bleeding staff recorded
    for the check."""
    check = None
    if check_id is not None:
        check = (
            PlateletCheck.objects.select_for_update(of=("self",))
            .select_related("order__patient")
            .filter(pk=check_id)
            .first()
        )
        if check is None:
            raise ValidationError({"check": ["There is no such platelet check."]})
        if order_id is not None and check.order_id != order_id:
            # A page posts the check beside its order: a check of another order (another patient, perhaps) would
            # put this count on the wrong course.
            raise ValidationError(
                {"check": ["This check belongs to another order: enter the result on that order's page."]}
            )
        order = check.order
        if check.status == CheckStatus.CANCELLED:
            raise Conflict("This check was cancelled with its order; record the count as an ad hoc result.")
    elif order_id is not None:
        # Locked so that the same ad hoc result posted twice at once is recognised, as a check's is (its lock).
        order = Order.objects.select_for_update(of=("self",)).select_related("patient").get(pk=order_id)
    else:
        raise TypeError("record_platelet_result needs check_id or order_id")
    assessed = bleeding is not None or bleeding_who_grade is not None
    bleeding = _validated_result(order, platelet_count, collected_at, bleeding, bleeding_who_grade)
    earlier = list(check.results.filter(CURRENT_RESULT).order_by("pk")) if check is not None and not preliminary else []
    if not assessed:
        graded = next((r for r in reversed(earlier) if r.bleeding_assessed and r.collected_at == collected_at), None)
        if graded is not None:  # the lab cannot grade bleeding; what staff recorded for this sample stays
            assessed, bleeding, bleeding_who_grade = True, graded.bleeding, graded.bleeding_who_grade
    if source == PlateletResult.Source.MANUAL:
        # A form sent twice (a double click, a retried request) is the same result, not a correction of itself.
        # HL7 results are recognised by their observation and sample instead (interop.hl7.services): two samples
        # collected at the same minute with the same count are two results there.
        same = (
            PlateletResult.objects.filter(
                CURRENT_RESULT,
                order=order,
                platelet_check=check,
                source=source,
                preliminary=preliminary,
                platelet_count=platelet_count,
                collected_at=collected_at,
                bleeding=bleeding,
                bleeding_assessed=assessed,
                bleeding_who_grade=bleeding_who_grade,
            )
            .order_by("-pk")
            .first()
        )
        if same is not None:
            same.already_recorded = True
            return same
    corrects = any(old.status != PlateletResult.Status.PRELIMINARY for old in earlier)
    lab_result = any(
        old.source == PlateletResult.Source.HL7 and old.status != PlateletResult.Status.PRELIMINARY for old in earlier
    )
    if corrects and lab_result and source != PlateletResult.Source.HL7:
        # A12: the laboratory corrects its own results; staff record the bleeding or withdraw a wrong sample.
        raise Conflict(
            "The laboratory's result for this check stands: the laboratory corrects it. Record the bleeding grade, "
            "or withdraw it as entered in error with the reason."
        )
    category = response_rules.classify(platelet_count, order.baseline_platelet_count, bleeding)
    status = PlateletResult.Status.PRELIMINARY if preliminary else PlateletResult.Status.FINAL
    result = PlateletResult(
        order=order,
        platelet_check=check,
        platelet_count=platelet_count,
        collected_at=collected_at,
        bleeding=bleeding,
        bleeding_assessed=assessed,
        bleeding_who_grade=bleeding_who_grade,
        category=category,
        status=PlateletResult.Status.CORRECTED if corrects else status,
        change_reason=reason
        or (
            ("Laboratory correction" if source == PlateletResult.Source.HL7 else "Entered again on the check")
            if corrects
            else ""
        ),
        preliminary=preliminary,
        source=source,
        entered_by=user if getattr(user, "is_authenticated", False) else None,
    )
    attribute_change(result, user)
    result.save()
    if check is not None and not preliminary:
        # The final (or corrected) result replaces every current result of the check, a preliminary included.
        for old in earlier:
            old.superseded_by = result
            old.status = PlateletResult.Status.SUPERSEDED
            attribute_change(old, user)
            old.save(update_fields=["superseded_by", "status"])
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
        if corrects:
            _tell_of_correction(order, result)
    return result


def course_for_sample(*, patient_id: int, collected_at: datetime) -> Order:
    """The course an ad hoc count of the patient is stored with: the latest course begun before the sample was
    collected (its window decides whether the count counts toward it, A12). None begun yet: 409."""
    candidates = (
        Order.objects.filter(patient_id=patient_id)
        .exclude(status=OrderStatus.DRAFT)
        .select_related("patient")
        .order_by("-first_infusion_on", "-pk")
    )
    begun = []
    for order in candidates:
        started_at, _ended_at = course_time_zero(order)
        if started_at is not None and started_at <= collected_at:
            begun.append((started_at, order))
    if not begun:
        raise Conflict("No course of this patient had begun when the sample was collected: there is no response to it.")
    return max(begun, key=lambda pair: pair[0])[1]


def _editable(result_id: int) -> PlateletResult:
    result = (
        # Only the result's row is locked: its check is nullable (an outer join PostgreSQL cannot lock).
        PlateletResult.objects.select_for_update(of=("self",))
        .select_related("order__patient", "platelet_check")
        .get(pk=result_id)
    )
    if result.superseded_by_id is not None:
        raise Conflict("This result was already corrected: correct the current result.")
    if result.status == PlateletResult.Status.ENTERED_IN_ERROR:
        raise Conflict("This result was withdrawn as entered in error.")
    return result


def _required_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Give the reason (what was wrong)."]})
    if len(reason) > 500:
        raise ValidationError({"reason": ["At most 500 characters."]})
    return reason


@transaction.atomic
def correct_platelet_result(
    *,
    result_id: int,
    user: Any,
    reason: str,
    platelet_count: int | None = None,
    collected_at: datetime | None = None,
    bleeding_who_grade: int | None = None,
) -> PlateletResult:
    """A correction of any result, ad hoc ones included (A12): a new result supersedes the old one, with the
    reason; the old one stays. The response and the flags are worked out again, and a notification already sent
    for the course is followed by ``result_corrected``."""
    reason = _required_reason(reason)
    old = _editable(result_id)
    if old.source == PlateletResult.Source.HL7 and (
        (platelet_count is not None and platelet_count != old.platelet_count)
        or (collected_at is not None and collected_at != old.collected_at)
    ):
        # A12: staff correct typed results; the laboratory corrects its own count (it sends the correction). The
        # bleeding seen at the bedside is staff's to correct on any result.
        raise Conflict("This count came from the laboratory: the laboratory corrects it by sending a correction.")
    if (platelet_count, collected_at, bleeding_who_grade) == (None, None, None):
        raise ValidationError({"platelet_count": ["Give the corrected count, collection time or bleeding grade."]})
    new_count = old.platelet_count if platelet_count is None else platelet_count
    new_time = old.collected_at if collected_at is None else collected_at
    if (new_count, new_time) == (old.platelet_count, old.collected_at) and bleeding_who_grade in (
        None,
        old.bleeding_who_grade,
    ):
        raise ValidationError({"platelet_count": ["The correction changes nothing: give what was wrong."]})
    grade = old.bleeding_who_grade if bleeding_who_grade is None else bleeding_who_grade
    assessed = old.bleeding_assessed or bleeding_who_grade is not None
    bleeding = _validated_result(old.order, new_count, new_time, old.bleeding if grade is None else None, grade)
    new = PlateletResult(
        order=old.order,
        platelet_check=old.platelet_check,
        platelet_count=new_count,
        collected_at=new_time,
        bleeding=bleeding if assessed else False,
        bleeding_assessed=assessed,
        bleeding_who_grade=grade,
        category=response_rules.classify(new_count, old.order.baseline_platelet_count, bleeding if assessed else False),
        status=PlateletResult.Status.CORRECTED,
        change_reason=reason,
        source=PlateletResult.Source.MANUAL,
        entered_by=user,
    )
    attribute_change(new, user, reason=f"Correction: {reason}"[:100])
    new.save()
    old.superseded_by = new
    old.status = PlateletResult.Status.SUPERSEDED
    attribute_change(old, user, reason=f"Superseded: {reason}"[:100])
    old.save(update_fields=["superseded_by", "status"])
    if old.platelet_check is not None:
        check = PlateletCheck.objects.select_for_update().get(pk=old.platelet_check.pk)
        close_check_with_result(
            check,
            platelet_count=new.platelet_count,
            collected_at=new.collected_at,
            bleeding=new.bleeding,
            category=new.category,
            at=timezone.now(),
        )
        attribute_change(check, user)
        check.save()
    reassess_response(old.order)
    _tell_of_correction(old.order, new)
    return new


@transaction.atomic
def withdraw_platelet_result(*, result_id: int, user: Any, reason: str) -> PlateletResult:
    """A result entered in error is withdrawn with the reason, never deleted (A12). A check whose only current
    result it was goes back to due or overdue (its reminders are owed again)."""
    reason = _required_reason(reason)
    # Any result, a laboratory's too (another patient's sample): withdrawn with the reason, never deleted.
    result = _editable(result_id)
    result.status = PlateletResult.Status.ENTERED_IN_ERROR
    result.change_reason = reason
    attribute_change(result, user, reason=f"Entered in error: {reason}"[:100])
    result.save(update_fields=["status", "change_reason"])
    if result.platelet_check is not None:
        check = PlateletCheck.objects.select_for_update().get(pk=result.platelet_check.pk)
        remaining = check.results.filter(CURRENT_RESULT, preliminary=False).order_by("-collected_at", "-pk").first()
        course = course_times(check.order)
        next_start = course.next_course_started_at if course is not None else None
        if (
            remaining is None
            and next_start is not None
            and (check.label in FOLLOW_UP_LABELS or check.due_at > next_start)
        ):
            # The next course has begun: this check is superseded, with no reminder owed (A12).
            check.status = CheckStatus.CANCELLED
            check.cancel_reason = "Superseded by the patient's next course"
            check.platelet_count = check.collected_at = check.bleeding = check.resulted_at = None
            check.category = ""
            attribute_change(check, user, reason=f"Result entered in error: {reason}"[:100])
            check.save()
        elif remaining is None:
            now = timezone.now()
            overdue_after = timedelta(hours=overdue_after_hours(check.label))
            check.status = (
                CheckStatus.SCHEDULED
                if now < check.due_at
                else CheckStatus.OVERDUE
                if now >= check.due_at + overdue_after
                else CheckStatus.DUE
            )
            check.platelet_count = check.collected_at = check.bleeding = check.resulted_at = None
            check.category = ""
            check.due_reminded_at = check.overdue_reminded_at = None
            attribute_change(check, user, reason=f"Result entered in error: {reason}"[:100])
            check.save()
    reassess_response(result.order)
    _tell_of_correction(result.order, result)
    return result


@transaction.atomic
def record_bleeding_grade(*, result_id: int, user: Any, who_grade: int) -> PlateletResult:
    """The WHO bleeding grade of a result whose bleeding was not assessed (a lab result), recorded by staff: the
    result is classified again with it (A12)."""
    result = _editable(result_id)
    if isinstance(who_grade, bool) or not isinstance(who_grade, int) or not 0 <= who_grade <= 4:
        raise ValidationError({"who_grade": ["The WHO bleeding grade is 0 to 4."]})
    if result.bleeding_assessed:
        raise Conflict("Bleeding is already recorded for this count: correct the result, with the reason.")
    result.bleeding_who_grade = who_grade
    result.bleeding = who_grade >= 2
    result.bleeding_assessed = True
    result.category = response_rules.classify(
        result.platelet_count, result.order.baseline_platelet_count, result.bleeding
    )
    attribute_change(result, user, reason=f"WHO bleeding grade {who_grade}")
    result.save(update_fields=["bleeding_who_grade", "bleeding", "bleeding_assessed", "category"])
    if result.platelet_check_id is not None:
        update_with_history(
            PlateletCheck.objects.filter(pk=result.platelet_check_id),
            user=user,
            reason=f"WHO bleeding grade {who_grade}",
            bleeding=result.bleeding,
            category=result.category,
            updated_at=timezone.now(),
        )
    reassess_response(result.order)
    return result


def overdue_after_hours(label: str) -> int:
    """A6: 12 h after due; A12: a follow-up check 72 h after (both hospital settings)."""
    if label in FOLLOW_UP_LABELS:
        return int(settings.IVIG_FOLLOW_UP_OVERDUE_AFTER_HOURS)
    return int(settings.IVIG_CHECK_OVERDUE_AFTER_HOURS)


def _tell_of_correction(order: Order, result: PlateletResult) -> None:
    """A12: when the course's non-response or loss-of-response notification already went out, the ordering
    hematologist is told of the correction, with the response as it now stands."""
    sent = Notification.objects.filter(
        order=order, kind__in=[NotificationKind.NON_RESPONSE, NotificationKind.LOSS_OF_RESPONSE]
    ).exists()
    if not sent:
        return
    response = OrderResponse.objects.get(order=order)
    what = "withdrawn as entered in error" if result.status == PlateletResult.Status.ENTERED_IN_ERROR else "corrected"
    notify(
        recipients=[order.created_by],
        kind=NotificationKind.RESULT_CORRECTED,
        message=(
            f"A platelet result of {order.patient} (order #{order.pk}) was {what}: {result.change_reason}. The "
            f"response is now {response.get_category_display().lower()}"
            + ("; a repeat dose is recommended" if response.repeat_dose_recommended else "")
            + (f"; loss of response {response.loss_of_response}" if response.loss_of_response != "none" else "")
            + "."
        ),
        dedupe_key=f"result_corrected:result{result.pk}:{result.status}",
        order=order,
    )


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
