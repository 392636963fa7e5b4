"""The bedside: start with its checklist and lots, vital signs, rate changes, pause and resume, reactions,
completion, stopping and withholding a day (docs/clinical-rules.md §A4–A5; docs/api.md "Infusions")."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import Conflict, SafetyStopped
from core.history import attribute_change
from core.stops import Stage, Stop
from infusions import vitals_rules
from infusions.models import (
    Infusion,
    InfusionStatus,
    Order,
    OrderStatus,
    RateSegment,
    Reaction,
    VialLot,
    VitalSignsEntry,
)
from infusions.services import orders, safety
from infusions.services import vials as vial_services
from infusions.signals import (
    course_put_on_hold,
    course_started,
    infusion_ended,
    vials_not_detailed,
    vitals_alert_raised,
    withhold_requested,
)
from patients.models import CoTherapy, CoTherapyKind

CHECKLIST_ITEMS = {
    "patient_identity": "Patient identity confirmed (two identifiers)",
    "iga_reviewed": "IgA result reviewed",
    "cardiac_fluid_status": "Cardiac and fluid status assessed",
    "hydration": "Hydration adequate (pre-hydration given if ordered)",
    "premedication": "Premedication given as ordered",
    "emergency_drugs": "Emergency drugs at hand (adrenaline, antihistamine, hydrocortisone)",
    "product_and_dose": "Product, dose and vials checked against the order",
    "dedicated_line": "Dedicated IV line, no other drugs",
}
# §A9 maltose_interference: for a maltose product, a patient with diabetes, on insulin or on corticosteroids
# confirms this as well.
GLUCOSE_METHOD_ITEM = {
    "glucose_method_checked": "Point-of-care glucose uses a glucose-specific method, not GDH-PQQ (maltose product)"
}
# [D] "On corticosteroids": a corticosteroid co-therapy running, or given, within the last 48 h (their effect on
# glucose outlasts the dose).
ON_CORTICOSTEROIDS_HOURS = 48


def checklist_items(order: Order, now: Any = None) -> dict[str, str]:
    """The items a start confirms: the eight of every start, and the glucose method where §A9 adds it."""
    patient = order.patient
    if order.product.contains_maltose and (
        patient.diabetes or patient.on_insulin or _on_corticosteroids(patient, now or timezone.now())
    ):
        return {**CHECKLIST_ITEMS, **GLUCOSE_METHOD_ITEM}
    return dict(CHECKLIST_ITEMS)


def _on_corticosteroids(patient: Any, now: Any) -> bool:
    since = now - timedelta(hours=ON_CORTICOSTEROIDS_HOURS)
    return (
        CoTherapy.objects.filter(patient=patient, kind=CoTherapyKind.CORTICOSTEROID, entered_in_error_at__isnull=True)
        .filter(given_from__lte=now)
        .filter(Q(given_until__gte=since) | Q(given_until__isnull=True, given_from__gte=since))
        .exists()
    )


RUNNING = (InfusionStatus.IN_PROGRESS, InfusionStatus.PAUSED)


def _event_time(value: Any, *, field: str, not_before: Any = None, what_before: str = "") -> Any:
    """Timestamps default to now, may be in the past (late entry), never in the future, never before the
    previous event of the infusion (docs/api.md Infusions)."""
    now = timezone.now()
    moment = value or now
    if moment > now + timedelta(seconds=5):  # a tablet's clock may run a few seconds ahead of the server
        raise ValidationError({field: ["This time is in the future."]})
    if not_before is not None and moment < not_before:
        raise ValidationError(
            {field: [f"This time is before {what_before} ({timezone.localtime(not_before):%Y-%m-%d %H:%M})."]}
        )
    return moment


def _time_after_last_change(infusion: Infusion, value: Any, field: str) -> Any:
    current = _open_segment(infusion)
    not_before = current.started_at if current is not None else infusion.started_at
    return _event_time(value, field=field, not_before=not_before, what_before="the last rate change")


def _locked_infusion(infusion_id: int) -> Infusion:
    return Infusion.objects.select_for_update().select_related("order").get(pk=infusion_id)


def _open_segment(infusion: Infusion) -> RateSegment | None:
    return infusion.rate_segments.filter(ended_at__isnull=True).first()


def _open_rate_segment(infusion: Infusion, rate: Decimal, at: Any, reason: str, user: Any) -> None:
    current = _open_segment(infusion)
    if current is not None:
        current.ended_at = at
        attribute_change(current, user)
        current.save(update_fields=["ended_at"])
    segment = RateSegment(infusion=infusion, rate_ml_per_h=rate, started_at=at, reason=reason, recorded_by=user)
    attribute_change(segment, user)
    segment.save()
    infusion.current_rate_ml_per_h = rate


def max_rate_ml_per_h(order: Order) -> Decimal | None:
    plan = order.rate_plan
    return Decimal(str(plan["max_rate_ml_per_h"])) if plan else None


def _check_rate_positive(rate: Decimal) -> None:
    """Validation; how high a rate may go is the safety stops' question (§A10)."""
    if rate <= 0:
        raise ValidationError({"rate_ml_per_h": ["The rate must be above 0 mL/h (use pause to stop the pump)."]})


