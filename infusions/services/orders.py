"""Prescribing: working out a dose, and an order's life from draft to verified, or cancelled
(docs/clinical-rules.md §A1–A4; docs/api.md "Orders")."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, SafetyStopped
from core.history import attribute_change, update_with_history
from core.stops import Kind, Stage, Stop
from infusions import dosing, safety_rules
from infusions.models import Infusion, InfusionStatus, Order, OrderStatus, OutsideDose, Product
from infusions.services import safety
from infusions.signals import infusion_ended, order_cancelled, order_returned, order_verified
from patients import rules as patient_rules
from patients.models import Patient, WeightMeasurement
from patients.rules import RENAL_FACTORS, RISK_FACTORS, THROMBOSIS_FACTORS

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
    "prepared_concentration_percent",
    "replaces",
    "baseline_collected_at",
    "estimated_weight_kg",
)


def dosing_config() -> dosing.DosingConfig:
    return dosing.DosingConfig(policy=dosing.DosingWeightPolicy(settings.IVIG_DOSING_WEIGHT_POLICY))


# --- Working out a dose (shared by the preview, creation and recalculation) ------------------------------


def _current_weight(patient: Patient) -> WeightMeasurement:
    """The most recent weight (A2). How old it may be is the weight_stale stop's question (§A9)."""
    weight = patient.current_weight
    if weight is None:
        raise SafetyStopped(safety_rules.weight_missing())
    return weight


def patient_facts(
    patient: Patient, weight: WeightMeasurement | None, on: date, *, estimated_weight_kg: Decimal | None = None
) -> dosing.PatientFacts:
    """The patient's facts for dosing on ``weight``, or on an emergency order's ``estimated_weight_kg`` when there is
    no measured weight behind it. An emergency order with an estimated weight is dosed without a height (§A9
    "Emergency orders", exclusion emergency_no_height), also once its remaining days go on the measured weight."""
    if patient.height_cm is None and estimated_weight_kg is None:
        raise SafetyStopped(safety_rules.height_missing())
    weight_kg = weight.weight_kg if weight is not None else estimated_weight_kg
    if weight_kg is None:
        raise SafetyStopped(safety_rules.weight_missing())
    # Pregnancy counts while open and for 6 weeks after it (A13): the patient's flags say so, not the raw field.
    flags = patient.risk_flags
    low_egfr = _low_egfr(patient)
    return dosing.PatientFacts(
        sex=patient.sex,
        age_years=patient.age_on(on),
        height_cm=patient.height_cm,
        actual_weight_kg=weight_kg,
        pregnant=patient.pregnancy_open,
        cardiac_dysfunction=patient.cardiac_dysfunction,
        renal_impairment=patient.renal_impairment,
        thrombosis_risk=patient.thrombosis_risk,
        iga_deficient=patient.iga_deficient,
        other_risk_factors=tuple(label for code, label in RISK_FACTORS if code not in DOSING_FLAGS and flags[code])
        + low_egfr,
        # §A13 "Fluid": the order's fluid advice (pre-hydration, or individualised fluids with cardiac dysfunction).
        renal_risk_factor=bool(low_egfr) or any(flags[code] for code in RENAL_FACTORS),
        thrombosis_risk_factor=any(flags[code] for code in THROMBOSIS_FACTORS),
    )


# The eGFR factor is judged in the safety module, which verification and the lab checks share.
_low_egfr = safety.low_egfr

# The at-risk factors dosing names by their own flags; the others go as other_risk_factors (§A13).
DOSING_FLAGS = frozenset({"cardiac_dysfunction", "renal_impairment", "thrombosis_risk"})


