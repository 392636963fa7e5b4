"""Orders and infusions: one service function per state change (design.md habit 2)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from infusions import dosing
from infusions.models import Infusion, InfusionStatus, Order, OrderStatus, Product
from infusions.signals import infusion_ended, order_cancelled, vitals_alert_raised
from ivig_tracker.errors import Conflict
from patients.models import Patient, WeightMeasurement

ORDER_INPUT_FIELDS = (
    "patient",
    "regimen",
    "product",
    "baseline_platelet_count",
    "first_infusion_on",
    "emergency",
    "iga_override_reason",
    "previous_order",
    "notes",
    "dosing_weight_override_kg",
    "dosing_weight_override_reason",
)


def dosing_config() -> dosing.DosingConfig:
    return dosing.DosingConfig(policy=dosing.DosingWeightPolicy(settings.IVIG_DOSING_WEIGHT_POLICY))


# --- Working out a dose (shared by the preview, creation and recalculation) ------------------------------


def _current_weight(patient: Patient, on: date) -> WeightMeasurement:
    weight = patient.current_weight
    if weight is None:
        raise ValidationError({"patient": ["The patient has no weight on record: weigh the patient first."]})
    max_age = timedelta(days=settings.IVIG_MAX_WEIGHT_AGE_DAYS)
    if timezone.now() - weight.measured_at > max_age:
        raise ValidationError(
            {
                "patient": [
                    f"The latest weight ({weight.weight_kg} kg, {timezone.localtime(weight.measured_at):%Y-%m-%d}) "
                    f"is older than {settings.IVIG_MAX_WEIGHT_AGE_DAYS} days: record a current weight."
                ]
            }
        )
    return weight


def patient_facts(patient: Patient, weight: WeightMeasurement, on: date) -> dosing.PatientFacts:
    if patient.height_cm is None:
        raise ValidationError({"patient": ["The patient has no height on record: measure the height first."]})
    return dosing.PatientFacts(
        sex=patient.sex,
        age_years=patient.age_on(on),
        height_cm=patient.height_cm,
        actual_weight_kg=weight.weight_kg,
        pregnant=patient.pregnant,
        cardiac_dysfunction=patient.cardiac_dysfunction,
        renal_impairment=patient.renal_impairment,
        thrombosis_risk=patient.thrombosis_risk,
        iga_deficient=patient.iga_deficient,
    )


def _check_order_inputs(data: dict[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    patient: Patient = data["patient"]
    product: Product = data["product"]
    regimen = data["regimen"]
    if regimen not in dosing.REGIMENS:
        errors["regimen"] = [f"Unknown regimen {regimen!r}."]
    if not product.orderable:
        errors["product"] = [f"{product.name} is not on the formulary (discontinued or withdrawn)."]
    previous: Order | None = data.get("previous_order")
    if regimen == "repeat_1g_per_kg" and previous is None:
        errors["previous_order"] = ["A repeat dose must reference the patient's earlier order."]
    if previous is not None and previous.patient_id != patient.pk:
        errors["previous_order"] = ["The previous order belongs to another patient."]
    if previous is not None and previous.status == OrderStatus.CANCELLED:
        errors["previous_order"] = ["The previous order was cancelled."]
    iga_override_reason = (data.get("iga_override_reason") or "").strip()
    if dosing.iga_product_conflict(patient.iga_deficient, product.facts()) and not iga_override_reason:
        errors["iga_override_reason"] = [
            f"The patient is IgA-deficient and {product.name} is not IgA-depleted: choose an IgA-depleted product "
            "or record the reason for overriding (for example anti-IgA antibodies negative)."
        ]
    override = data.get("dosing_weight_override_kg")
    if override is not None and not (data.get("dosing_weight_override_reason") or "").strip():
        errors["dosing_weight_override_reason"] = ["Give the reason for overriding the dosing weight."]
    baseline = data.get("baseline_platelet_count")
    if baseline is None:
        errors["baseline_platelet_count"] = ["The baseline platelet count is required (IWG response baseline)."]
    elif not 0 <= baseline <= 2000:
        errors["baseline_platelet_count"] = ["A platelet count must be between 0 and 2000 ×10⁹/L."]
    if errors:
        raise ValidationError(errors)


def calculate(data: dict[str, Any]) -> tuple[dosing.DoseCalculation, WeightMeasurement, dosing.PatientFacts]:
    """Validate an order's inputs and work out its dose, without saving anything (the form's live preview)."""
    _check_order_inputs(data)
    patient: Patient = data["patient"]
    on = data.get("first_infusion_on") or timezone.localdate()
    weight = _current_weight(patient, on)
    facts = patient_facts(patient, weight, on)
    try:
        calculation = dosing.calculate_dose(
            facts,
            data["product"].facts(),
            data["regimen"],
            dosing_config(),
            emergency=bool(data.get("emergency")),
            dosing_weight_override_kg=data.get("dosing_weight_override_kg"),
            iga_override_reason=(data.get("iga_override_reason") or "").strip(),
        )
    except dosing.DosingError as exc:
        raise ValidationError({exc.field: [str(exc)]}) from exc
    return calculation, weight, facts


def _q(value: Decimal | None, places: str) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Decimal(places))


def working_fields(
    calculation: dosing.DoseCalculation, weight: WeightMeasurement, facts: dosing.PatientFacts
) -> dict[str, Any]:
    dw = calculation.dosing_weight
    return {
        "weight_measurement": weight,
        "actual_weight_kg": weight.weight_kg,
        "height_cm": facts.height_cm,
        "age_years": facts.age_years,
        "dosing_weight_policy": str(dw.policy),
        "dosing_weight_kg": _q(dw.dosing_weight_kg, "0.01"),
        "dosing_weight_basis": dw.basis,
        "dosing_weight_exclusion": dw.exclusion or "",
        "dosing_weight_formula": dw.formula,
        "ideal_body_weight_kg": _q(dw.ideal_body_weight_kg, "0.01"),
        "adjusted_body_weight_kg": _q(dw.adjusted_body_weight_kg, "0.01"),
        "bmi": _q(dw.bmi, "0.1"),
        "dose_per_day_g": _q(calculation.dose_per_day_g, "0.01"),
        "rounded_dose_per_day_g": _q(calculation.rounded_dose_per_day_g, "0.01"),
        "rounding_step_g": calculation.rounding_step_g,
        "deviation_percent": _q(calculation.deviation_percent, "0.1"),
        "partial_vial": calculation.partial_vial,
        "days": calculation.days,
        "total_calculated_g": _q(calculation.total_calculated_g, "0.01"),
        "total_dose_g": _q(calculation.total_dose_g, "0.01"),
        "vials_per_day": [{"size_g": float(v.size_g), "count": v.count} for v in calculation.vials_per_day],
        "volume_per_day_ml": _q(calculation.volume_per_day_ml, "0.1"),
        "rate_plan": rate_plan_json(calculation.rate_plan),
        "warnings": [{"code": w.code, "message": w.message} for w in calculation.warnings],
        "calculated_at": timezone.now(),
    }


# What a calculation stores on an order; the order form's preview and the order page show the same names.
WORKING_FIELDS = (
    "weight_measurement",
    "actual_weight_kg",
    "height_cm",
    "age_years",
    "dosing_weight_policy",
    "dosing_weight_kg",
    "dosing_weight_basis",
    "dosing_weight_exclusion",
    "dosing_weight_formula",
    "ideal_body_weight_kg",
    "adjusted_body_weight_kg",
    "bmi",
    "dose_per_day_g",
    "rounded_dose_per_day_g",
    "rounding_step_g",
    "deviation_percent",
    "partial_vial",
    "days",
    "total_calculated_g",
    "total_dose_g",
    "vials_per_day",
    "volume_per_day_ml",
    "rate_plan",
    "warnings",
    "calculated_at",
)


def rate_plan_json(plan: dosing.RatePlan | None) -> dict[str, Any] | None:
    if plan is None:
        return None
    data = asdict(plan)
    return {
        "step_up_interval_min": data["step_up_interval_min"],
        "max_rate_ml_per_h": float(data["max_rate_ml_per_h"]),
        "at_risk_capped": data["at_risk_capped"],
        "basis_weight_kg": float(_q(data["basis_weight_kg"], "0.01") or 0),
        "steps": [
            {
                "rate_mg_per_kg_min": float(step["rate_mg_per_kg_min"]),
                "rate_ml_per_kg_min": float(step["rate_ml_per_kg_min"]),
                "rate_ml_per_h": float(step["rate_ml_per_h"]),
            }
            for step in data["steps"]
        ],
    }


# --- Transitions -----------------------------------------------------------------------------------------


@transaction.atomic
def create_order(*, data: dict[str, Any], user: Any) -> Order:
    """Draft an order with its working frozen (api-v1 Orders; clinical.md A1–A4)."""
    calculation, weight, facts = calculate(data)
    order = Order(
        **{field: data[field] for field in ORDER_INPUT_FIELDS if field in data and data[field] is not None},
        status=OrderStatus.DRAFT,
        created_by=user,
        **working_fields(calculation, weight, facts),
    )
    order.iga_override_reason = (data.get("iga_override_reason") or "").strip()
    order.full_clean(exclude=["weight_measurement", "created_by"])
    order._history_user = user
    order.save()
    return order


@transaction.atomic
def recalculate_order(*, order_id: int, user: Any) -> Order:
    """Work the dose out again with today's weight, catalogue and policy; the old working stays in history."""
    order = Order.objects.select_for_update().select_related("patient", "product").get(pk=order_id)
    if order.status != OrderStatus.DRAFT:
        raise Conflict(f"Only a draft order can be recalculated; this one is {order.get_status_display().lower()}.")
    data = {field: getattr(order, field) for field in ORDER_INPUT_FIELDS}
    calculation, weight, facts = calculate(data)
    for field, value in working_fields(calculation, weight, facts).items():
        setattr(order, field, value)
    order._history_user = user
    order._change_reason = "recalculated"
    order.save()
    return order