@transaction.atomic
def start_infusion(
    *,
    infusion_id: int,
    user: Any,
    checklist: dict[str, Any],
    lot_numbers: list[str] | None = None,
    started_at: Any = None,
    rate_ml_per_h: Decimal | None = None,
    vials: list[dict[str, Any]] | None = None,
    barcodes: list[str] | None = None,
    overrides: dict[str, str] | None = None,
) -> Infusion:
    """Start a scheduled day: the checklist, the vials, the baseline and the starting rate, against every start
    stop of §A10 (and the order stops §A9 checks again at each start).

    ``vials`` (each naming its ``product``, size, lot and expiry) and ``barcodes`` (GS1 element strings) are the
    physical vials, one entry each, checked by vial_mismatch. A v1 client's ``lot_numbers`` alone (with v1's
    optional vial details, which name no product) are refused (vials_missing), or taken with the warning
    vials_not_detailed while IVIG_V1_START_COMPAT is on."""
    errors: dict[str, list[str]] = {}
    lots = [str(lot).strip() for lot in (lot_numbers or []) if str(lot).strip()]
    v1_details = [v for v in (vials or []) if v.get("product") is None]
    given = _vials_named(vials, barcodes)
    if given is None and not lots:
        errors["vials"] = ["Record at least one vial: scan it, or type its product, size, lot and expiry."]
    if given is not None and lots and set(lots) != {vial.given.lot_number for vial in given}:
        errors["lot_numbers"] = ["The lot numbers must name the same lots as the vials."]
    expired = [v for v in v1_details if v.get("expiry_date") and v["expiry_date"] < timezone.localdate()]
    if expired:
        errors["vials"] = [
            f"Lot {v['lot_number']} expired on {v['expiry_date']:%Y-%m-%d}: do not give it." for v in expired
        ]
    if errors:
        raise ValidationError(errors)

    infusion = _locked_infusion(infusion_id)
    order = infusion.order
    if infusion.status != InfusionStatus.SCHEDULED:
        raise Conflict(f"This infusion is {infusion.get_status_display().lower()}; only a scheduled one can start.")
    started_at = _event_time(started_at, field="started_at")
    items = checklist_items(order)
    missing = [label for code, label in items.items() if (checklist or {}).get(code) is not True]
    rate_given = rate_ml_per_h
    if rate_ml_per_h is None:
        rate_ml_per_h = _plan_first_rate(order)
    if rate_ml_per_h is not None:
        _check_rate_positive(rate_ml_per_h)
    change, safer_plan, _advice = orders.record_changed(order, now=started_at)
    if safer_plan is not None:
        # Applied before the start is judged, so the start meets the safer plan's ceiling.
        orders.apply_safer_plan(order, safer_plan, user)
        if rate_given is None:
            rate_ml_per_h = Decimal(str(safer_plan["steps"][0]["rate_ml_per_h"]))
    stops = safety.start_stops(
        infusion,
        start_at=started_at,
        rate_ml_per_h=rate_ml_per_h,
        missing_checklist=missing,
        vials=[vial.given for vial in given] if given is not None else None,
        lots_only=given is None,
    )
    stops += list(change.stops)
    outcome = safety.enforce(stops, order=order, user=user, stage=Stage.START, overrides=overrides, at=started_at)
    if rate_ml_per_h is None:  # only reachable when a late entry documents a start the plan could not rate
        raise ValidationError({"rate_ml_per_h": ["Enter the rate the infusion was started at."]})

    infusion.status = InfusionStatus.IN_PROGRESS
    infusion.started_at = started_at
    infusion.started_by = user
    # The day keeps the product it was given with, should the course's product change later (§A9).
    infusion.product = order.product
    infusion.checklist = {
        **{code: (checklist or {}).get(code) is True for code in items},
        "confirmed_by": user.get_username(),
        "confirmed_at": timezone.now().isoformat(),
    }
    _open_rate_segment(infusion, rate_ml_per_h, started_at, "start", user)
    attribute_change(infusion, user)
    infusion.save()
    if given is not None:
        rows = [
            VialLot(
                infusion=infusion,
                product=vial.product,
                gtin=vial.given.gtin,
                serial=vial.serial,
                lot_number=vial.given.lot_number,
                expiry_date=vial.given.expiry_date,
                vial_size_g=vial.given.vial_size_g,
                recorded_by=user,
            )
            for vial in given
        ]
    else:
        vial_details = {v["lot_number"]: v for v in v1_details}
        rows = [
            VialLot(
                infusion=infusion,
                product=order.product,
                lot_number=lot,
                expiry_date=vial_details.get(lot, {}).get("expiry_date"),
                vial_size_g=vial_details.get(lot, {}).get("vial_size_g"),
                recorded_by=user,
            )
            for lot in lots
        ]
    for row in rows:
        attribute_change(row, user)
        row.save()
    first_start = order.status == OrderStatus.VERIFIED
    if first_start:
        order.status = OrderStatus.IN_PROGRESS
        attribute_change(order, user)
        order.save(update_fields=["status", "updated_at"])
    _move_later_days(infusion, started_at, user)
    if first_start and not order.outside_doses.exists():
        course_started.send(sender=Infusion, order=order, started_at=started_at, user=user)
    safety.record(outcome, order=order, infusion=infusion, user=user, stage=Stage.START, at=started_at)
    if given is None:  # lots only, taken under IVIG_V1_START_COMPAT (refused by vials_missing otherwise)
        vials_not_detailed.send(sender=Infusion, infusion=infusion, lot_numbers=lots)
    return infusion