def _check_order_inputs(data: dict[str, Any], *, new_order: bool) -> None:
    """What an order is written with. Working an order out again (``new_order`` false) does not judge again what
    was settled when it was written: the order it replaced is cancelled by then, and a product taken off the
    formulary since is a question for the pharmacist, not a reason the dose cannot be worked out."""
    errors: dict[str, list[str]] = {}
    patient: Patient = data["patient"]
    product: Product = data["product"]
    regimen = data["regimen"]
    if regimen not in dosing.REGIMENS:
        errors["regimen"] = [f"Unknown regimen {regimen!r}."]
    if new_order and not product.orderable:
        errors["product"] = [f"{product.name} is not on the formulary (discontinued or withdrawn)."]
    previous: Order | None = data.get("previous_order")
    if regimen == "repeat_1g_per_kg" and previous is None:
        errors["previous_order"] = ["A repeat dose must reference the patient's earlier order."]
    if previous is not None and previous.patient_id != patient.pk:
        errors["previous_order"] = ["The previous order belongs to another patient."]
    replaces: Order | None = data.get("replaces") if new_order else None
    if replaces is not None:
        if not data.get("emergency"):
            errors["replaces"] = ["Only an emergency order may replace an open order."]
        elif replaces.patient_id != patient.pk:
            errors["replaces"] = ["The order to replace belongs to another patient."]
        elif replaces.status not in safety.OPEN_STATUSES:
            errors["replaces"] = [f"Order #{replaces.pk} is not open ({replaces.get_status_display().lower()})."]
        elif replaces.infusions.filter(started_at__isnull=False).exists():
            errors["replaces"] = [f"An infusion of order #{replaces.pk} has started: it cannot be replaced."]
    prepared = data.get("prepared_concentration_percent")
    if prepared is not None and not product.reconstituted:
        errors["prepared_concentration_percent"] = [f"{product.name} is not reconstituted: leave this empty."]
    elif prepared is not None and Decimal(prepared) not in (Decimal("5"), Decimal("10")):
        errors["prepared_concentration_percent"] = ["Prepare at 5 % or 10 %."]
    override = data.get("dosing_weight_override_kg")
    if override is not None and not (data.get("dosing_weight_override_reason") or "").strip():
        errors["dosing_weight_override_reason"] = ["Give the reason for overriding the dosing weight."]
    if data.get("estimated_weight_kg") is not None and not data.get("emergency"):
        errors["estimated_weight_kg"] = ["Only an emergency order is dosed on an estimated weight: weigh the patient."]
    first_on = data.get("first_infusion_on")
    if first_on is not None and (problem := patient_rules.before_birth_problem(first_on, patient.birth_date)):
        errors["first_infusion_on"] = [problem]
    baseline = data.get("baseline_platelet_count")
    if baseline is None:
        errors["baseline_platelet_count"] = ["The baseline platelet count is required (IWG response baseline)."]
    elif not 0 <= baseline <= 2000:
        errors["baseline_platelet_count"] = ["A platelet count must be between 0 and 2000 ×10⁹/L."]
    if errors:
        raise ValidationError(errors)


OUTSIDE_DOSE_FIELDS = ("started_at", "ended_at", "product", "grams", "lot")


def _check_outside_doses(data: dict[str, Any]) -> None:
    """Doses of this course given elsewhere (§A9 "Courses that change"): each with its times (not in the future,
    the end after the start), product and lot as reported, and grams above 0; at least one day must be left to give
    here; the baseline is the count before the first outside dose."""
    doses = data.get("doses_given_elsewhere") or []
    if not doses:
        return
    now = timezone.now() + timedelta(seconds=5)
    errors: list[str] = []
    for number, dose in enumerate(doses, start=1):
        started, ended = dose.get("started_at"), dose.get("ended_at")
        if started is None or ended is None:
            errors.append(f"Dose {number}: give when it started and when it ended.")
        elif started > now or ended > now:
            errors.append(f"Dose {number}: a dose given elsewhere cannot be in the future.")
        elif ended <= started:
            errors.append(f"Dose {number}: the end must be after the start.")
        if not str(dose.get("product") or "").strip():
            errors.append(f"Dose {number}: name the product given.")
        if not str(dose.get("lot") or "").strip():
            errors.append(f"Dose {number}: give the lot (plasma product traceability).")
        grams = dose.get("grams")
        if grams is None or Decimal(str(grams)) <= 0:
            errors.append(f"Dose {number}: the grams given must be above 0.")
    regimen = dosing.REGIMENS.get(data.get("regimen") or "")
    if regimen is not None and len(doses) >= regimen.days:
        errors.append(
            f"The regimen has {regimen.days} day(s) and {len(doses)} were given elsewhere: nothing is left to give "
            "here."
        )
    if errors:
        raise ValidationError({"doses_given_elsewhere": errors})
    first_start = min(dose["started_at"] for dose in doses)
    collected = data.get("baseline_collected_at")
    if collected is not None and collected > first_start:
        raise ValidationError(
            {"baseline_collected_at": ["The baseline is the count before the first dose given elsewhere."]}
        )


def outside_doses_of(order: Order) -> list[dict[str, Any]]:
    """An order's doses given elsewhere, in the shape creation takes them."""
    if order.pk is None:
        return []
    return [{field: getattr(dose, field) for field in OUTSIDE_DOSE_FIELDS} for dose in order.outside_doses.all()]


def order_inputs(order: Order) -> dict[str, Any]:
    """What the order was written with, to work it out again (record_changed, recalculation, product change)."""
    return {
        **{field: getattr(order, field) for field in ORDER_INPUT_FIELDS},
        "doses_given_elsewhere": outside_doses_of(order),
    }


def calculate(
    data: dict[str, Any], *, on_measured_weight: bool = False, new_order: bool = True
) -> tuple[dosing.DoseCalculation, WeightMeasurement | None, dosing.PatientFacts]:
    """Validate an order's inputs and work out its dose, without saving anything (the form's live preview).

    An emergency order carrying ``estimated_weight_kg`` is dosed on it (no weight measurement: the second value is
    None), unless ``on_measured_weight``: its remaining days recalculated on the weight measured since (§A9). Days
    given elsewhere for this course are not given again: the course here has the regimen's days less those."""
    _check_order_inputs(data, new_order=new_order)
    _check_outside_doses(data)
    patient: Patient = data["patient"]
    on = data.get("first_infusion_on") or timezone.localdate()
    estimated: Decimal | None = data.get("estimated_weight_kg")
    weight = None if estimated is not None and not on_measured_weight else _current_weight(patient)
    facts = patient_facts(patient, weight, on, estimated_weight_kg=estimated if data.get("emergency") else None)
    try:
        calculation = dosing.calculate_dose(
            facts,
            data["product"].facts(data.get("prepared_concentration_percent")),
            data["regimen"],
            dosing_config(),
            emergency=bool(data.get("emergency")),
            dosing_weight_override_kg=data.get("dosing_weight_override_kg"),
            iga_override_reason=(data.get("iga_override_reason") or "").strip(),
        )
    except dosing.DosingError as exc:
        raise ValidationError({exc.field: [str(exc)]}) from exc
    given_elsewhere = len(data.get("doses_given_elsewhere") or [])
    if given_elsewhere:
        days_here = calculation.days - given_elsewhere
        calculation = replace(
            calculation,
            days=days_here,
            total_calculated_g=calculation.dose_per_day_g * days_here,
            total_dose_g=calculation.rounded_dose_per_day_g * days_here,
        )
    return calculation, weight, facts


