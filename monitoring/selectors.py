from __future__ import annotations

from typing import Any

from infusions.models import Order
from monitoring.models import Notification, OrderResponse


def response_body(order: Order) -> dict[str, Any]:
    """docs/api.md "Response": the stored assessment, or pending before the first infusion ended."""
    record = OrderResponse.objects.filter(order=order).first()
    return {
        "category": record.category if record else "pending",
        "baseline_platelet_count": order.baseline_platelet_count,
        "best_platelet_count": record.best_platelet_count if record else None,
        "latest_platelet_count": record.latest_platelet_count if record else None,
        "time_to_response_hours": record.time_to_response_hours if record else None,
        "repeat_dose_recommended": record.repeat_dose_recommended if record else False,
        "loss_of_response": record.loss_of_response if record else "none",
        "bleeding_unassessed": record.bleeding_unassessed if record else False,
        "with_corticosteroids": record.with_corticosteroids if record else False,
        "with_other_itp_treatment": record.with_other_itp_treatment if record else False,
        "repeat_decision": record.repeat_decision if record else "",
        "repeat_order": record.repeat_order_id if record else None,
        "assessed_at": record.assessed_at if record else None,
    }


def unread_count(user: Any) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()