def _plan_first_rate(order: Order) -> Decimal | None:
    """The rate a start takes when none is given: the plan's first step."""
    return Decimal(str(order.rate_plan["steps"][0]["rate_ml_per_h"])) if order.rate_plan else None


def _vials_named(vials: list[dict[str, Any]] | None, barcodes: list[str] | None) -> list[vial_services.Vial] | None:
    """The start's vials naming their product, typed or scanned, or None when there are none (a v1 client's lot
    numbers, with v1's optional vial details, name no product)."""
    detailed = [v for v in (vials or []) if v.get("product") is not None]
    return vial_services.vials_of_start(detailed, barcodes) if (detailed or barcodes) else None


def _move_later_days(infusion: Infusion, started_at: Any, user: Any) -> None:
    """A day started later than scheduled moves the course's later days by as many days, kept in history
    (docs/clinical-rules.md §A10 before_scheduled_day)."""
    late_by = (timezone.localtime(started_at).date() - infusion.scheduled_for).days
    if late_by <= 0:
        return
    later = infusion.order.infusions.select_for_update().filter(
        day_number__gt=infusion.day_number, status=InfusionStatus.SCHEDULED
    )
    for day in later:
        day.scheduled_for += timedelta(days=late_by)
        attribute_change(day, user, reason=f"moved {late_by} day(s): day {infusion.day_number} started late")
        day.save(update_fields=["scheduled_for", "updated_at"])


def record_vitals(*, infusion_id: int, user: Any, values: dict[str, Any], taken_at: Any = None) -> VitalSignsEntry:
    """Store a set of vital signs with the alerts it raises, judged for the patient's age on the hospital's date of
    ``taken_at`` (§A11: children under 12 have their own bands). The baseline is the latest set at or before the
    start (§A10 amends §A5): a set before the start meets the absolute thresholds only, a set after it the baseline
    too.

    One short transaction with a fixed number of queries whatever the history length: lock the infusion row (its
    order and patient joined in), read the baseline (one index entry), evaluate, save; history through
    simple_history, and a high alert's notification (the ``vitals_alert_raised`` receiver) commits with the entry.
    """
    taken_at = _event_time(taken_at, field="taken_at")
    current = _vital_signs(values)
    with transaction.atomic():
        # Sets for one infusion are evaluated one after another, and never beside a start being recorded: a set
        # always sees the start it comes after. Concurrent sets both land. NO KEY: the vitals' own inserts, which
        # reference this row, are not blocked by it. of=("self",): the order and patient rows are read, not locked.
        infusion = (
            Infusion.objects.select_for_update(no_key=True, of=("self",))
            .select_related("order__patient")
            .get(pk=infusion_id)
        )
        age = _age_at(infusion.order.patient, taken_at)
        started = infusion.started_at
        baseline = (
            infusion.vitals.filter(taken_at__lte=started).order_by("-taken_at", "-pk").first()
            if started is not None and taken_at > started
            else None
        )
        compared_with = _vital_signs_of(baseline) if baseline is not None else None
        alerts = vitals_rules.evaluate_vitals(current, compared_with, age=age)
        entry = VitalSignsEntry(
            infusion=infusion,
            taken_at=taken_at,
            **{name: getattr(current, name) for name in vitals_rules.VITAL_SIGN_FIELDS},
            alerts=vitals_rules.alert_records(alerts),
            highest_severity=vitals_rules.highest_severity(alerts),
            recorded_by=user,
        )
        attribute_change(entry, user)
        entry.save()
        if alerts:
            vitals_alert_raised.send(sender=VitalSignsEntry, entry=entry, alerts=entry.alerts, infusion=infusion)
    return entry