def other_side_doses(data: dict[str, Any], facts: dosing.PatientFacts) -> list[tuple[str, Decimal]]:
    """The rounded daily dose with the height or the age moved across an A2 threshold the patient is near (§A9
    near_policy_threshold). A prescriber's dosing-weight override settles the weight: it has no other side."""
    if data.get("dosing_weight_override_kg") is not None:
        return []
    product = data["product"].facts(data.get("prepared_concentration_percent"))
    found = []
    for what, moved in dosing.threshold_neighbours(facts, dosing_config()):
        try:
            other = dosing.calculate_dose(
                moved, product, data["regimen"], dosing_config(), emergency=bool(data.get("emergency"))
            )
        except dosing.DosingError:
            continue  # the other side cannot be worked out either: nothing to compare
        found.append((what, other.rounded_dose_per_day_g))
    return found


def _q(value: Decimal | None, places: str) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Decimal(places))


def working_fields(
    calculation: dosing.DoseCalculation, weight: WeightMeasurement | None, facts: dosing.PatientFacts
) -> dict[str, Any]:
    """The working stored on an order. ``weight`` is None for an order dosed on its estimated weight: the weight used
    (``actual_weight_kg``) is then the estimate, and the weight history is left alone."""
    dw = calculation.dosing_weight
    return {
        "weight_measurement": weight,
        "actual_weight_kg": facts.actual_weight_kg,
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
        "label_max_rate_ml_per_h": float(data["label_max_rate_ml_per_h"]),
        "at_risk_cap_source": data["at_risk_cap_source"],
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


def _overrides(data: dict[str, Any], overrides: dict[str, str] | None) -> dict[str, str]:
    """The request's overrides; v1's iga_override_reason is the same as overrides.iga_conflict (docs/api.md)."""
    merged = dict(overrides or {})
    iga_reason = (data.get("iga_override_reason") or "").strip()
    if iga_reason and "iga_conflict" not in merged:
        merged["iga_conflict"] = iga_reason
    return merged


def preview_order(data: dict[str, Any], user: Any) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The dry run of creation: the working the order would get, and the stops and warnings it would meet. Nothing
    is saved; a stop is reported, not raised (docs/api.md "Dry runs")."""
    calculation, weight, facts = calculate(data)
    stops = safety.creation_stops(
        data, calculation, weight, facts.age_years, now=timezone.now(), other_side=other_side_doses(data, facts)
    )
    dry = safety.dry_run(stops, order=None, user=user, stage=Stage.CREATE, overrides=_overrides(data, None))
    return working_fields(calculation, weight, facts), dry


@transaction.atomic
def create_order(
    *, data: dict[str, Any], user: Any, overrides: dict[str, str] | None = None, now: datetime | None = None
) -> Order:
    """Draft an order with its working frozen (docs/api.md Orders; docs/clinical-rules.md §A1–A4, §A9).

    ``now`` is when the order is written: the present, except when a course is loaded after the fact (the demo
    data, tests), where the stops are judged as of that moment as every other event is as of its own time."""
    now = now or timezone.now()
    calculation, weight, facts = calculate(data)
    overrides = _overrides(data, overrides)
    stops = safety.creation_stops(
        data, calculation, weight, facts.age_years, now=now, other_side=other_side_doses(data, facts)
    )
    outcome = safety.enforce(stops, order=None, user=user, stage=Stage.CREATE, overrides=overrides)
    replaces: Order | None = data.get("replaces")
    if replaces is not None:
        _cancel(Order.objects.select_for_update().get(pk=replaces.pk), user, "Superseded by an emergency order.")
    order = Order(
        **{field: data[field] for field in ORDER_INPUT_FIELDS if field in data and data[field] is not None},
        status=OrderStatus.DRAFT,
        created_by=user,
        # Where the course is given: the unit chosen, else where the patient is now (docs/architecture.md "Wards
        # and units").
        unit_id=data["unit"].pk if data.get("unit") is not None else data["patient"].unit_id,
        record_flags=record_flags(data["patient"], data["product"], data.get("first_infusion_on") or now.date()),
        **working_fields(calculation, weight, facts),
    )
    order.iga_override_reason = overrides.get("iga_conflict", "").strip()
    # The one-open-course constraint is the database's: validated at the insert, so two creations at once cannot
    # both pass (the active_course stop has already answered the ordinary case in clinical words).
    order.full_clean(exclude=["weight_measurement", "created_by"], validate_constraints=False)
    attribute_change(order, user)
    try:
        with transaction.atomic():
            order.save()
    except IntegrityError as exc:
        if "order_one_open_course_per_patient" not in str(exc):
            raise
        raise SafetyStopped(safety_rules.active_course(other_open_orders=[0], replaces=None)) from exc
    for dose in data.get("doses_given_elsewhere") or []:
        row = OutsideDose(
            order=order,
            started_at=dose["started_at"],
            ended_at=dose["ended_at"],
            product=str(dose["product"]).strip(),
            grams=Decimal(str(dose["grams"])),
            lot=str(dose["lot"]).strip(),
            recorded_by=user,
        )
        attribute_change(row, user)
        row.save()
    safety.record(outcome, order=order, user=user, stage=Stage.CREATE, at=now)
    return order


# What a hematologist may change when recalculating (docs/api.md "Orders": POST /{id}/recalculate/).
RECALCULATION_CHANGES = (
    "first_infusion_on",
    "product",
    "prepared_concentration_percent",
    "dosing_weight_override_kg",
    "dosing_weight_override_reason",
)


def recalculate_order(
    *,
    order_id: int,
    user: Any,
    reason: str = "",
    changes: dict[str, Any] | None = None,
    overrides: dict[str, str] | None = None,
) -> Order:
    """Work the dose out again from the current record, catalogue and settings, with the hematologist's changes
    (§A9 record_changed): explicit and kept in history. Before any infusion has started only; a verified order goes
    back to draft and is verified again (its scheduled days are kept and updated then). The creation stops apply
    to the new working; a return to the prescriber is answered by it.

    One exception after a start (§A9 "Emergency orders"): an emergency course still on its estimated weight has its
    remaining days recalculated on the weight measured since (``_recalculate_remaining_days``)."""
    now = timezone.now()
    with transaction.atomic():
        order = (
            Order.objects.select_for_update(of=("self",))
            .select_related("patient", "product", "previous_order")
            .get(pk=order_id)
        )
        if order.on_estimated_weight and order.infusions.filter(started_at__isnull=False).exists():
            return _recalculate_remaining_days(order, user=user, reason=reason, changes=changes, now=now)
        if order.status not in (OrderStatus.DRAFT, OrderStatus.VERIFIED):
            raise Conflict(f"This order is {order.get_status_display().lower()}: it is no longer recalculated.")
        if order.infusions.filter(started_at__isnull=False).exists():
            raise Conflict("An infusion of this order has started: the daily dose is fixed for the course.")
        for field, value in (changes or {}).items():
            if field in RECALCULATION_CHANGES:
                setattr(order, field, value)
        data = order_inputs(order)
        if "product" in (changes or {}) and not order.product.orderable:
            raise ValidationError({"product": [f"{order.product.name} is not on the formulary."]})
        calculation, weight, facts = calculate(
            data, on_measured_weight=order.weight_measurement_id is not None, new_order=False
        )
        stops = safety.creation_stops(
            data, calculation, weight, facts.age_years, now=now, order=order, other_side=other_side_doses(data, facts)
        )
        outcome = safety.enforce(stops, order=order, user=user, stage=Stage.CREATE, overrides=overrides)
        for field, value in working_fields(calculation, weight, facts).items():
            setattr(order, field, value)
        order.record_flags = record_flags(order.patient, order.product, order.first_infusion_on)
        if order.status == OrderStatus.VERIFIED:
            order.status = OrderStatus.DRAFT
            order.verified_by = None
            order.verified_at = None
        # A return is answered by the recalculation: who returned it, when and why stay in the order's history.
        change = "recalculated after its return to the prescriber" if order.returned_at else "recalculated"
        order.returned_reason, order.returned_by, order.returned_at = "", None, None
        why = (reason or "").strip()
        attribute_change(order, user, reason=f"{change}: {why}" if why else change)
        order.full_clean(exclude=["weight_measurement", "created_by"], validate_constraints=False)
        order.save()
        safety.record(outcome, order=order, user=user, stage=Stage.CREATE, at=now)
    return order


# What a hematologist may change when the remaining days of an emergency course go on the measured weight.
REMAINING_DAYS_CHANGES = ("dosing_weight_override_kg", "dosing_weight_override_reason")


def _recalculate_remaining_days(
    order: Order, *, user: Any, reason: str, changes: dict[str, Any] | None, now: datetime
) -> Order:
    """§A9 "Emergency orders": once the first infusion of a course dosed on an estimated weight has started, the
    remaining days are recalculated on the weight measured since and verified again before the next start. The
    days already started keep their dose; the order's working moves to the measured weight (the estimate stays on
    the order) and it goes back to draft, so the next start waits for the verification (order_not_verified)."""
    if order.status not in (OrderStatus.VERIFIED, OrderStatus.IN_PROGRESS):
        raise Conflict(f"This order is {order.get_status_display().lower()}: it is no longer recalculated.")
    if order.infusions.filter(status__in=[InfusionStatus.IN_PROGRESS, InfusionStatus.PAUSED]).exists():
        raise Conflict("An infusion of this order is running: recalculate the remaining days once it has ended.")
    remaining = list(order.infusions.select_for_update().filter(status=InfusionStatus.SCHEDULED))
    if not remaining:
        raise Conflict("No day of this course is left to give: there is nothing to recalculate.")
    if order.patient.current_weight is None:
        raise Conflict("The patient has not been weighed yet: record the measured weight, then recalculate.")
    fixed = sorted(set(changes or {}) - set(REMAINING_DAYS_CHANGES))
    if fixed:
        raise ValidationError({field: ["Fixed once the course has started."] for field in fixed})
    for field, value in (changes or {}).items():
        setattr(order, field, value)
    data = order_inputs(order)
    calculation, weight, facts = calculate(data, on_measured_weight=True, new_order=False)
    stops = safety.remaining_days_stops(data, calculation, weight, now=now)
    outcome = safety.enforce(stops, order=order, user=user, stage=Stage.CREATE, overrides=None)
    estimated = order.estimated_weight_kg
    for field, value in working_fields(calculation, weight, facts).items():
        setattr(order, field, value)
    started_g = sum((i.dose_g or Decimal("0") for i in order.infusions.filter(started_at__isnull=False)), Decimal("0"))
    order.total_dose_g = (started_g + order.rounded_dose_per_day_g * len(remaining)).quantize(Decimal("0.01"))
    order.record_flags = _keeping_egfr_judgement(
        order, record_flags(order.patient, order.product, order.first_infusion_on)
    )
    order.status = OrderStatus.DRAFT
    order.verified_by = None
    order.verified_at = None
    why = (reason or "").strip()
    measured_kg = weight.weight_kg if weight is not None else order.actual_weight_kg
    change = f"remaining days recalculated on {measured_kg} kg measured (estimate {estimated} kg)"
    # The history's reason holds 100 characters: the hematologist's words are cut there, the change never is.
    attribute_change(order, user, reason=(f"{change}: {why}" if why else change)[:100])
    order.full_clean(exclude=["weight_measurement", "created_by"], validate_constraints=False)
    order.save()
    safety.record(outcome, order=order, user=user, stage=Stage.CREATE, at=now)
    return order


@transaction.atomic
def verify_order(
    *, order_id: int, user: Any, overrides: dict[str, str] | None = None, now: datetime | None = None
) -> Order:
    """A pharmacist or a second hematologist verifies, against the patient's record as it is now (§A9);
    verification schedules one infusion per course day."""
    order = (
        Order.objects.select_for_update(of=("self",))
        .select_related("patient", "product", "weight_measurement", "previous_order")
        .get(pk=order_id)
    )
    if order.created_by_id == user.pk:
        raise PermissionDenied("An order is verified by a pharmacist or a second hematologist, never its prescriber.")
    now = now or timezone.now()
    if order.status == OrderStatus.IN_PROGRESS and order.awaiting_reverification:
        return _verify_after_product_change(order, user=user, overrides=overrides, now=now)
    if order.status != OrderStatus.DRAFT:
        raise Conflict(f"This order is {order.get_status_display().lower()}; only a draft can be verified.")
    change, safer_plan, warnings_now = record_changed(order, now=now)
    stops = safety.verification_stops(order, now=now) + list(change.stops)
    outcome = safety.enforce(stops, order=order, user=user, stage=Stage.VERIFY, overrides=overrides)
    if safer_plan is not None:
        apply_safer_plan(order, safer_plan, user)
    # The order's advice (the at-risk factors it names, hydration, fluids) reads the record as verified: a factor
    # recorded after the draft is on the order the nurse sees, as the start's stops already read it (§A9, §A13).
    advice_changed = warnings_now is not None and warnings_now != order.warnings
    if advice_changed:
        order.warnings = warnings_now
    order.status = OrderStatus.VERIFIED
    order.verified_by = user
    order.verified_at = now
    # §A13: the eGFR factor is judged on the latest creatinine at verification and fixed for the course: a course
    # verified again after a day was given (its remaining days recalculated) keeps its judgement.
    if safety.EGFR_FLAG not in (order.record_flags or {}) or not order.infusions.filter(started_at__isnull=False):
        order.record_flags = {**(order.record_flags or {}), safety.EGFR_FLAG: bool(safety.low_egfr(order.patient))}
    order.returned_reason, order.returned_by, order.returned_at = "", None, None
    attribute_change(
        order, user, reason="verified; advice brought up to date with the record" if advice_changed else None
    )
    order.save()
    _schedule_days(order, user)
    safety.record(outcome, order=order, user=user, stage=Stage.VERIFY, at=order.verified_at)
    # Monitoring writes the platelet checks now when the course began elsewhere (A6, §A9 "Courses that change").
    order_verified.send(sender=Order, order=order, user=user)
    return order


def _verify_after_product_change(order: Order, *, user: Any, overrides: dict[str, str] | None, now: datetime) -> Order:
    """The remaining days of an in-progress course, worked out again on another product, verified again (§A9
    "Courses that change") by a pharmacist or a hematologist who neither changed the product nor prescribed."""
    if order.product_changed_by_id == user.pk:
        raise PermissionDenied("The remaining days are verified again by someone other than who changed the product.")
    stops = safety.reverification_stops(order, now=now)
    outcome = safety.enforce(stops, order=order, user=user, stage=Stage.VERIFY, overrides=overrides)
    order.awaiting_reverification = False
    order.verified_by = user
    order.verified_at = now
    attribute_change(order, user, reason=f"remaining days verified again on {order.product.name}")
    order.save()
    safety.record(outcome, order=order, user=user, stage=Stage.VERIFY, at=now)
    return order


def _schedule_days(order: Order, user: Any) -> None:
    """One infusion per course day given here. Days given elsewhere keep their numbers (a two-day course with day 1
    given elsewhere schedules day 2, on the first infusion date). At a re-verification after recalculation the days
    kept from the first verification are updated (their vitals stay with them), days no longer in the course are
    withheld."""
    existing = {infusion.day_number: infusion for infusion in order.infusions.select_for_update()}
    first_day = order.outside_doses.count() + 1
    for day in range(first_day, first_day + order.days):
        # A new day is given in the order's unit; a kept day stays where it is (it may have been moved, a transfer).
        infusion = existing.pop(day, None) or Infusion(order=order, day_number=day, unit_id=order.unit_id)
        if infusion.pk is not None and infusion.status != InfusionStatus.SCHEDULED:
            continue  # a day already given keeps its dose (an emergency course's remaining days recalculated, §A9)
        infusion.scheduled_for = order.first_infusion_on + timedelta(days=day - first_day)
        infusion.dose_g = order.rounded_dose_per_day_g
        infusion.volume_ml = order.volume_per_day_ml
        attribute_change(infusion, user)
        infusion.save()
    for infusion in existing.values():
        if infusion.status != InfusionStatus.SCHEDULED:
            continue
        infusion.status = InfusionStatus.STOPPED
        infusion.stop_reason = "Withheld: no longer in the recalculated course."
        infusion.volume_infused_ml = Decimal("0")
        attribute_change(infusion, user)
        infusion.save()


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
    _cancel(order, user, reason)
    return order


def _cancel(order: Order, user: Any, reason: str) -> None:
    order.status = OrderStatus.CANCELLED
    order.cancel_reason = reason
    order.cancelled_by = user
    order.cancelled_at = timezone.now()
    attribute_change(order, user)
    order.save()
    # The contract has no "cancelled" infusion status: infusions not yet given are stopped with the reason.
    for infusion in order.infusions.select_for_update().filter(status=InfusionStatus.SCHEDULED):
        infusion.status = InfusionStatus.STOPPED
        infusion.stop_reason = f"Order cancelled: {reason}"
        attribute_change(infusion, user)
        infusion.save()
    order_cancelled.send(sender=Order, order=order, user=user)


def verification_dry_run(*, order_id: int, user: Any) -> dict[str, Any]:
    """What verifying the order would meet now (docs/api.md "Dry runs"); nothing changes."""
    order = Order.objects.select_related("patient", "product", "weight_measurement", "previous_order").get(pk=order_id)
    now = timezone.now()
    if order.status == OrderStatus.IN_PROGRESS and order.awaiting_reverification:
        return safety.dry_run(safety.reverification_stops(order, now=now), order=order, user=user, stage=Stage.VERIFY)
    stops = safety.verification_stops(order, now=now) + list(record_changed(order, now=now)[0].stops)
    return safety.dry_run(stops, order=order, user=user, stage=Stage.VERIFY)


def verification_dry_runs(orders: list[Order], *, user: Any) -> dict[int, dict[str, Any]]:
    """``verification_dry_run`` for a list of orders (the verification queue) in a fixed number of queries: the
    facts of all of them are read together (``safety.verification_facts``), then each order's stops are worked out
    without a query. The orders come from ``selectors.orders_awaiting_verification``."""
    now = timezone.now()
    facts = safety.verification_facts(orders)
    return {
        order.pk: safety.dry_run(
            safety.verification_stops(order, now=now, facts=facts[order.pk]),
            order=order,
            user=user,
            stage=Stage.VERIFY,
            settled_before=facts[order.pk].settled_before,
        )
        for order in orders
    }


@transaction.atomic
def return_order(*, order_id: int, user: Any, reason: str) -> Order:
    """The verifier sends a draft back to its prescriber with the reason instead of verifying it; the prescriber
    sees it on the order and in the inbox, and recalculating or verifying clears it."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Give the reason for returning the order to its prescriber."]})
    order = Order.objects.select_for_update(of=("self",)).get(pk=order_id)
    if order.created_by_id == user.pk:
        raise PermissionDenied("The prescriber does not return their own order: recalculate or cancel it.")
    if order.status != OrderStatus.DRAFT:
        raise Conflict(f"This order is {order.get_status_display().lower()}; only a draft is returned.")
    order.returned_reason = reason
    order.returned_by = user
    order.returned_at = timezone.now()
    attribute_change(order, user, reason="returned to the prescriber")
    order.save()
    order_returned.send(sender=Order, order=order)
    return order


