from __future__ import annotations

from typing import Any

from core.stops import Kind, Stop
from infusions.models import Infusion, Order
from monitoring import response_rules
from monitoring.models import CURRENT_RESULT, Notification, OrderResponse, PlateletResult


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


def latest_counted_result(order: Order) -> PlateletResult | None:
    """The latest result that counts toward the course, a check's or an ad hoc one (A12): final, standing, and
    attributed (not within 24 h of a platelet transfusion, not outside the course's window). The day-2 prompt and
    the withhold rule read this one result, so what the page offers is what the service allows."""
    return (
        PlateletResult.objects.filter(CURRENT_RESULT, order=order, preliminary=False, not_attributed_reason="")
        .select_related("platelet_check")
        .order_by("-collected_at", "-pk")
        .first()
    )


def withhold_stop(infusion: Infusion) -> Stop | None:
    """A1's answer to withholding this scheduled dose: None when allowed, else a hard stop with its reason."""
    latest = latest_counted_result(infusion.order)
    category = response_rules.IwgCategory(latest.category) if latest is not None and latest.category else None
    refusal = response_rules.withhold_refusal(
        regimen_code=infusion.order.regimen, day_number=infusion.day_number, latest_counted_category=category
    )
    if refusal is None:
        return None
    return Stop(code=response_rules.WITHHOLD_NOT_INDICATED, kind=Kind.HARD, message=refusal)
