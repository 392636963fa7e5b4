"""Display helpers: clinical numbers shown the same way on every page."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template
from django.utils import timezone

register = template.Library()


def _plain(value: Any, places: int = 1) -> str:
    if value is None or value == "":
        return "—"
    number = Decimal(str(value)).quantize(Decimal(1).scaleb(-places))
    text = f"{number:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@register.filter
def kg(value: Any) -> str:
    return "—" if value in (None, "") else f"{_plain(value, 1)} kg"


# Exact by definition: the international pound (1959) and inch.
KG_PER_LB = Decimal("0.45359237")
CM_PER_IN = Decimal("2.54")


@register.filter
def lb(value: Any) -> str:
    """A weight in kg shown in pounds, to 0.1 lb: 70 -> "154.3 lb"."""
    return "—" if value in (None, "") else f"{_plain(Decimal(str(value)) / KG_PER_LB, 1)} lb"


@register.filter
def inches(value: Any) -> str:
    """A height in cm shown in inches, to 0.1 in: 165 -> "65 in"."""
    return "—" if value in (None, "") else f"{_plain(Decimal(str(value)) / CM_PER_IN, 1)} in"


@register.filter
def grams(value: Any) -> str:
    return "—" if value in (None, "") else f"{_plain(value, 2)} g"


@register.filter
def signed(value: Any) -> str:
    if value in (None, ""):
        return "—"
    number = Decimal(str(value))
    return f"{'+' if number > 0 else ''}{_plain(number, 1)}"


@register.filter
def signed_ml(value: Any) -> str:
    """A fluid balance in whole mL with its sign, the minus a true minus as the entries show it: "+250", "−149"."""
    if value in (None, ""):
        return "—"
    number = int(value)
    return f"+{number}" if number > 0 else f"−{-number}" if number < 0 else "0"


@register.filter
def vials(value: Any) -> str:
    parts = []
    for vial in value or []:
        size = vial["size_g"] if isinstance(vial, dict) else vial.size_g
        count = vial["count"] if isinstance(vial, dict) else vial.count
        parts.append(f"{count} × {_plain(size, 2)} g")
    return " + ".join(parts) or "—"


@register.filter
def humanize_code(value: Any) -> str:
    return str(value or "").replace("_", " ")


@register.filter
def hours(value: Any) -> str:
    """A duration in hours to 0.1 h: 28.1000000000000 -> "28.1 h"."""
    return "—" if value in (None, "") else f"{_plain(value, 1)} h"


@register.filter
def when(value: Any) -> str:
    """A time in the hospital's zone on the 24-hour clock, with its date when it is not today: "14:05", or
    "2026-12-02 03:15" for tomorrow's early hours (never an AM/PM that a narrow column could cut)."""
    if value in (None, ""):
        return "—"
    local = timezone.localtime(value)
    if local.date() == timezone.localdate():
        return local.strftime("%H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


@register.filter
def percent(value: Any) -> str:
    """A share (0 to 1) as a whole percentage: Decimal("0.125") -> "13 %"."""
    return "—" if value in (None, "") else f"{_plain(Decimal(str(value)) * 100, 0)} %"


@register.filter
def age(birth_date: Any) -> str:
    """Age as clinicians say it: days in the first month, months until two years, then whole years."""
    if not birth_date:
        return "—"
    today = timezone.localdate()
    days = (today - birth_date).days
    if days < 31:
        return f"{days} day{'s' if days != 1 else ''}"
    months = (today.year - birth_date.year) * 12 + today.month - birth_date.month - (today.day < birth_date.day)
    if months < 24:
        return f"{months} month{'s' if months != 1 else ''}"
    return f"{months // 12} years"


@register.filter
def g_per_kg(grams_value: Any, kilograms: Any) -> str:
    """A dose per kg of dosing weight, to 0.01 g/kg: 72.5 g for 71 kg -> "1.02"."""
    if grams_value in (None, "") or not kilograms:
        return "—"
    return _plain(Decimal(str(grams_value)) / Decimal(str(kilograms)), 2)


@register.filter
def response_time(value: Any) -> str:
    """A time to response as clinicians read it (A12): hours to 0.1 h, and days too from two days on:
    28.1 -> "28.1 h", 76.5 -> "3.2 days (76.5 h)"."""
    if value in (None, ""):
        return "—"
    hours_value = Decimal(str(value))
    if hours_value < 48:
        return f"{_plain(hours_value, 1)} h"
    return f"{_plain(hours_value / 24, 1)} days ({_plain(hours_value, 1)} h)"
