"""What every page shares to read what a clinician typed: errors in clinical words beside their field, numbers in
ASCII digits only, ids that name a row or nothing, and dates a clinical record can hold."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.errors import SafetyStopped

# A date typed outside these years is a slip of the keyboard (0001, 9999, 20266): no clinical record holds one, and
# the times worked out from it (due checks, later days) would overflow. Each service bounds its dates clinically on
# top of this (a birth date 0-120 years ago, a sample not before the patient was born...).
TYPED_YEARS = (1900, 2100)
TYPED_YEAR_MESSAGE = f"Check the year: a date from {TYPED_YEARS[0]} to {TYPED_YEARS[1]} is expected."
ASCII_DIGITS_MESSAGE = "Type the number with the digits 0-9 (no superscripts or other scripts' digits)."
# The largest id a row has (PostgreSQL bigint): a longer number names nothing.
MAX_ID = 2**63 - 1


def typed_id(value: Any) -> int | None:
    """The id a page posted (a choice's value, a hidden field), or None when it is not one: ASCII digits only, as
    "²" and "١٢" are digits to str.isdigit() and int() but name no row, and within a bigint."""
    text = str(value if value is not None else "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def year_problem(value: dt.date | dt.datetime | None) -> str | None:
    """``TYPED_YEAR_MESSAGE`` for a date or time outside ``TYPED_YEARS``; None otherwise."""
    if value is None or TYPED_YEARS[0] <= value.year <= TYPED_YEARS[1]:
        return None
    return TYPED_YEAR_MESSAGE


# The form fields whose typed text must be ASCII: Django reads "١٢" as 12 and "２０２６-０１-０１" as a date.
_ASCII_FIELDS = (forms.IntegerField, forms.DecimalField, forms.FloatField, forms.DateField, forms.DateTimeField)
_DATE_FIELDS = (forms.DateField, forms.DateTimeField)


class TypedInputForm(forms.BaseForm):
    """A form mixin: a number or date typed with digits other than ASCII's, or a date outside ``TYPED_YEARS``, is an
    error beside its field (what was typed stays in the field), never read as another value or stored."""

    def full_clean(self) -> None:
        super().full_clean()
        if not self.is_bound:
            return
        for name, field in self.fields.items():
            if not isinstance(field, _ASCII_FIELDS) or name in self.errors:
                continue
            raw = self[name].data
            if isinstance(raw, str) and not raw.isascii():
                self.add_error(name, ValidationError(ASCII_DIGITS_MESSAGE, code="non_ascii_digits"))
            elif isinstance(field, _DATE_FIELDS) and (problem := year_problem(self.cleaned_data.get(name))):
                self.add_error(name, ValidationError(problem, code="implausible_year"))


def apply_validation_error(form: forms.BaseForm, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form, against its field where the form has one."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


# What a page calls a service's field. A page never shows a field's Python name: a field not listed here has its
# messages shown alone, and a message that already names its field is not prefixed twice.
FIELD_LABELS: dict[str, str] = {
    "rate_ml_per_h": "Rate (mL/h)",
    "volume_infused_ml": "Volume infused (mL)",
    "temperature_c": "Temperature",
    "heart_rate_bpm": "Heart rate",
    "systolic_bp_mmhg": "Systolic BP",
    "diastolic_bp_mmhg": "Diastolic BP",
    "respiratory_rate_per_min": "Respiratory rate",
    "spo2_percent": "SpO₂",
    "taken_at": "Time taken",
    "started_at": "Start time",
    "changed_at": "Time of the change",
    "completed_at": "Time completed",
    "lot_numbers": "Vial lot numbers",
    "reason": "Reason",
    "reaction": "Reaction",
    "ctcae_grade": "CTCAE grade",
    "action_taken": "Action taken",
    "count": "Platelet count",
    "platelet_count": "Platelet count",
    "check": "Platelet check",
    "measured_at": "Time of the count",
    "collected_at": "Time of the sample",
    "overrides": "Override reasons",
    "prepared_concentration_percent": "Prepared concentration (%)",
}

NON_FIELD = ("__all__", "non_field_errors")


def field_message(field: str, message: str) -> str:
    """One message of a field as a line a page can show: "Rate (mL/h): …", never "rate_ml_per_h: …"."""
    label = FIELD_LABELS.get(field)
    if field in NON_FIELD or label is None or message.lower().startswith(label.split(" (")[0].lower()):
        return message
    return f"{label}: {message}"


def error_messages(exc: Exception) -> list[str]:
    """A service's ValidationError, Conflict or safety stop as lines a page can show (fields in clinical words)."""
    if isinstance(exc, SafetyStopped):
        return [stop.message for stop in exc.stops] + list(exc.field_errors().get("overrides", []))
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        return [field_message(field, message) for field, messages in exc.message_dict.items() for message in messages]
    if isinstance(exc, ValidationError):
        return list(exc.messages)
    return [str(exc)]


# A page sends an override's reason as "override__<code>" beside the action's own fields.
OVERRIDE_PREFIX = "override__"


def overrides_from_post(post: Any) -> dict[str, str]:
    """The reasons a page's form carries for overriding safety stops; a field left empty overrides nothing."""
    return {
        key[len(OVERRIDE_PREFIX) :]: value
        for key, value in post.items()
        if key.startswith(OVERRIDE_PREFIX) and value.strip()
    }


def typed_local_time(value: str | None, field: str) -> Any:
    """A date and time typed on a page (``datetime-local``) is in the hospital's zone; it is stored in UTC. None when
    left empty; a form error on ``field`` when it is not a date and time that exists."""
    if not value:
        return None
    if not value.isascii():
        raise ValidationError({field: ["Enter a date and time with the digits 0-9."]})
    try:
        parsed = parse_datetime(value)
    except ValueError as exc:  # well formed but impossible, such as month 13
        raise ValidationError({field: ["This date and time does not exist."]}) from exc
    if parsed is None:
        raise ValidationError({field: ["Enter a date and time."]})
    if problem := year_problem(parsed):
        raise ValidationError({field: [problem]})
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed
