"""Every change to a patient goes through here (docs/architecture.md, habit 2), whether from a page, the API or the
admin."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.history import attribute_change
from patients.models import Patient, ReportedIvigReaction, WeightMeasurement

PATIENT_FIELDS = (
    "mrn",
    "given_name",
    "family_name",
    "birth_date",
    "sex",
    "height_cm",
    "serum_iga_mg_dl",
    "iga_measured_on",
    "cardiac_dysfunction",
    "renal_impairment",
    "pregnant",
    "thrombosis_risk",
    "thrombosis_risk_details",
    "allergies",
    "previous_infusion_reactions",
)


def _validate_iga_pair(patient: Patient) -> None:
    if patient.iga_measured_on is not None and patient.serum_iga_mg_dl is None:
        raise ValidationError({"serum_iga_mg_dl": ["Enter the IgA result for the date given."]})


def _checked_measured_at(measured_at: datetime | None) -> datetime:
    now = timezone.now()
    measured_at = measured_at or now
    if measured_at > now:
        raise ValidationError({"weight_measured_at": ["A weight cannot be measured in the future."]})
    return measured_at


@transaction.atomic
def create_patient(
    *, data: dict[str, Any], user: Any, weight_kg: Decimal | None = None, weight_measured_at: datetime | None = None
) -> Patient:
    patient = Patient(**{field: data[field] for field in PATIENT_FIELDS if field in data})
    patient.full_clean()
    _validate_iga_pair(patient)
    measured_at = _checked_measured_at(weight_measured_at) if weight_kg is not None else None
    attribute_change(patient, user)
    patient.save()
    if weight_kg is not None:
        _add_weight(patient, weight_kg, measured_at, user)
    return patient


@transaction.atomic
def update_patient(
    *,
    patient_id: int,
    data: dict[str, Any],
    user: Any,
    weight_kg: Decimal | None = None,
    weight_measured_at: datetime | None = None,
) -> Patient:
    patient = Patient.objects.select_for_update().get(pk=patient_id)
    for field in PATIENT_FIELDS:
        if field in data:
            setattr(patient, field, data[field])
    patient.full_clean()
    _validate_iga_pair(patient)
    measured_at = _checked_measured_at(weight_measured_at) if weight_kg is not None else None
    attribute_change(patient, user)
    patient.save()
    if weight_kg is not None:
        current = patient.current_weight
        # The API sends the current weight back on every PATCH; only a different value is a new weighing.
        if current is None or current.weight_kg != Decimal(weight_kg) or weight_measured_at is not None:
            _add_weight(patient, weight_kg, measured_at, user)
    return patient


def record_weight(
    *, patient_id: int, weight_kg: Decimal, user: Any, measured_at: datetime | None = None
) -> WeightMeasurement:
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient_id)
        return _add_weight(patient, weight_kg, _checked_measured_at(measured_at), user)


def _add_weight(patient: Patient, weight_kg: Decimal, measured_at: datetime | None, user: Any) -> WeightMeasurement:
    weight = WeightMeasurement(
        patient=patient,
        weight_kg=Decimal(weight_kg),
        measured_at=measured_at or timezone.now(),
        recorded_by=user if getattr(user, "is_authenticated", False) else None,
    )
    try:
        weight.full_clean(exclude=["patient", "recorded_by"])
    except ValidationError as exc:
        raise ValidationError({"weight_kg": exc.message_dict.get("weight_kg", exc.messages)}) from exc
    attribute_change(weight, user)
    weight.save()
    return weight


@transaction.atomic
def record_reported_ivig_reaction(
    *,
    patient_id: int,
    user: Any,
    occurred_on: date | None,
    product: str,
    ctcae_grade: int | None,
    anaphylaxis: bool,
    where: str,
    details: str = "",
) -> ReportedIvigReaction:
    """Add a reaction to IVIG given elsewhere to the patient's structured history (docs/clinical-rules.md §A9
    previous_severe_reaction). A severe one (CTCAE grade >= 3 or anaphylaxis) raises that stop at the next
    verification and start of day 1 of any open course."""
    errors: dict[str, list[str]] = {}
    if occurred_on is None:
        errors["occurred_on"] = ["Give the date of the reaction."]
    elif occurred_on > timezone.localdate():
        errors["occurred_on"] = ["A reaction cannot be dated in the future."]
    if ctcae_grade is not None and not 1 <= ctcae_grade <= 5:
        errors["ctcae_grade"] = ["A CTCAE grade is 1 to 5."]
    if ctcae_grade is None and not anaphylaxis:
        errors["ctcae_grade"] = ["Give the CTCAE grade, or record the reaction as anaphylaxis."]
    if not (product or "").strip():
        errors["product"] = ["Name the IVIG product, as reported (or 'unknown')."]
    if not (where or "").strip():
        errors["where"] = ["Say where it was given (hospital, unit)."]
    if errors or occurred_on is None:
        raise ValidationError(errors)
    patient = Patient.objects.select_for_update().get(pk=patient_id)
    report = ReportedIvigReaction(
        patient=patient,
        occurred_on=occurred_on,
        product=product.strip(),
        ctcae_grade=ctcae_grade,
        anaphylaxis=anaphylaxis,
        where=where.strip(),
        details=(details or "").strip(),
        recorded_by=user,
    )
    report.full_clean(exclude=["patient", "recorded_by"])
    attribute_change(report, user)
    report.save()
    return report