@transaction.atomic
def verify_order(*, order_id: int, user: Any) -> Order:
    """A pharmacist or a second hematologist verifies; verification schedules one infusion per course day."""
    order = Order.objects.select_for_update().select_related("patient").get(pk=order_id)
    if order.created_by_id == user.pk:
        raise PermissionDenied("An order is verified by a pharmacist or a second hematologist, never its prescriber.")
    if order.status != OrderStatus.DRAFT:
        raise Conflict(f"This order is {order.get_status_display().lower()}; only a draft can be verified.")
    if not order.emergency and order.patient.serum_iga_mg_dl is None:
        raise Conflict(
            "The patient has no serum IgA result: record it before verifying (only emergency orders may go ahead "
            "without it)."
        )
    order.status = OrderStatus.VERIFIED
    order.verified_by = user
    order.verified_at = timezone.now()
    order._history_user = user
    order.save()
    volume = order.volume_per_day_ml
    infusions = [
        Infusion(
            order=order,
            day_number=day,
            scheduled_for=order.first_infusion_on + timedelta(days=day - 1),
            dose_g=order.rounded_dose_per_day_g,
            volume_ml=volume,
        )
        for day in range(1, order.days + 1)
    ]
    for infusion in infusions:
        infusion._history_user = user
        infusion.save()
    return order