def _age_at(patient: Any, taken_at: Any) -> vitals_rules.AgeAtSet:
    """The patient's age on the hospital's date of the set: a birthday begins at local midnight, not UTC's."""
    try:
        return vitals_rules.AgeAtSet.on(patient.birth_date, timezone.localdate(taken_at))
    except (ValueError, OverflowError) as exc:  # OverflowError: year 1 has no local date west of UTC
        raise ValidationError({"taken_at": ["This time is before the patient's date of birth."]}) from exc


# Each reading as the bedside names it, its unit, and whether it is a whole number; with the A5 bounds this gives
# the message beside a reading that is missing or is not a number.
VITAL_SIGN_LABELS: dict[str, tuple[str, str, bool]] = {
    "temperature_c": ("Temperature", "°C", False),
    "heart_rate_bpm": ("Heart rate", "/min", True),
    "systolic_bp_mmhg": ("Systolic BP", "mmHg", True),
    "diastolic_bp_mmhg": ("Diastolic BP", "mmHg", True),
    "respiratory_rate_per_min": ("Respiratory rate", "/min", True),
    "spo2_percent": ("SpO₂", "%", True),
}

_BOUND_NAMES = {
    "temperature_c": ("temperature_min_c", "temperature_max_c"),
    "heart_rate_bpm": ("heart_rate_min_bpm", "heart_rate_max_bpm"),
    "systolic_bp_mmhg": ("systolic_min_mmhg", "systolic_max_mmhg"),
    "diastolic_bp_mmhg": ("diastolic_min_mmhg", "diastolic_max_mmhg"),
    "respiratory_rate_per_min": ("respiratory_rate_min_per_min", "respiratory_rate_max_per_min"),
    "spo2_percent": ("spo2_min_percent", "spo2_max_percent"),
}


# Infusion.volume_infused_ml holds 8 digits with 1 decimal.
MAX_VOLUME_INFUSED_ML = Decimal("9999999.9")


def typed_number(value: Any) -> Decimal | None:
    """A number as typed on a tablet, a decimal comma accepted (36,8 is 36.8); None when it is not a finite number
    written with ASCII digits.

    A comma followed by exactly three digits (1,200) could be a thousands separator: it is refused rather than read
    as 1.2, and so is a space inside the number (12 5), which could be a missed key."""
    text = str(value).strip()
    if not text.isascii():  # Decimal() reads "١٢" as 12: a reading is typed with the digits 0-9
        return None
    if text.count(",") == 1 and "." not in text:
        if re.fullmatch(r"[+-]?\d*,\d{3}", text):
            return None
        text = text.replace(",", ".")
    try:
        number = Decimal(text)
    except ArithmeticError:
        return None
    return number if number.is_finite() else None


def _reading_error(name: str) -> str:
    label, unit, whole = VITAL_SIGN_LABELS[name]
    bounds = vitals_rules.PlausibilityBounds()
    low, high = (getattr(bounds, bound) for bound in _BOUND_NAMES[name])
    kind = "a whole number" if whole else "a number"
    return f"{label} must be {kind} between {low} and {high} {unit}."