HOLD_DECISIONS = ("continue", "cancel_remaining")


@transaction.atomic
def review_hold(*, order_id: int, user: Any, decision: str, reason: str) -> Order:
    """A hematologist's review of a course on hold (§A10 course_on_hold): ``continue`` with a reason (it also
    answers previous_severe_reaction for the course's remaining days), or ``cancel_remaining``, which withholds
    every day not yet started."""
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    if decision not in HOLD_DECISIONS:
        errors["decision"] = ["Choose continue or cancel_remaining."]
    if not reason:
        errors["reason"] = ["Give the reason for the decision."]
    if errors:
        raise ValidationError(errors)
    order = Order.objects.select_for_update(of=("self",)).select_related("patient").get(pk=order_id)
    if not order.on_hold:
        raise Conflict("This course is not on hold.")
    now = timezone.now()
    order.hold_review_decision = decision
    order.hold_review_reason = reason
    order.hold_reviewed_by = user
    order.hold_reviewed_at = now
    attribute_change(order, user, reason=f"hold reviewed: {decision}")
    order.save()
    if decision == "continue":
        safety.record_hold_continued(order, user=user, reason=reason, at=now)
    else:
        withheld = None
        for infusion in order.infusions.select_for_update().filter(status=InfusionStatus.SCHEDULED):
            infusion.status = InfusionStatus.STOPPED
            infusion.stopped_at = now
            infusion.stop_reason = f"Withheld after review of the hold: {reason}"
            infusion.volume_infused_ml = Decimal("0")
            attribute_change(infusion, user)
            infusion.save()
            withheld = infusion
        if not order.infusions.filter(status__in=[InfusionStatus.IN_PROGRESS, InfusionStatus.PAUSED]).exists():
            order.status = OrderStatus.COMPLETED
            attribute_change(order, user)
            order.save(update_fields=["status", "updated_at"])
        if withheld is not None:  # the course has ended: its response is worked out again (A12)
            infusion_ended.send(sender=Infusion, infusion=withheld, first_of_order=False, user=user)
    return order


