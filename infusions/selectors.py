from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from infusions.models import Order, OrderStatus, SafetyRecord, SafetyRecordKind


def orders_with_related() -> QuerySet[Order]:
    return Order.objects.select_related(
        "patient", "product", "created_by", "verified_by", "weight_measurement", "previous_order"
    ).prefetch_related(
        Prefetch("safety_records", queryset=SafetyRecord.objects.select_related("recorded_by", "infusion")),
        "outside_doses",
    )


def orders_awaiting_verification() -> QuerySet[Order]:
    """The verification queue: emergencies first, then by first infusion date. Each row's verification dry run
    reads the patient's weights, who returned it, and the previous course with its response (monitoring's
    ``response``, joined by name: infusions never imports monitoring)."""
    return (
        orders_with_related()
        .filter(status=OrderStatus.DRAFT)
        .select_related("returned_by", "previous_order__response")
        .prefetch_related("patient__weights")
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
