"""Co-therapy: treatments given beside the IVIG, recorded on the patient with their period (docs/clinical-rules.md
§A12). A platelet transfusion makes the next 24 h of counts count toward nothing; corticosteroids and other ITP
treatments qualify a response. Each change works the patient's courses out again."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from core.history import attribute_change
from core.roles import has_permission
from infusions.models import Order
from monitoring.services.results import reassess_response
from patients.models import CoTherapy, CoTherapyKind, Patient

TEXT_LIMITS = {"drug": 100, "dose_unit": 20, "route": 40}


def _reassess_courses(patient_id: int) -> None:
    for order in Order.objects.filter(patient_id=patient_id, response__isnull=False).select_related("patient"):
        reassess_response(order)


def _decimal(value: Any, field: str, errors: dict[str, list[str]]) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value).replace(",", "."))
    except InvalidOperation:
        errors[field] = ["Enter a number."]
        return None
    if not number.is_finite() or number <= 0 or number >= 100_000:
        errors[field] = ["Enter a positive number."]
        return None
    return number


def _whole(value: Any, field: str, errors: dict[str, list[str]], maximum: int) -> int | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= maximum:
        errors[field] = [f"Enter a whole number from 1 to {maximum}."]
        return None
    return int(text)


@transaction.atomic
def record_co_therapy(*, patient_id: int, user: Any, data: dict[str, Any]) -> CoTherapy:
    """Record a co-therapy (``kind``, ``given_from`` and, by kind, drug, dose, route, units, volume); refused with
    field errors when a value is missing, impossible or in the future."""
    if not has_permission(user, "patients.add_cotherapy"):
        raise PermissionDenied("Only nurses and hematologists record co-therapies.")
    patient = Patient.objects.select_for_update().get(pk=patient_id)
    errors: dict[str, list[str]] = {}
    kind = data.get("kind") or ""
    if kind not in CoTherapyKind.values:
        errors["kind"] = ["Choose the kind of co-therapy."]
    given_from: datetime | None = data.get("given_from")
    given_until: datetime | None = data.get("given_until")
    now = timezone.now() + timedelta(seconds=5)
    if given_from is None:
        errors["given_from"] = ["Say when it was given (or started)."]
    elif given_from > now:
        errors["given_from"] = ["A co-therapy is recorded once given, not in advance."]
    if given_until is not None and given_from is not None and given_until < given_from:
        errors["given_until"] = ["The end is before the start."]
    texts = {field: str(data.get(field) or "").strip() for field in (*TEXT_LIMITS, "description")}
    for field, limit in TEXT_LIMITS.items():
        if len(texts[field]) > limit:
            errors[field] = [f"At most {limit} characters."]
    dose = _decimal(data.get("dose"), "dose", errors)
    units = _whole(data.get("units"), "units", errors, 20)
    volume = _whole(data.get("volume_ml"), "volume_ml", errors, 10_000)
    needs_drug = (CoTherapyKind.CORTICOSTEROID, CoTherapyKind.DIURETIC, CoTherapyKind.OTHER_ITP_TREATMENT)
    if kind in needs_drug and not texts["drug"]:
        errors["drug"] = ["Name the drug."]
    if kind == CoTherapyKind.CORTICOSTEROID and dose is None and "dose" not in errors:
        errors["dose"] = ["Give the dose."]
    if kind == CoTherapyKind.PLATELET_TRANSFUSION and units is None and "units" not in errors:
        errors["units"] = ["Give the number of platelet units."]
    if errors or given_from is None:
        raise ValidationError(errors)
    therapy = CoTherapy(
        patient=patient,
        kind=kind,
        drug=texts["drug"],
        dose=dose,
        dose_unit=texts["dose_unit"],
        route=texts["route"],
        volume_ml=volume,
        units=units,
        given_from=given_from,
        given_until=given_until,
        description=texts["description"],
        recorded_by=user,
    )
    attribute_change(therapy, user)
    therapy.save()
    _reassess_courses(patient.pk)
    return therapy


@transaction.atomic
def withdraw_co_therapy(*, co_therapy_id: int, user: Any, reason: str) -> CoTherapy:
    """A co-therapy entered in error is withdrawn with the reason (never deleted); the courses are worked out
    again without it."""
    if not has_permission(user, "patients.add_cotherapy"):
        raise PermissionDenied("Only nurses and hematologists record co-therapies.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Give the reason (what was wrong)."]})
    therapy = CoTherapy.objects.select_for_update().get(pk=co_therapy_id)
    if therapy.withdrawn:
        from core.errors import Conflict

        raise Conflict("This co-therapy was already withdrawn as entered in error.")
    therapy.entered_in_error_reason = reason[:500]
    therapy.entered_in_error_at = timezone.now()
    attribute_change(therapy, user, reason=f"Entered in error: {reason}"[:100])
    therapy.save()
    _reassess_courses(therapy.patient_id)
    return therapy