# --- A product change mid-course (§A9 "Courses that change") -----------------------------------------------


def change_product(
    *,
    order_id: int,
    user: Any,
    product: Product,
    reason: str,
    prepared_concentration_percent: Decimal | None = None,
    overrides: dict[str, str] | None = None,
    now: datetime | None = None,
) -> Order:
    """Change the product of an in-progress course's days not yet started (a shortage): the remaining days are
    worked out again on the new product (A3 rounding to its vials), the change is kept in history with its reason,
    and the remaining days wait for a verifier before the next start, which is a product switch (A10
    start_above_initial hard). The days already given keep the product they were given with."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Give the reason for changing the product."]})
    now = now or timezone.now()
    with transaction.atomic():
        order = (
            Order.objects.select_for_update(of=("self",))
            .select_related("patient", "product", "weight_measurement", "previous_order")
            .get(pk=order_id)
        )
        if order.status != OrderStatus.IN_PROGRESS:
            raise Conflict(
                f"This order is {order.get_status_display().lower()}: the product of a course not yet started is "
                "changed by recalculating it."
            )
        remaining = list(order.infusions.select_for_update().filter(status=InfusionStatus.SCHEDULED))
        if not remaining:
            raise Conflict("No day of this course is left to give: there is nothing to change.")
        if order.infusions.filter(status__in=[InfusionStatus.IN_PROGRESS, InfusionStatus.PAUSED]).exists():
            raise Conflict("A day of this course is running: change the product once it has ended.")
        if product.pk == order.product_id:
            raise ValidationError({"product": [f"The course is already on {product.name}."]})
        previous = order.product
        # Days already started keep the product they were given with (an order started before this existed).
        update_with_history(
            order.infusions.filter(started_at__isnull=False, product__isnull=True),
            user=user,
            reason=f"Given with {previous.name}: the course changed product",
            product=previous,
        )
        data = {
            **order_inputs(order),
            "product": product,
            "prepared_concentration_percent": prepared_concentration_percent if product.reconstituted else None,
        }
        if not product.orderable:
            raise ValidationError({"product": [f"{product.name} is not on the formulary (discontinued or withdrawn)."]})
        calculation, weight, facts = calculate(data, new_order=False)
        stops = [
            stop
            for stop in safety.creation_stops(data, calculation, weight, facts.age_years, now=now, order=order)
            if stop.code in safety.PRODUCT_STOP_CODES
        ]
        outcome = safety.enforce(stops, order=order, user=user, stage=Stage.CREATE, overrides=overrides)
        order.product = product
        order.prepared_concentration_percent = data["prepared_concentration_percent"]
        for field, value in working_fields(calculation, weight, facts).items():
            if field != "days":
                setattr(order, field, value)
        order.total_calculated_g = order.dose_per_day_g * order.days
        order.total_dose_g = order.rounded_dose_per_day_g * order.days
        order.record_flags = _keeping_egfr_judgement(
            order, record_flags(order.patient, product, order.first_infusion_on)
        )
        order.product_changed_from = previous
        order.product_change_reason = reason
        order.product_changed_by = user
        order.product_changed_at = now
        order.awaiting_reverification = True
        attribute_change(order, user, reason=f"product changed from {previous.name} to {product.name}: {reason}")
        order.full_clean(exclude=["weight_measurement", "created_by"], validate_constraints=False)
        order.save()
        for infusion in remaining:
            infusion.dose_g = order.rounded_dose_per_day_g
            infusion.volume_ml = order.volume_per_day_ml
            attribute_change(infusion, user, reason=f"product changed to {product.name}")
            infusion.save()
        safety.record(outcome, order=order, user=user, stage=Stage.CREATE, at=now)
    return order


# --- record_changed (§A9): the stored working against the one the current record gives ----------------------


def _keeping_egfr_judgement(order: Order, flags: dict[str, bool]) -> dict[str, bool]:
    """New flags for an in-progress course's new working, with the eGFR judgement its verification fixed (§A13)."""
    judged = (order.record_flags or {}).get(safety.EGFR_FLAG)
    return flags if judged is None else {**flags, safety.EGFR_FLAG: judged}