def _vital_signs(values: dict[str, Any]) -> vitals_rules.VitalSigns:
    """The six readings, each checked on its own: every reading missing, not a number or impossible is reported
    against its own field in clinical words, all at once."""
    errors: dict[str, list[str]] = {}
    readings: dict[str, Any] = {}
    for name, (label, unit, whole) in VITAL_SIGN_LABELS.items():
        raw = values.get(name)
        if raw is None or str(raw).strip() == "":
            errors[name] = [f"Enter the {label if label.startswith('SpO') else label[0].lower() + label[1:]}."]
            continue
        number = typed_number(raw)
        if number is None or (whole and number != number.to_integral_value()):
            errors[name] = [_reading_error(name)]
        elif not whole and not vitals_rules.has_at_most_one_decimal(number):
            errors[name] = [f"{label} is recorded to 0.1 {unit}, such as 36.8."]
        else:
            readings[name] = int(number) if whole else number
    if errors:
        raise ValidationError(errors)
    current = vitals_rules.VitalSigns(**readings)
    implausible = vitals_rules.implausible_fields(current)
    if implausible:
        raise ValidationError({field: [message] for field, message in implausible.items()})
    return current


def _vital_signs_of(entry: VitalSignsEntry) -> vitals_rules.VitalSigns:
    return vitals_rules.VitalSigns(**{name: getattr(entry, name) for name in vitals_rules.VITAL_SIGN_FIELDS})


@transaction.atomic
def change_rate(
    *,
    infusion_id: int,
    user: Any,
    rate_ml_per_h: Decimal,
    changed_at: Any = None,
    overrides: dict[str, str] | None = None,
) -> Infusion:
    infusion = _locked_infusion(infusion_id)
    if infusion.status != InfusionStatus.IN_PROGRESS:
        raise Conflict(f"This infusion is {infusion.get_status_display().lower()}; the rate changes while it runs.")
    changed_at = _time_after_last_change(infusion, changed_at, "changed_at")
    _check_rate_positive(rate_ml_per_h)
    stops = safety.rate_change_stops(infusion, rate_ml_per_h=rate_ml_per_h, at=changed_at)
    outcome = safety.enforce(
        stops, order=infusion.order, user=user, stage=Stage.RATE, overrides=overrides, at=changed_at
    )
    _open_rate_segment(infusion, rate_ml_per_h, changed_at, "titration", user)
    attribute_change(infusion, user)
    infusion.save(update_fields=["current_rate_ml_per_h", "updated_at"])
    safety.record(outcome, order=infusion.order, infusion=infusion, user=user, stage=Stage.RATE, at=changed_at)
    return infusion


@transaction.atomic
def pause_infusion(*, infusion_id: int, user: Any, paused_at: Any = None) -> Infusion:
    infusion = _locked_infusion(infusion_id)
    if infusion.status != InfusionStatus.IN_PROGRESS:
        raise Conflict(f"This infusion is {infusion.get_status_display().lower()}; only a running one can pause.")
    paused_at = _time_after_last_change(infusion, paused_at, "paused_at")
    _open_rate_segment(infusion, Decimal("0"), paused_at, "pause", user)
    infusion.status = InfusionStatus.PAUSED
    attribute_change(infusion, user)
    infusion.save(update_fields=["status", "current_rate_ml_per_h", "updated_at"])
    return infusion


def suggested_resume_rate_ml_per_h(infusion: Infusion) -> Decimal | None:
    """After a reaction, restart at half the rate at which it occurred (A5); else the rate before the pause."""
    half = safety.half_rate_after_reaction(infusion)
    if half is not None:
        return half
    last_running = infusion.rate_segments.filter(rate_ml_per_h__gt=0).order_by("-started_at", "-pk").first()
    return last_running.rate_ml_per_h if last_running else None


@transaction.atomic
def resume_infusion(
    *,
    infusion_id: int,
    user: Any,
    rate_ml_per_h: Decimal | None = None,
    resumed_at: Any = None,
    overrides: dict[str, str] | None = None,
) -> Infusion:
    infusion = _locked_infusion(infusion_id)
    if infusion.status != InfusionStatus.PAUSED:
        raise Conflict(f"This infusion is {infusion.get_status_display().lower()}; only a paused one resumes.")
    current = _open_segment(infusion)
    assert current is not None, "pausing opens a zero-rate segment, which stays open until the resume"
    resumed_at = _event_time(resumed_at, field="resumed_at", not_before=current.started_at, what_before="the pause")
    rate = rate_ml_per_h if rate_ml_per_h is not None else suggested_resume_rate_ml_per_h(infusion)
    if rate is None:
        raise ValidationError({"rate_ml_per_h": ["Enter the rate to resume at."]})
    _check_rate_positive(rate)
    stops = safety.resume_stops(infusion, rate_ml_per_h=rate)
    outcome = safety.enforce(
        stops, order=infusion.order, user=user, stage=Stage.RESUME, overrides=overrides, at=resumed_at
    )
    _open_rate_segment(infusion, rate, resumed_at, "resume", user)
    infusion.status = InfusionStatus.IN_PROGRESS
    attribute_change(infusion, user)
    infusion.save(update_fields=["status", "current_rate_ml_per_h", "updated_at"])
    safety.record(outcome, order=infusion.order, infusion=infusion, user=user, stage=Stage.RESUME, at=resumed_at)
    return infusion


