from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Max, Prefetch, Q, QuerySet
from django.db.models.functions import Coalesce, Trim, Upper
from django.utils import timezone

from infusions import fluid_rules
from infusions.models import Infusion, Order, OrderStatus, Product, SafetyRecord, SafetyRecordKind, VialLot


def orders_with_related() -> QuerySet[Order]:
    return Order.objects.select_related(
        "patient", "product", "created_by", "verified_by", "weight_measurement", "previous_order", "response", "unit"
    ).prefetch_related(
        Prefetch("safety_records", queryset=SafetyRecord.objects.select_related("recorded_by", "infusion")),
        "outside_doses",
        Prefetch("infusions", queryset=Infusion.objects.select_related("product")),
        "patient__co_therapies",
    )


def orders_awaiting_verification() -> QuerySet[Order]:
    """The verification queue: emergencies first, then by first infusion date. Each row's verification dry run
    reads the patient's weights, who returned it, and the previous course with its response (monitoring's
    ``response``, joined by name: infusions never imports monitoring)."""
    return (
        orders_with_related()
        .filter(status=OrderStatus.DRAFT)
        .select_related("returned_by", "previous_order__response")
        .prefetch_related("patient__weights", "patient__lab_results")
        .order_by("-emergency", "first_infusion_on", "pk")
    )


def orders_of_patient(patient_id: int) -> QuerySet[Order]:
    return orders_with_related().filter(patient_id=patient_id)


OVERRIDE_KINDS = (SafetyRecordKind.OVERRIDE, SafetyRecordKind.DOCUMENTED_DEVIATION)


def overrides_of_order(order_id: int, *, infusion_id: int | None = None) -> QuerySet[SafetyRecord]:
    """The overrides and documented deviations shown wherever the order is shown (docs/clinical-rules.md §A8). With
    ``infusion_id`` (the bedside): the order's own and that infusion's, not the other days'."""
    records = SafetyRecord.objects.filter(order_id=order_id, kind__in=OVERRIDE_KINDS)
    if infusion_id is not None:
        records = records.filter(Q(infusion__isnull=True) | Q(infusion_id=infusion_id))
    return records.select_related("recorded_by", "infusion").order_by("at", "pk")


# --- Lot traceability ---------------------------------------------------------------------------------------


def infusions_given_lot(lot_number: str) -> QuerySet[Infusion]:
    """Every infusion that used a vial of ``lot_number``, with its patient and only that lot's vials: what a recall
    asks. The lot is matched whole, ignoring case and surrounding spaces (labels print it in capitals; a nurse may
    have typed it in lower case)."""
    lot = lot_number.strip()
    vials_of_lot = VialLot.objects.filter(lot_number__iexact=lot).select_related("product").order_by("pk")
    return (
        Infusion.objects.filter(pk__in=VialLot.objects.filter(lot_number__iexact=lot).values("infusion_id"))
        .select_related("order__patient", "order__product", "product")
        .prefetch_related(Prefetch("vial_lots", queryset=vials_of_lot, to_attr="vials_of_lot"), "reactions")
        .order_by("started_at", "pk")
    )


@dataclass(frozen=True)
class LotReactions:
    """One lot of one product: how many infusions used it and how many of those had a reaction, beside the same
    figures for the product across all its lots."""

    product: str
    lot_number: str
    infusions: int
    infusions_with_reaction: int
    highest_grade: int | None
    product_infusions: int
    product_infusions_with_reaction: int

    @property
    def rate(self) -> Decimal:
        return Decimal(self.infusions_with_reaction) / self.infusions if self.infusions else Decimal(0)

    @property
    def product_rate(self) -> Decimal:
        if not self.product_infusions:
            return Decimal(0)
        return Decimal(self.product_infusions_with_reaction) / self.product_infusions

    @property
    def stands_out(self) -> bool:
        """A lot whose share of infusions with a reaction is above the product's usual share (all its lots in the
        window): a signal for pharmacy to look at, not a judgement on the lot."""
        return self.infusions_with_reaction > 0 and self.rate > self.product_rate


LOT_REACTIONS_WINDOW_DAYS = 365


def reactions_by_product_and_lot(*, today: date | None = None) -> list[LotReactions]:
    """Reactions grouped by product and lot over infusions started in the last year (a recall's horizon; older lots
    are found by the lot search). Lots that stand out come first."""
    since = (today or timezone.localdate()) - timedelta(days=LOT_REACTIONS_WINDOW_DAYS)
    vials = VialLot.objects.filter(infusion__started_at__date__gte=since).annotate(
        product_key=Coalesce("product_id", "infusion__product_id", "infusion__order__product_id"),
        # One lot however it was typed.
        lot=Upper(Trim("lot_number")),
    )
    reacted = Q(infusion__reactions__isnull=False)
    per_lot = (
        vials.values("product_key", "lot")
        .annotate(
            infusions=Count("infusion", distinct=True),
            with_reaction=Count("infusion", filter=reacted, distinct=True),
            highest=Max("infusion__reactions__ctcae_grade"),
        )
        .order_by()
    )
    per_product = {
        row["product_key"]: row
        for row in vials.values("product_key")
        .annotate(
            infusions=Count("infusion", distinct=True), with_reaction=Count("infusion", filter=reacted, distinct=True)
        )
        .order_by()
    }
    names = dict(Product.objects.filter(pk__in=per_product).values_list("pk", "name"))
    rows = [
        LotReactions(
            product=names.get(row["product_key"], "?"),
            lot_number=row["lot"],
            infusions=row["infusions"],
            infusions_with_reaction=row["with_reaction"],
            highest_grade=row["highest"],
            product_infusions=per_product[row["product_key"]]["infusions"],
            product_infusions_with_reaction=per_product[row["product_key"]]["with_reaction"],
        )
        for row in per_lot
    ]
    return sorted(rows, key=lambda r: (not r.stands_out, r.product, r.lot_number))


# --- The fluid balance (docs/clinical-rules.md §A13 "Fluid") ---------------------------------------------------


def fluid_balance_closes_at(infusion: Infusion) -> datetime | None:
    """When the infusion's balance closes: the next day's start or 24 h after its end, whichever is first; None while
    it is open-ended."""
    # From the course's days the infusion list prefetches (one query otherwise).
    later_starts = [
        day.started_at
        for day in infusion.order.infusions.all()
        if day.day_number > infusion.day_number and day.started_at is not None
    ]
    next_day = min(later_starts, default=None)
    return fluid_rules.balance_window_end(ended_at=infusion.ended_at, next_day_started_at=next_day)


def fluid_balance(
    infusion: Infusion, *, at: datetime | None = None, closes_at: datetime | None = None
) -> fluid_rules.FluidBalance | None:
    """The infusion's running balance from its start, as of ``at`` (default now), never past the moment it closes;
    None before the start. Whether a balance is kept for the patient at all is the services' question
    (``services.fluid_balance``), as it needs the course's eGFR judgement."""
    if infusion.started_at is None:
        return None
    closes_at = closes_at or fluid_balance_closes_at(infusion)
    moment = at or timezone.now()
    if closes_at is not None:
        moment = min(moment, closes_at)
    segments = [
        fluid_rules.Segment(rate_ml_per_h=s.rate_ml_per_h, started_at=s.started_at, ended_at=s.ended_at)
        for s in infusion.rate_segments.all()
    ]
    entries = [
        fluid_rules.FluidEntry(
            kind=fluid_rules.EntryKind(e.kind),
            volume_ml=Decimal(e.volume_ml),
            at=e.recorded_at,
            description=e.description,
            ref=e.pk,
        )
        # Sorted here rather than by the query, so that a list's prefetched entries are used.
        for e in sorted(infusion.fluid_entries.all(), key=lambda e: (e.recorded_at, e.pk))
    ]
    return fluid_rules.running_balance(segments, entries, max(moment, infusion.started_at))
