"""Display helpers: clinical numbers shown the same way on every page."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

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
