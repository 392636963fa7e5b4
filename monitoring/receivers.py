"""Monitoring's answers to the infusions app's events; they run in the sender's transaction."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from monitoring import services
from monitoring.models import NotificationKind


def on_infusion_ended(sender: Any, infusion: Any, first_of_order: bool, **kwargs: Any) -> None:
    # A6: the four checks exist from the moment the order's first infusion ends, written in the same
    # transaction as the completion.
    if first_of_order:
        services.create_platelet_checks(order=infusion.order, first_infusion_ended_at=infusion.ended_at)


def on_order_cancelled(sender: Any, order: Any, **kwargs: Any) -> None:
    services.cancel_open_checks(order=order)


def on_vitals_alert(sender: Any, entry: Any, alerts: list[dict[str, Any]], infusion: Any, **kwargs: Any) -> None:
    high = [alert for alert in alerts if alert["severity"] == "high"]
    if not high:
        return
    order = infusion.order
    patient = order.patient
    taken = timezone.localtime(entry.taken_at)
    services.notify(
        recipients=[order.created_by],
        kind=NotificationKind.VITALS_ALERT,
        message=(
            f"High vital-signs alert for {patient} (order #{order.pk}, day {infusion.day_number}) at "
            f"{taken:%H:%M}: " + "; ".join(alert["message"] for alert in high) + " Suggested action: stop."
        ),
        dedupe_key=f"vitals_alert:entry{entry.pk}",
        order=order,
    )