def record_flags(patient: Patient, product: Product, on: date) -> dict[str, bool]:
    """The record's safety status for this product, stored with the working (§A9 record_changed)."""
    age = patient.age_on(on)
    return {
        "iga_conflict": bool(patient.iga_deficient) and not product.iga_depleted,
        "fructose_intolerance": patient.hereditary_fructose_intolerance and product.contains_sorbitol,
        "below_label_age": product.itp_min_age_years is not None and age < product.itp_min_age_years,
    }


def _summary(
    working: dict[str, Any], *, iga_conflict: bool, fructose: bool, below_label_age: bool
) -> safety_rules.WorkingSummary:
    plan = working.get("rate_plan") or {}
    return safety_rules.WorkingSummary(
        rounded_dose_per_day_g=Decimal(str(working["rounded_dose_per_day_g"])).quantize(Decimal("0.01")),
        vials=tuple(sorted((Decimal(str(v["size_g"])), int(v["count"])) for v in working["vials_per_day"])),
        days=int(working["days"]),
        dosing_weight_basis=str(working["dosing_weight_basis"]),
        iga_conflict=iga_conflict,
        fructose_intolerance=fructose,
        below_label_age=below_label_age,
        at_risk_capped=bool(plan.get("at_risk_capped")),
        rate_steps_ml_per_h=tuple(Decimal(str(step["rate_ml_per_h"])) for step in plan.get("steps", [])),
        max_rate_ml_per_h=Decimal(str(plan["max_rate_ml_per_h"])) if plan else None,
    )