@transaction.atomic
def cancel_order(*, order_id: int, user: Any, reason: str) -> Order:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Give the reason for cancelling."]})
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.status in {OrderStatus.COMPLETED, OrderStatus.CANCELLED}:
        raise Conflict(f"This order is already {order.get_status_display().lower()}.")
    running = order.infusions.filter(status__in=[InfusionStatus.IN_PROGRESS, InfusionStatus.PAUSED])
    if running.exists():
        raise Conflict("An infusion of this order is running: stop it at the bedside before cancelling the order.")
    order.status = OrderStatus.CANCELLED
    order.cancel_reason = reason
    order.cancelled_by = user
    order.cancelled_at = timezone.now()
    order._history_user = user
    order.save()
    # The contract has no "cancelled" infusion status: infusions not yet given are stopped with the reason.
    for infusion in order.infusions.select_for_update().filter(status=InfusionStatus.SCHEDULED):
        infusion.status = InfusionStatus.STOPPED
        infusion.stop_reason = f"Order cancelled: {reason}"
        infusion._history_user = user
        infusion.save()
    order_cancelled.send(sender=Order, order=order)
    return order


# --- Bedside: start, vitals, rate, pause/resume, reactions, completion (clinical.md A4–A5) -----------------

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
RUNNING = (InfusionStatus.IN_PROGRESS, InfusionStatus.PAUSED)