def volume_infused_ml(infusion: Infusion, until: Any = None) -> Decimal:
    return _volume_from_segments(infusion, until)


def _volume_from_segments(infusion: Infusion, until: Any = None) -> Decimal:
    """mL given so far: each segment's rate times its duration (a pause counts nothing)."""
    until = until or timezone.now()
    total = Decimal("0")
    for segment in infusion.rate_segments.all():
        end = segment.ended_at or until
        seconds = max(end - segment.started_at, timedelta(0)) / timedelta(microseconds=1)
        total += segment.rate_ml_per_h * Decimal(seconds) / Decimal(3_600_000_000)
    return total.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@transaction.atomic
def record_reaction(
    *, infusion_id: int, user: Any, reaction: str, ctcae_grade: int, action_taken: str, noted_at: Any = None
) -> Any:
    action_taken = (action_taken or "").strip()
    errors: dict[str, list[str]] = {}
    codes = {code for code, _label in vitals_rules.REACTION_TYPES}
    if reaction not in codes:
        errors["reaction"] = [f"Unknown reaction {reaction!r}; choose one from the list."]
    if not isinstance(ctcae_grade, int) or not 1 <= ctcae_grade <= 5:
        errors["ctcae_grade"] = ["The CTCAE grade is 1 to 5."]
    if not action_taken:
        errors["action_taken"] = ["Say what was done (slowed, paused, stopped, treatment given)."]
    if errors:
        raise ValidationError(errors)
    infusion = _locked_infusion(infusion_id)
    if infusion.status == InfusionStatus.SCHEDULED:
        raise Conflict("The infusion has not started; record a reaction once it is running.")
    noted_at = _event_time(noted_at, field="noted_at", not_before=infusion.started_at, what_before="the start")
    stops = vitals_rules.reaction_stops_infusion(ctcae_grade, reaction)
    segment = (
        infusion.rate_segments.filter(started_at__lte=noted_at, rate_ml_per_h__gt=0).order_by("-started_at").first()
    )
    entry = Reaction(
        infusion=infusion,
        reaction=reaction,
        ctcae_grade=ctcae_grade,
        action_taken=action_taken,
        noted_at=noted_at,
        rate_at_reaction_ml_per_h=segment.rate_ml_per_h if segment else None,
        stopped_infusion=stops and infusion.status in RUNNING,
        recorded_by=user,
    )
    attribute_change(entry, user)
    entry.save()
    if entry.stopped_infusion:
        # Grade 3 or more, or anaphylaxis, ends this infusion for good (docs/clinical-rules.md §A5).
        _end_infusion(
            infusion,
            user,
            InfusionStatus.STOPPED,
            noted_at,
            reason=f"Reaction: {dict(vitals_rules.REACTION_TYPES)[reaction]}, CTCAE grade {ctcae_grade}",
        )
    if stops:
        hold_course(
            infusion.order,
            user,
            f"{dict(vitals_rules.REACTION_TYPES)[reaction]}, CTCAE grade {ctcae_grade} on day {infusion.day_number}",
        )
    return entry


def hold_course(order: Order, user: Any, why: str) -> bool:
    """§A10 course_on_hold: after a reaction of CTCAE grade >= 3 or anaphylaxis, or a renal decline or a hemoglobin
    fall (§A13), the course's days not yet started wait for a hematologist's review. With no day left there is
    nothing to hold (False)."""
    if not order.infusions.filter(status=InfusionStatus.SCHEDULED).exists():
        return False
    # The order as it is now, locked (a laboratory value may arrive while the order is being changed elsewhere), and
    # only the hold written: nothing else of the caller's copy is saved over a newer change.
    locked = Order.objects.select_for_update(of=("self",)).get(pk=order.pk)
    # A second reason while the first awaits review joins it: the review answers both.
    locked.hold_reason = f"{locked.hold_reason}; {why}" if locked.on_hold else why
    locked.hold_review_decision = ""
    locked.hold_review_reason = ""
    locked.hold_reviewed_by = None
    locked.hold_reviewed_at = None
    attribute_change(locked, user, reason="course on hold")
    locked.save(update_fields=[*HOLD_FIELDS, "updated_at"])
    for field in HOLD_FIELDS:
        setattr(order, field, getattr(locked, field))
    course_put_on_hold.send(sender=Order, order=locked)
    return True


