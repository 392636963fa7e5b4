"""Prescribing: working out a dose, and an order's life from draft to verified, or cancelled
(docs/clinical-rules.md §A1–A4; docs/api.md "Orders")."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict
from core.history import attribute_change
from infusions import dosing
from infusions.models import Infusion, InfusionStatus, Order, OrderStatus, Product
from infusions.signals import order_cancelled
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
    """Draft an order with its working frozen (docs/api.md Orders; docs/clinical-rules.md §A1–A4)."""
    calculation, weight, facts = calculate(data)
    order = Order(
        **{field: data[field] for field in ORDER_INPUT_FIELDS if field in data and data[field] is not None},
        status=OrderStatus.DRAFT,
        created_by=user,
        **working_fields(calculation, weight, facts),
    )
    order.iga_override_reason = (data.get("iga_override_reason") or "").strip()
    order.full_clean(exclude=["weight_measurement", "created_by"])
    attribute_change(order, user)
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
    attribute_change(order, user, reason="recalculated")
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
    attribute_change(order, user)
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
        attribute_change(infusion, user)
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
    attribute_change(order, user)
    order.save()
    # The contract has no "cancelled" infusion status: infusions not yet given are stopped with the reason.
    for infusion in order.infusions.select_for_update().filter(status=InfusionStatus.SCHEDULED):
        infusion.status = InfusionStatus.STOPPED
        infusion.stop_reason = f"Order cancelled: {reason}"
        attribute_change(infusion, user)
        infusion.save()
    order_cancelled.send(sender=Order, order=order)
    return order
