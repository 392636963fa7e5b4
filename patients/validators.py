"""Plausibility bounds shared by the model, forms, serializers and the admin (a bad input is refused with a clear
message, never stored)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from patients.rules import birth_date_problem, hidden_character_problem

MIN_WEIGHT_KG = Decimal("0.5")
MAX_WEIGHT_KG = Decimal("350")
MIN_HEIGHT_CM = Decimal("40")
MAX_HEIGHT_CM = Decimal("250")


def validate_visible_characters(value: str) -> None:
    """A name or an MRN holds no invisible or text-direction character (patients.rules.hidden_character_problem)."""
    if value and (problem := hidden_character_problem(value)):
        raise ValidationError(problem, code="hidden_character")


def validate_weight_kg(value: Decimal) -> None:
    if value is not None and not (MIN_WEIGHT_KG <= value <= MAX_WEIGHT_KG):
        raise ValidationError(
            f"A weight of {value} kg is implausible (allowed {MIN_WEIGHT_KG}–{MAX_WEIGHT_KG} kg).",
            code="implausible_weight",
        )


def validate_height_cm(value: Decimal) -> None:
    if value is not None and not (MIN_HEIGHT_CM <= value <= MAX_HEIGHT_CM):
        raise ValidationError(
            f"A height of {value} cm is implausible (allowed {MIN_HEIGHT_CM}–{MAX_HEIGHT_CM} cm).",
            code="implausible_height",
        )


def validate_birth_date(value: date) -> None:
    """§A9: a birth date gives an age of 0-120 years."""
    if value is not None and (problem := birth_date_problem(value, timezone.localdate())):
        raise ValidationError(problem, code="implausible_birth_date")


def validate_not_in_future(value: date) -> None:
    if value is not None and value > timezone.localdate():
        raise ValidationError("This date is in the future.", code="future_date")


# [D] docs/clinical-rules.md gives no plausibility bound for serum IgA. This one refuses only impossible entries (a
# negative value, or a number no serum holds); it is wide enough for an IgA myeloma, whose result must never be refused.
MAX_SERUM_IGA_MG_DL = Decimal("10000")


def validate_iga_mg_dl(value: Decimal) -> None:
    if value is not None and not (Decimal("0") <= value <= MAX_SERUM_IGA_MG_DL):
        raise ValidationError(f"Serum IgA must be between 0 and {MAX_SERUM_IGA_MG_DL} mg/dL.", code="implausible_iga")