HOLD_FIELDS = ("hold_reason", "hold_review_decision", "hold_review_reason", "hold_reviewed_by", "hold_reviewed_at")


def _end_infusion(infusion: Infusion, user: Any, status: str, at: Any, reason: str = "", volume: Any = None) -> None:
    segment = _open_segment(infusion)
    if segment is not None:
        segment.ended_at = at
        attribute_change(segment, user)
        segment.save(update_fields=["ended_at"])
    infusion.status = status
    infusion.current_rate_ml_per_h = None
    if status == InfusionStatus.COMPLETED:
        infusion.completed_at = at
        infusion.completed_by = user
    else:
        infusion.stopped_at = at
        infusion.stop_reason = reason
    infusion.volume_infused_ml = volume if volume is not None else volume_infused_ml(infusion, until=at)
    attribute_change(infusion, user)
    infusion.save()
    order = infusion.order
    given = (
        order.infusions.exclude(pk=infusion.pk)
        .filter(started_at__isnull=False)
        .exclude(status__in=[InfusionStatus.SCHEDULED, *RUNNING])
    )
    # A course begun elsewhere had its first infusion there: its checks were written at verification (A6, §A9).
    begun_elsewhere = order.outside_doses.exists()
    first_of_order = infusion.started_at is not None and not given.exists() and not begun_elsewhere
    infusion_ended.send(sender=Infusion, infusion=infusion, first_of_order=first_of_order, user=user)
    _complete_order_when_no_day_is_left(order, user)


def _complete_order_when_no_day_is_left(order: Order, user: Any) -> None:
    """An order is completed once none of its days is still scheduled or running (given, stopped or withheld)."""
    if not order.infusions.filter(status__in=[InfusionStatus.SCHEDULED, *RUNNING]).exists():
        order.status = OrderStatus.COMPLETED
        attribute_change(order, user)
        order.save(update_fields=["status", "updated_at"])


@transaction.atomic
def complete_infusion(
    *,
    infusion_id: int,
    user: Any,
    completed_at: Any = None,
    volume_infused_ml: Decimal | None = None,
    overrides: dict[str, str] | None = None,
) -> Infusion:
    infusion = _locked_infusion(infusion_id)
    if infusion.status not in RUNNING:
        raise Conflict(f"This infusion is {infusion.get_status_display().lower()}; only a running one completes.")
    completed_at = _time_after_last_change(infusion, completed_at, "completed_at")
    if volume_infused_ml is not None and volume_infused_ml < 0:
        raise ValidationError({"volume_infused_ml": ["The volume cannot be negative."]})
    if volume_infused_ml is not None and volume_infused_ml > MAX_VOLUME_INFUSED_ML:
        # Not a clinical bound (§A10 volume_mismatch judges the volume against the plan): the most the record holds.
        raise ValidationError(
            {"volume_infused_ml": [f"The volume cannot be more than {MAX_VOLUME_INFUSED_ML} mL: check the number."]}
        )
    volume = volume_infused_ml if volume_infused_ml is not None else _volume_from_segments(infusion, completed_at)
    stops = safety.completion_stops(infusion, volume_infused_ml=volume)
    outcome = safety.enforce(
        stops, order=infusion.order, user=user, stage=Stage.COMPLETE, overrides=overrides, at=completed_at
    )
    _end_infusion(infusion, user, InfusionStatus.COMPLETED, completed_at, volume=volume)
    safety.record(outcome, order=infusion.order, infusion=infusion, user=user, stage=Stage.COMPLETE, at=completed_at)
    return infusion


@transaction.atomic
def stop_infusion(*, infusion_id: int, user: Any, reason: str, stopped_at: Any = None) -> Infusion:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Give the reason for stopping."]})
    infusion = _locked_infusion(infusion_id)
    if infusion.status not in RUNNING:
        raise Conflict(f"This infusion is {infusion.get_status_display().lower()}; only a running one is stopped.")
    stopped_at = _time_after_last_change(infusion, stopped_at, "stopped_at")
    _end_infusion(infusion, user, InfusionStatus.STOPPED, stopped_at, reason=reason)
    return infusion