def record_changed(
    order: Order, *, now: datetime
) -> tuple[safety_rules.RecordChange, dict[str, Any] | None, list[dict[str, Any]] | None]:
    """Work the order out again from the current record, catalogue and settings and compare (§A9 record_changed).
    Returns the stops, the plan to apply when it only became safer, and the working's warnings as the record reads
    now (None when the dose can no longer be worked out)."""
    started = order.infusions.filter(started_at__isnull=False).exists()
    data = order_inputs(order)
    try:
        # An order on its estimated weight is compared on it: a weight measured since is not a material difference
        # for the first infusion (§A9 "Emergency orders"); the remaining days meet emergency_weight_recalculation.
        calculation, weight, facts = calculate(
            data, on_measured_weight=order.weight_measurement_id is not None, new_order=False
        )
    except (SafetyStopped, ValidationError) as exc:
        messages = [stop.message for stop in exc.stops] if isinstance(exc, SafetyStopped) else exc.messages
        stop = Stop(
            "record_changed",
            Kind.WARNING if started else Kind.HARD,
            "The dose can no longer be worked out from the record: " + " ".join(messages),
        )
        return safety_rules.RecordChange((stop,), apply_safer_plan=False), None, None
    current = working_fields(calculation, weight, facts)
    now_flags = record_flags(order.patient, order.product, order.first_infusion_on)
    # An order worked out before the flags were stored compares with today's: no change is invented for it.
    then_flags = {**now_flags, **(order.record_flags or {})}
    stored_summary = _summary(
        {field: getattr(order, field) for field in WORKING_FIELDS},
        iga_conflict=then_flags["iga_conflict"],
        fructose=then_flags["fructose_intolerance"],
        below_label_age=then_flags["below_label_age"],
    )
    current_summary = _summary(
        current,
        iga_conflict=now_flags["iga_conflict"],
        fructose=now_flags["fructose_intolerance"],
        below_label_age=now_flags["below_label_age"],
    )
    change = safety_rules.record_changed(
        stored=stored_summary, current=current_summary, course_started=started, config=safety.safety_config()
    )
    return change, current["rate_plan"] if change.apply_safer_plan else None, current["warnings"]


def apply_safer_plan(order: Order, plan: dict[str, Any], user: Any) -> None:
    """A change of record that only makes the rate plan safer is applied to the stored plan, kept in history."""
    order.rate_plan = plan
    attribute_change(order, user, reason="safer rate plan applied: the record changed")
    order.save(update_fields=["rate_plan", "updated_at"])
