"""The site's catalogue values: what pharmacy records for a product where its label is silent
(docs/clinical-rules.md §A4, §A9 ``rate_plan_incomplete``; docs/api.md "Products").

A label value is never replaced. A site value carries its source (the site protocol, an SmPC section...), who
recorded it and when, in ``Product.site_values``; the product's own field holds the value, so dosing and the stops
read it like a label value. The product keeps its history.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from core.history import attribute_change
from core.roles import has_permission
from infusions.models import Product

SOURCE_MAX_LENGTH = 300
# Rates fit the product's DecimalField(max_digits=6, decimal_places=3).
_RATE_MAX = Decimal("999.999")
_RATE_STEP = Decimal("0.001")


class _Invalid(Exception):
    pass


def _decimal(raw: Any) -> Decimal:
    if isinstance(raw, bool) or raw is None or raw == "":
        raise _Invalid("Enter a number.")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation as exc:
        raise _Invalid("Enter a number.") from exc
    if not value.is_finite():
        raise _Invalid("Enter a number.")
    return value


def _rate(raw: Any) -> Decimal:
    value = _decimal(raw)
    if value <= 0:
        raise _Invalid("A rate must be above 0 mg/kg/min.")
    if value > _RATE_MAX or value != value.quantize(_RATE_STEP):
        raise _Invalid("Give the rate in mg/kg/min with at most 3 decimals, below 1000.")
    return value


def _whole(raw: Any, *, minimum: int, maximum: int, unit: str) -> int:
    value = _decimal(raw)
    if value != value.to_integral_value():
        raise _Invalid(f"Enter a whole number of {unit}.")
    if not minimum <= value <= maximum:
        raise _Invalid(f"Enter {minimum} to {maximum} {unit}.")
    return int(value)


def _interval(raw: Any) -> int:
    return _whole(raw, minimum=1, maximum=240, unit="minutes")


def _age(raw: Any) -> int:
    return _whole(raw, minimum=0, maximum=120, unit="years")


def _vial_sizes(raw: Any) -> list[float]:
    items = raw.replace(";", ",").split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not [item for item in items if str(item).strip()]:
        raise _Invalid("Give at least one vial size in grams, e.g. 2.5, 5, 10.")
    sizes: list[Decimal] = []
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        size = _decimal(item)
        if size <= 0 or size > 1000:
            raise _Invalid("Every vial size is a positive number of grams.")
        sizes.append(size)
    return [float(size) for size in sorted(set(sizes))]


def _flag(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in {"true", "yes", "on", "1"}:
        return True
    if isinstance(raw, str) and raw.strip().lower() in {"false", "no", "off", "0"}:
        return False
    raise _Invalid("Answer true or false.")


def _text(raw: Any) -> str:
    text = str(raw or "").strip()
    if not text:
        raise _Invalid("Enter the stabiliser or sugar as the site's source gives it.")
    if len(text) > 200:
        raise _Invalid("At most 200 characters.")
    return text


# The values a site may record where the label is silent, with how each is read.
SITE_FIELDS: dict[str, Callable[[Any], Any]] = {
    "initial_rate_mg_per_kg_min": _rate,
    "step_up_interval_min": _interval,
    "itp_max_rate_mg_per_kg_min": _rate,
    "vial_sizes_g": _vial_sizes,
    "itp_min_age_years": _age,
    "contains_sorbitol": _flag,
    "contains_maltose": _flag,
    "contains_glucose": _flag,
    "stabiliser": _text,
}


def checked_value(field: str, raw: Any) -> Any:
    """One catalogue value read as the site-values page reads it (a vial size a positive number of grams, a rate
    above 0 with at most 3 decimals...), for the admin's product form, so every way into the catalogue refuses
    the same values; a ValidationError on ``field`` in clinical words otherwise."""
    try:
        return SITE_FIELDS[field](raw)
    except _Invalid as exc:
        raise ValidationError({field: [str(exc)]}) from exc


SITE_FIELD_LABELS = {
    "initial_rate_mg_per_kg_min": "initial rate (mg/kg/min)",
    "step_up_interval_min": "step-up interval (min)",
    "itp_max_rate_mg_per_kg_min": "ITP maximum rate (mg/kg/min)",
    "vial_sizes_g": "vial sizes (g)",
    "itp_min_age_years": "label's lower age for ITP (years)",
    "contains_sorbitol": "contains sorbitol",
    "contains_maltose": "contains maltose",
    "contains_glucose": "contains glucose",
    "stabiliser": "stabiliser / sugar",
}


def known(product: Product, field: str) -> bool:
    """Whether the catalogue holds a value for ``field``. A sugar flag is known when set: an unset flag means the
    catalogue records no such sugar, which a site may add."""
    value = getattr(product, field)
    if field.startswith("contains_"):
        return bool(value)
    return value not in (None, "", [], ())


def label_gives(product: Product, field: str) -> bool:
    """A value the shipped catalogue (the label) gives: known, and not itself entered by the site."""
    return known(product, field) and field not in (product.site_values or {})


def unknown_fields(product: Product) -> list[str]:
    """The site-recordable values the catalogue does not hold, in the order the page lists them."""
    return [field for field in SITE_FIELDS if not known(product, field) and not field.startswith("contains_")]


def _json(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


@transaction.atomic
def record_site_values(*, product_id: int, user: Any, values: dict[str, Any], source: str) -> Product:
    """Record the site's values for what a product's label leaves unknown, each with its source.

    Refused (nothing changes) with field errors when a value is not valid, when the label already gives it, or when
    the source is missing; by PermissionDenied for a user without ``infusions.change_product`` (pharmacy).
    Orders already drafted keep their frozen working: a hematologist recalculates them (the product page says so).
    """
    if not has_permission(user, "infusions.change_product"):
        raise PermissionDenied("Only pharmacy records the site's catalogue values.")
    product = Product.objects.select_for_update().get(pk=product_id)
    errors: dict[str, list[str]] = {}
    source = (source or "").strip()
    if not source:
        errors["source"] = ["Name the source of these values (the site protocol, the SmPC section...)."]
    elif len(source) > SOURCE_MAX_LENGTH:
        errors["source"] = [f"At most {SOURCE_MAX_LENGTH} characters."]
    if not values:
        errors["values"] = ["Record at least one value."]
    cleaned: dict[str, Any] = {}
    for field, raw in (values or {}).items():
        reader = SITE_FIELDS.get(field)
        if reader is None:
            errors[field] = [f"{field} is not a value the site records."]
            continue
        if label_gives(product, field):
            errors[field] = [
                f"The label gives {SITE_FIELD_LABELS[field]} ({_shown(getattr(product, field))}): a label value is "
                "never replaced by a site value."
            ]
            continue
        try:
            cleaned[field] = reader(raw)
        except _Invalid as exc:
            errors[field] = [str(exc)]
    initial = cleaned.get("initial_rate_mg_per_kg_min", product.initial_rate_mg_per_kg_min)
    maximum = cleaned.get("itp_max_rate_mg_per_kg_min", product.itp_max_rate_mg_per_kg_min)
    rate_fields = {"initial_rate_mg_per_kg_min", "itp_max_rate_mg_per_kg_min"} & cleaned.keys()
    if rate_fields and initial is not None and maximum is not None and initial > maximum:
        field = "initial_rate_mg_per_kg_min" if "initial_rate_mg_per_kg_min" in cleaned else next(iter(rate_fields))
        errors.setdefault(field, []).append(
            f"The initial rate ({_shown(initial)} mg/kg/min) may not be above the ITP maximum "
            f"({_shown(maximum)} mg/kg/min)."
        )
    if errors:
        raise ValidationError(errors)

    at = timezone.now().isoformat()
    site_values = dict(product.site_values or {})
    for field, value in cleaned.items():
        setattr(product, field, value)
        site_values[field] = {"value": _json(value), "source": source, "by": user.get_username(), "at": at}
    product.site_values = site_values
    attribute_change(product, user, reason=f"site values: {', '.join(cleaned)} (source: {source})"[:100])
    product.save()
    return product


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_shown(item) for item in value)
    if isinstance(value, float | Decimal):
        text = f"{Decimal(str(value)):f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value)


def _gtin(raw: Any) -> str:
    """A GTIN-8/12/13/14 with a valid check digit, as the 14 digits GS1 (01) carries."""
    digits = str(raw or "").strip()
    if not digits.isdigit() or len(digits) not in (8, 12, 13, 14):
        raise _Invalid("A GTIN is 8, 12, 13 or 14 digits.")
    digits = digits.zfill(14)
    weighted = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits[:-1])))
    if (10 - weighted % 10) % 10 != int(digits[-1]):
        raise _Invalid(f"The GTIN {digits} has a wrong check digit: copy it again from the label.")
    return digits


@transaction.atomic
def record_gtins(*, product_id: int, user: Any, gtins: list[dict[str, Any]], source: str) -> Product:
    """Record the GTINs of a product's vials, each with its vial size (one of the product's) and whether it is a
    made-up one of demo data: ``[{"gtin", "vial_size_g", "demo"}]`` replaces the list, kept in the product's
    history with its source, like the site's other values (docs/clinical-rules.md §A10 vial_mismatch).

    Refused with field errors when a GTIN is not valid, repeated, already another product's, or of a size the
    product does not come in; by PermissionDenied for a user without ``infusions.change_product`` (pharmacy).
    """
    if not has_permission(user, "infusions.change_product"):
        raise PermissionDenied("Only pharmacy records the products' GTINs.")
    product = Product.objects.select_for_update().get(pk=product_id)
    errors: dict[str, list[str]] = {}
    source = (source or "").strip()
    if not source:
        errors["source"] = ["Name the source of these GTINs (the label, the supplier's catalogue...)."]
    elif len(source) > SOURCE_MAX_LENGTH:
        errors["source"] = [f"At most {SOURCE_MAX_LENGTH} characters."]
    sizes = {Decimal(str(size)) for size in product.vial_sizes_g or []}
    taken = {
        entry["gtin"]: other.name
        for other in Product.objects.exclude(pk=product.pk).exclude(gtins=[])
        for entry in other.gtins or []
    }
    cleaned: list[dict[str, Any]] = []
    problems: list[str] = []
    for entry in gtins or []:
        try:
            gtin = _gtin(entry.get("gtin") if isinstance(entry, dict) else None)
            size = _decimal(entry.get("vial_size_g"))
            demo = _flag(entry.get("demo", False))
        except _Invalid as exc:
            problems.append(str(exc))
            continue
        if size not in sizes:
            shown = _shown(sorted(sizes)) or "no size recorded"
            problems.append(f"{product.name} does not come in {_shown(size)} g vials ({shown}).")
        elif gtin in taken:
            problems.append(f"The GTIN {gtin} is {taken[gtin]}'s.")
        elif any(item["gtin"] == gtin for item in cleaned):
            problems.append(f"The GTIN {gtin} is given twice.")
        else:
            cleaned.append({"gtin": gtin, "vial_size_g": float(size), "demo": demo})
    if problems:
        errors["gtins"] = problems
    if errors:
        raise ValidationError(errors)

    product.gtins = cleaned
    site_values = dict(product.site_values or {})
    site_values["gtins"] = {
        "value": cleaned,
        "source": source,
        "by": user.get_username(),
        "at": timezone.now().isoformat(),
    }
    product.site_values = site_values
    attribute_change(product, user, reason=f"GTINs (source: {source})"[:100])
    product.save()
    return product