@transaction.atomic
def withhold_infusion(*, infusion_id: int, user: Any, reason: str) -> Infusion:
    """Withhold a scheduled day (docs/clinical-rules.md §A1: only the day-2 dose of two_days_1g_per_kg, when the latest
    counted platelet result shows a response; refused otherwise with the hard stop ``withhold_not_indicated``). The
    contract has no "withheld" status: it is stopped before starting."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Give the reason for withholding this dose."]})
    infusion = _locked_infusion(infusion_id)
    if infusion.status != InfusionStatus.SCHEDULED:
        raise Conflict(f"This infusion is {infusion.get_status_display().lower()}; only a scheduled dose is withheld.")
    # A1 (day 2+, a regimen that allows it, a counted response) is judged where the results live, in monitoring.
    answers: list[Any] = [answer for _, answer in withhold_requested.send(sender=Infusion, infusion=infusion)]
    if not answers:
        raise Conflict("The platelet response cannot be checked, so no dose is withheld.")
    refusals = [answer for answer in answers if isinstance(answer, Stop)]
    if refusals:
        raise SafetyStopped(refusals)
    infusion.status = InfusionStatus.STOPPED
    infusion.stopped_at = timezone.now()
    infusion.stop_reason = f"Withheld: {reason}"
    infusion.volume_infused_ml = Decimal("0")
    attribute_change(infusion, user)
    infusion.save()
    _complete_order_when_no_day_is_left(infusion.order, user)
    # The day ends without being given; the course may have ended with it (the response is worked out again).
    infusion_ended.send(sender=Infusion, infusion=infusion, first_of_order=False, user=user)
    return infusion


def bedside_dry_run(
    *,
    infusion_id: int,
    user: Any,
    action: str,
    at: Any = None,
    rate_ml_per_h: Decimal | None = None,
    volume_infused_ml: Decimal | None = None,
    checklist: dict[str, Any] | None = None,
    vials: list[dict[str, Any]] | None = None,
    barcodes: list[str] | None = None,
    overrides: dict[str, str] | None = None,
) -> dict[str, Any]:
    """What a bedside action would meet now, with the same defaults the action takes (the plan's first step, the
    resume rate, the volume from the segments); nothing changes (docs/api.md "Dry runs"). A start's vials are
    judged when the dry run names them (typed or scanned), so a nurse learns of a wrong product before the tap;
    without them the vials are not judged, as the page asks before any vial is scanned."""
    infusion = Infusion.objects.select_related("order__patient", "order__product", "order__weight_measurement").get(
        pk=infusion_id
    )
    order = infusion.order
    moment = at or timezone.now()
    stops: list[Any]
    if action == "start":
        if rate_ml_per_h is None:
            rate_ml_per_h = _plan_first_rate(order)
        missing = (
            [label for code, label in checklist_items(order).items() if checklist.get(code) is not True]
            if checklist
            else []
        )
        given = _vials_named(vials, barcodes)
        stops = safety.start_stops(
            infusion,
            start_at=moment,
            rate_ml_per_h=rate_ml_per_h,
            missing_checklist=missing,
            vials=[vial.given for vial in given] if given is not None else None,
        )
        stops += list(orders.record_changed(order, now=moment)[0].stops)
        stage = Stage.START
    elif action == "rate":
        if rate_ml_per_h is None:
            raise ValidationError({"rate_ml_per_h": ["Enter the new rate."]})
        stops, stage = safety.rate_change_stops(infusion, rate_ml_per_h=rate_ml_per_h, at=moment), Stage.RATE
    elif action == "resume":
        rate = rate_ml_per_h if rate_ml_per_h is not None else suggested_resume_rate_ml_per_h(infusion)
        stops = safety.resume_stops(infusion, rate_ml_per_h=rate) if rate is not None else []
        stage = Stage.RESUME
    elif action == "complete":
        volume = volume_infused_ml if volume_infused_ml is not None else _volume_from_segments(infusion, moment)
        stops, stage = safety.completion_stops(infusion, volume_infused_ml=volume), Stage.COMPLETE
    else:
        raise ValidationError({"action": ["Choose start, rate, resume or complete."]})
    return safety.dry_run(stops, order=order, user=user, stage=stage, overrides=overrides)