def _event_time(value: Any, *, field: str, not_before: Any = None, what_before: str = "") -> Any:
    """Timestamps default to now, may be in the past (late entry), never in the future, never before the
    previous event of the infusion (api-v1 Infusions)."""
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


def _open_segment(infusion: Infusion) -> Any:
    return infusion.rate_segments.filter(ended_at__isnull=True).first()


def _open_rate_segment(infusion: Infusion, rate: Decimal, at: Any, reason: str, user: Any) -> None:
    from infusions.models import RateSegment

    current = _open_segment(infusion)
    if current is not None:
        current.ended_at = at
        current._history_user = user
        current.save(update_fields=["ended_at"])
    segment = RateSegment(infusion=infusion, rate_ml_per_h=rate, started_at=at, reason=reason, recorded_by=user)
    segment._history_user = user
    segment.save()
    infusion.current_rate_ml_per_h = rate


def max_rate_ml_per_h(order: Order) -> Decimal | None:
    plan = order.rate_plan
    return Decimal(str(plan["max_rate_ml_per_h"])) if plan else None


def _check_rate(order: Order, rate: Decimal) -> None:
    if rate <= 0:
        raise ValidationError({"rate_ml_per_h": ["The rate must be above 0 mL/h (use pause to stop the pump)."]})
    maximum = max_rate_ml_per_h(order)
    if maximum is not None and rate > maximum:
        capped = " (the at-risk cap)" if order.rate_plan and order.rate_plan.get("at_risk_capped") else ""
        raise ValidationError(
            {"rate_ml_per_h": [f"{rate} mL/h is above the plan's maximum of {maximum} mL/h{capped}."]}
        )


