"""The vials of a start, typed or scanned (docs/clinical-rules.md §A10 vial_mismatch; docs/api.md "Infusions").

A typed vial names its product, size, lot and expiry; a scanned one is a GS1 element string whose GTIN names the
product and size (``Product.gtins``). Both become ``safety_rules.VialGiven`` for the rule, and a row each for
``VialLot``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from infusions.models import Infusion, Product
from infusions.safety_rules import VialGiven, vial_problems
from infusions.vial_scan import ScanError, parse_vial_scan


@dataclass(frozen=True)
class Vial:
    """One physical vial of a start: what the rule checks and what VialLot stores."""

    given: VialGiven
    product: Product | None
    serial: str | None


def _sizes(product: Product) -> frozenset[Decimal]:
    return frozenset(Decimal(str(size)) for size in product.vial_sizes_g or [])


def gtin_index() -> dict[str, tuple[Product, Decimal]]:
    """Every GTIN the catalogue knows, with its product and vial size."""
    index: dict[str, tuple[Product, Decimal]] = {}
    for product in Product.objects.exclude(gtins=[]):
        for entry in product.gtins or []:
            index[entry["gtin"]] = (product, Decimal(str(entry["vial_size_g"])))
    return index


def _typed_size_g(vial_size_g: Any) -> Decimal | None:
    """A vial's size as typed: None when not given; a field error when it is not a finite positive number written
    with ASCII digits (the product's sizes are then judged by §A10 vial_mismatch)."""
    if vial_size_g is None or str(vial_size_g).strip() == "":
        return None
    text = str(vial_size_g).strip()
    try:
        size = Decimal(text) if text.isascii() else None
    except ArithmeticError:
        size = None
    if size is None or not size.is_finite() or size <= 0:
        raise ValidationError({"vials": [f"The vial size {text[:20]} is not a number of grams, such as 5 or 2.5."]})
    return size


def typed_vial(product: Product, *, lot_number: str, expiry_date: date | None, vial_size_g: Any) -> Vial:
    size = _typed_size_g(vial_size_g)
    if isinstance(expiry_date, str):  # a service caller's ISO date; the API and the page give dates
        expiry_date = date.fromisoformat(expiry_date) if expiry_date else None
    given = VialGiven(
        product_id=product.pk,
        product_name=product.name,
        product_sizes_g=_sizes(product),
        vial_size_g=size,
        lot_number=(lot_number or "").strip(),
        expiry_date=expiry_date,
    )
    return Vial(given=given, product=product, serial=None)


def scanned_vial(text: str, index: dict[str, tuple[Product, Decimal]] | None = None) -> Vial:
    """Read one scanned (or hand-typed) GS1 element string; ScanError when it is not a vial's code."""
    scan = parse_vial_scan(text)
    known = (index if index is not None else gtin_index()).get(scan.gtin)
    if known is None:
        given = VialGiven(
            product_id=None,
            product_name="",
            product_sizes_g=frozenset(),
            vial_size_g=None,
            lot_number=scan.lot or "",
            expiry_date=scan.expiry,
            gtin=scan.gtin,
        )
        return Vial(given=given, product=None, serial=scan.serial)
    product, size = known
    given = VialGiven(
        product_id=product.pk,
        product_name=product.name,
        product_sizes_g=_sizes(product),
        vial_size_g=size,
        lot_number=scan.lot or "",
        expiry_date=scan.expiry,
        gtin=scan.gtin,
    )
    return Vial(given=given, product=product, serial=scan.serial)


def vials_of_start(vials: Sequence[dict[str, Any]] | None, barcodes: Sequence[str] | None) -> list[Vial]:
    """The start's vials, typed then scanned; a barcode that is not a vial's code is a field error."""
    result: list[Vial] = []
    products = {p.pk: p for p in Product.objects.filter(pk__in=[_product_id(v) for v in vials or []])}
    errors: list[str] = []
    for number, entry in enumerate(vials or [], start=1):
        product = products.get(_product_id(entry))
        if product is None:
            errors.append(f"Vial {number}: no such product.")
            continue
        result.append(
            typed_vial(
                product,
                lot_number=entry.get("lot_number", ""),
                expiry_date=entry.get("expiry_date"),
                vial_size_g=entry.get("vial_size_g"),
            )
        )
    if errors:
        raise ValidationError({"vials": errors})
    index = gtin_index() if barcodes else {}
    for number, text in enumerate(barcodes or [], start=1):
        try:
            result.append(scanned_vial(text, index))
        except ScanError as exc:
            errors.append(f"Barcode {number}: {exc}")
    if errors:
        raise ValidationError({"barcodes": errors})
    return result


def _product_id(entry: dict[str, Any]) -> Any:
    product = entry.get("product")
    return product.pk if isinstance(product, Product) else product


def check_vial(infusion_id: int, *, barcode: str = "", typed: dict[str, Any] | None = None) -> dict[str, Any]:
    """One vial against the day, before the start (the bedside page's scan field): what it is and its problems in a
    nurse's words; the total is checked at the start. Nothing is stored."""
    infusion = Infusion.objects.select_related("order__product").get(pk=infusion_id)
    order = infusion.order
    try:
        if barcode.strip():
            vial = scanned_vial(barcode)
        else:
            entry = typed or {}
            product_id = _product_id(entry)
            product = Product.objects.filter(pk=product_id).first() if isinstance(product_id, int) else None
            if product is None:
                return {"ok": False, "label": "", "problems": ["Choose the vial's product."]}
            vial = typed_vial(
                product,
                lot_number=entry.get("lot_number", ""),
                expiry_date=entry.get("expiry_date"),
                vial_size_g=entry.get("vial_size_g"),
            )
    except ScanError as exc:
        return {"ok": False, "label": "", "problems": [str(exc)]}
    problems = vial_problems(
        vial.given,
        order_product_ids=frozenset({order.product_id}),
        order_product_name=order.product.name,
        on=timezone.localdate(),
    )
    given = vial.given
    size = f"{given.vial_size_g.normalize():f} g" if given.vial_size_g is not None else "size?"
    expiry = f"exp. {given.expiry_date:%Y-%m-%d}" if given.expiry_date else "expiry?"
    label = f"{given.product_name or 'Unknown product'} {size}, lot {given.lot_number or '?'}, {expiry}"
    return {"ok": not problems, "label": label, "problems": problems}


def planned_vials(infusion: Infusion, *, lot_number: str, expiry_date: date) -> list[dict[str, Any]]:
    """The day's planned vials (``vials_per_day``) of the order's product, all of one lot, as a start takes them
    typed: for demo data and benchmarks, which give what was planned."""
    order = infusion.order
    return [
        {
            "product": order.product_id,
            "lot_number": lot_number,
            "expiry_date": expiry_date,
            "vial_size_g": Decimal(str(planned["size_g"])),
        }
        for planned in order.vials_per_day
        for _ in range(int(planned["count"]))
    ]
