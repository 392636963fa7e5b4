from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from infusions.models import Order, OrderStatus, SafetyRecord


def orders_with_related() -> QuerySet[Order]:
    return Order.objects.select_related(
        "patient", "product", "created_by", "verified_by", "weight_measurement", "previous_order"
    ).prefetch_related(
        Prefetch("safety_records", queryset=SafetyRecord.objects.select_related("recorded_by", "infusion"))
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