@transaction.atomic
def start_infusion(
    *,
    infusion_id: int,
    user: Any,
    checklist: dict[str, Any],
    lot_numbers: list[str],
    started_at: Any = None,
    rate_ml_per_h: Decimal | None = None,
    vials: list[dict[str, Any]] | None = None,
) -> Infusion:
    from infusions.models import VialLot

    errors: dict[str, list[str]] = {}
    missing = [label for code, label in CHECKLIST_ITEMS.items() if (checklist or {}).get(code) is not True]
    if missing:
        errors["checklist"] = ["Confirm every item before starting: " + "; ".join(missing) + "."]
    lots = [str(lot).strip() for lot in (lot_numbers or []) if str(lot).strip()]
    if not lots:
        errors["lot_numbers"] = ["Record the lot number of at least one vial (plasma product traceability)."]
    expired = [v for v in (vials or []) if v.get("expiry_date") and v["expiry_date"] < timezone.localdate()]
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
    if order.status not in (OrderStatus.VERIFIED, OrderStatus.IN_PROGRESS):
        raise Conflict(f"The order is {order.get_status_display().lower()}; only a verified order is given.")
    earlier = order.infusions.filter(
        day_number__lt=infusion.day_number, status__in=[InfusionStatus.SCHEDULED, *RUNNING]
    )
    if earlier.exists():
        raise Conflict("An earlier day of this course has not been completed or stopped yet.")
    baseline = infusion.vitals.order_by("taken_at", "pk").first()
    if baseline is None:
        raise Conflict("Take a baseline set of vital signs before starting the infusion.")
    started_at = _event_time(
        started_at, field="started_at", not_before=baseline.taken_at, what_before="the baseline vital signs"
    )
    if rate_ml_per_h is None:
        if not order.rate_plan:
            raise ValidationError({"rate_ml_per_h": ["This product has no rate plan: enter the starting rate."]})
        rate_ml_per_h = Decimal(str(order.rate_plan["steps"][0]["rate_ml_per_h"]))
    _check_rate(order, rate_ml_per_h)

    infusion.status = InfusionStatus.IN_PROGRESS
    infusion.started_at = started_at
    infusion.started_by = user
    infusion.checklist = {
        **{code: True for code in CHECKLIST_ITEMS},
        "confirmed_by": user.get_username(),
        "confirmed_at": timezone.now().isoformat(),
    }
    _open_rate_segment(infusion, rate_ml_per_h, started_at, "start", user)
    infusion._history_user = user
    infusion.save()
    vial_details = {v["lot_number"]: v for v in (vials or [])}
    for lot in lots:
        detail = vial_details.get(lot, {})
        vial = VialLot(
            infusion=infusion,
            lot_number=lot,
            expiry_date=detail.get("expiry_date"),
            vial_size_g=detail.get("vial_size_g"),
            recorded_by=user,
        )
        vial._history_user = user
        vial.save()
    if order.status == OrderStatus.VERIFIED:
        order.status = OrderStatus.IN_PROGRESS
        order._history_user = user
        order.save(update_fields=["status", "updated_at"])
    return infusion


# Tries at storing a vitals set. A refused write means another set became the infusion's earliest while this one
# was evaluated (a late entry, or another nurse's first set); a third try would need two such coincidences within
# one request.
VITALS_BASELINE_ATTEMPTS = 3


def record_vitals(*, infusion_id: int, user: Any, values: dict[str, Any], taken_at: Any = None) -> Any:
    """Store a set of vital signs with its alerts. No lock on the infusion: two nurses recording at the same
    moment both land. A fixed number of statements whatever the history length (``infusions/vitals_sql.py``):
    on PostgreSQL usually one, the entry with its history row; a high alert's notification commits with them."""
    from infusions import vitals_rules, vitals_sql
    from infusions.models import VitalSignsEntry

    taken_at = _event_time(taken_at, field="taken_at")
    try:
        current = vitals_rules.VitalSigns(
            temperature_c=Decimal(str(values["temperature_c"])),
            heart_rate_bpm=int(values["heart_rate_bpm"]),
            systolic_bp_mmhg=int(values["systolic_bp_mmhg"]),
            diastolic_bp_mmhg=int(values["diastolic_bp_mmhg"]),
            respiratory_rate_per_min=int(values["respiratory_rate_per_min"]),
            spo2_percent=int(values["spo2_percent"]),
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise ValidationError({"non_field_errors": [f"Incomplete or malformed vital signs: {exc}"]}) from exc
    implausible = vitals_rules.implausible_fields(current)
    if implausible:
        raise ValidationError({field: [message] for field, message in implausible.items()})
    for _attempt in range(VITALS_BASELINE_ATTEMPTS):
        baseline = vitals_sql.baseline_of(infusion_id)
        compared_with = None
        # A late entry taken before the first set is itself the earliest: it has no baseline to compare with.
        if baseline.taken_at is not None and baseline.taken_at <= taken_at:
            compared_with = vitals_rules.VitalSigns(**baseline.vital_signs)
        alerts = [
            {
                "code": alert.code,
                "severity": str(alert.severity),
                "message": alert.message,
                "suggested_action": str(alert.suggested_action),
            }
            for alert in vitals_rules.evaluate_vitals(current, compared_with)
        ]
        severities = {alert["severity"] for alert in alerts}
        entry = VitalSignsEntry(
            infusion_id=infusion_id,
            taken_at=taken_at,
            temperature_c=current.temperature_c,
            heart_rate_bpm=current.heart_rate_bpm,
            systolic_bp_mmhg=current.systolic_bp_mmhg,
            diastolic_bp_mmhg=current.diastolic_bp_mmhg,
            respiratory_rate_per_min=current.respiratory_rate_per_min,
            spo2_percent=current.spo2_percent,
            alerts=alerts,
            highest_severity="high" if "high" in severities else ("warning" if severities else ""),
            recorded_by=user,
        )
        if not alerts:
            if vitals_sql.insert_entry_with_history(entry, user, baseline=baseline):
                return entry
            continue
        with transaction.atomic():
            if vitals_sql.insert_entry_with_history(entry, user, baseline=baseline):
                vitals_alert_raised.send(
                    sender=VitalSignsEntry,
                    entry=entry,
                    alerts=alerts,
                    infusion=Infusion.objects.select_related("order").get(pk=infusion_id),
                )
                return entry
    raise Conflict("Other sets of vital signs were being recorded for this infusion at the same moment; submit again.")


@transaction.atomic
def change_rate(*, infusion_id: int, user: Any, rate_ml_per_h: Decimal, changed_at: Any = None) -> Infusion:
    infusion = _locked_infusion(infusion_id)
    if infusion.status != InfusionStatus.IN_PROGRESS:
        raise Conflict(f"This infusion is {infusion.get_status_display().lower()}; the rate changes while it runs.")
    changed_at = _time_after_last_change(infusion, changed_at, "changed_at")
    _check_rate(infusion.order, rate_ml_per_h)
    _open_rate_segment(infusion, rate_ml_per_h, changed_at, "titration", user)
    infusion._history_user = user
    infusion.save(update_fields=["current_rate_ml_per_h", "updated_at"])
    return infusion


@transaction.atomic
def pause_infusion(*, infusion_id: int, user: Any, paused_at: Any = None) -> Infusion:
    infusion = _locked_infusion(infusion_id)
    if infusion.status != InfusionStatus.IN_PROGRESS:
        raise Conflict(f"This infusion is {infusion.get_status_display().lower()}; only a running one can pause.")
    paused_at = _time_after_last_change(infusion, paused_at, "paused_at")
    _open_rate_segment(infusion, Decimal("0"), paused_at, "pause", user)
    infusion.status = InfusionStatus.PAUSED
    infusion._history_user = user
    infusion.save(update_fields=["status", "current_rate_ml_per_h", "updated_at"])
    return infusion


def suggested_resume_rate_ml_per_h(infusion: Infusion) -> Decimal | None:
    """After a reaction, restart at half the rate at which it occurred (A5); else the rate before the pause."""
    from infusions import vitals_rules

    reaction = infusion.reactions.exclude(rate_at_reaction_ml_per_h=None).order_by("-noted_at", "-pk").first()
    last_running = infusion.rate_segments.filter(rate_ml_per_h__gt=0).order_by("-started_at", "-pk").first()
    if reaction is not None and (last_running is None or reaction.noted_at >= last_running.started_at):
        return vitals_rules.restart_rate_ml_per_h(reaction.rate_at_reaction_ml_per_h)
    return last_running.rate_ml_per_h if last_running else None


@transaction.atomic
def resume_infusion(
    *, infusion_id: int, user: Any, rate_ml_per_h: Decimal | None = None, resumed_at: Any = None
) -> Infusion:
    infusion = _locked_infusion(infusion_id)
    if infusion.status != InfusionStatus.PAUSED:
        raise Conflict(f"This infusion is {infusion.get_status_display().lower()}; only a paused one resumes.")
    current = _open_segment(infusion)
    resumed_at = _event_time(resumed_at, field="resumed_at", not_before=current.started_at, what_before="the pause")
    rate = rate_ml_per_h if rate_ml_per_h is not None else suggested_resume_rate_ml_per_h(infusion)
    if rate is None:
        raise ValidationError({"rate_ml_per_h": ["Enter the rate to resume at."]})
    _check_rate(infusion.order, rate)
    _open_rate_segment(infusion, rate, resumed_at, "resume", user)
    infusion.status = InfusionStatus.IN_PROGRESS
    infusion._history_user = user
    infusion.save(update_fields=["status", "current_rate_ml_per_h", "updated_at"])
    return infusion


def volume_infused_ml(infusion: Infusion, until: Any = None) -> Decimal:
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
    from infusions import vitals_rules
    from infusions.models import Reaction

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
    entry._history_user = user
    entry.save()
    if entry.stopped_infusion:
        # Grade 3 or more, or anaphylaxis, ends this infusion for good (issue 4; clinical.md A5).
        _end_infusion(
            infusion,
            user,
            InfusionStatus.STOPPED,
            noted_at,
            reason=f"Reaction: {dict(vitals_rules.REACTION_TYPES)[reaction]}, CTCAE grade {ctcae_grade}",
        )
    return entry


def _end_infusion(infusion: Infusion, user: Any, status: str, at: Any, reason: str = "", volume: Any = None) -> None:
    segment = _open_segment(infusion)
    if segment is not None:
        segment.ended_at = at
        segment._history_user = user
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
    infusion._history_user = user
    infusion.save()
    order = infusion.order
    given = (
        order.infusions.exclude(pk=infusion.pk)
        .filter(started_at__isnull=False)
        .exclude(status__in=[InfusionStatus.SCHEDULED, *RUNNING])
    )
    first_of_order = infusion.started_at is not None and not given.exists()
    infusion_ended.send(sender=Infusion, infusion=infusion, first_of_order=first_of_order)
    if not order.infusions.filter(status__in=[InfusionStatus.SCHEDULED, *RUNNING]).exists():
        order.status = OrderStatus.COMPLETED
        order._history_user = user
        order.save(update_fields=["status", "updated_at"])


@transaction.atomic
def complete_infusion(
    *, infusion_id: int, user: Any, completed_at: Any = None, volume_infused_ml: Decimal | None = None
) -> Infusion:
    infusion = _locked_infusion(infusion_id)
    if infusion.status not in RUNNING:
        raise Conflict(f"This infusion is {infusion.get_status_display().lower()}; only a running one completes.")
    completed_at = _time_after_last_change(infusion, completed_at, "completed_at")
    if volume_infused_ml is not None and volume_infused_ml < 0:
        raise ValidationError({"volume_infused_ml": ["The volume cannot be negative."]})
    _end_infusion(infusion, user, InfusionStatus.COMPLETED, completed_at, volume=volume_infused_ml)
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
    """Withhold a scheduled day (clinical.md A1: the day-2 dose of two_days_1g_per_kg may be withheld when the
    24 h count shows response). The contract has no "withheld" status: it is stopped before starting."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Give the reason for withholding this dose."]})
    infusion = _locked_infusion(infusion_id)
    if infusion.status != InfusionStatus.SCHEDULED:
        raise Conflict(f"This infusion is {infusion.get_status_display().lower()}; only a scheduled dose is withheld.")
    infusion.status = InfusionStatus.STOPPED
    infusion.stopped_at = timezone.now()
    infusion.stop_reason = f"Withheld: {reason}"
    infusion.volume_infused_ml = Decimal("0")
    infusion._history_user = user
    infusion.save()
    order = infusion.order
    if not order.infusions.filter(status__in=[InfusionStatus.SCHEDULED, *RUNNING]).exists():
        order.status = OrderStatus.COMPLETED
        order._history_user = user
        order.save(update_fields=["status", "updated_at"])
    return infusion
