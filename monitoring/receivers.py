"""Monitoring's answers to the infusions app's events; they run in the sender's transaction."""

from __future__ import annotations

import hashlib
from typing import Any

from django.utils import timezone

from core.stops import Stop
from monitoring import selectors, services
from monitoring.models import NotificationKind


def on_infusion_ended(sender: Any, infusion: Any, first_of_order: bool, user: Any = None, **kwargs: Any) -> None:
    # A6/A12: the checks exist from the moment the order's first infusion ends, written in the same transaction as
    # the completion. A later day's end may end the course: its results are worked out again (the window closes
    # and the non-response flag, which waits for the course's end, may now be due).
    if first_of_order:
        services.create_platelet_checks(order=infusion.order, first_infusion_ended_at=infusion.ended_at, user=user)
    else:
        services.reassess_response(infusion.order)
    # A13: the creatinine and hemoglobin the course owes once it ended, or before day 3 once day 2 ended.
    services.ensure_lab_checks(infusion.order, user=user)


def on_withhold_requested(sender: Any, infusion: Any, **kwargs: Any) -> Stop | None:
    # A1: a dose is withheld only on day 2+ of a regimen that allows it, when the counted result shows a response.
    return selectors.withhold_stop(infusion)


def on_course_started(sender: Any, order: Any, started_at: Any, user: Any = None, **kwargs: Any) -> None:
    # A12: a new course's first start supersedes the earlier courses' open follow-up checks and closes their window.
    services.supersede_follow_ups(patient_id=order.patient_id, new_order=order, started_at=started_at, user=user)


def on_order_verified(sender: Any, order: Any, user: Any = None, **kwargs: Any) -> None:
    # A course begun elsewhere: its time zero is the first outside dose, so the checks are due from its end (A6, §A9
    # "Courses that change"). Unique on order + label: a re-verification writes no second set.
    first = order.outside_doses.order_by("started_at", "pk").first()
    if first is not None:
        services.create_platelet_checks(order=order, first_infusion_ended_at=first.ended_at, user=user)
        # A course begun elsewhere began with that dose: it supersedes the earlier courses as a start here would.
        services.supersede_follow_ups(
            patient_id=order.patient_id, new_order=order, started_at=first.started_at, user=user
        )


def on_order_cancelled(sender: Any, order: Any, user: Any = None, **kwargs: Any) -> None:
    services.cancel_open_checks(order=order, user=user)
    # A course cancelled after a day was given has ended: it owes its lab checks (A12, A13).
    services.ensure_lab_checks(order, user=user)


def on_lab_results_changed(
    sender: Any, patient_id: int, test: str, collected_at: Any, user: Any, **kwargs: Any
) -> None:
    # A13: a creatinine or hemoglobin answers the courses' lab checks and may show a decline.
    services.lab_results_changed(patient_id=patient_id, test=test, collected_at=collected_at, user=user)


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


# A late start whose vials were wrong also concerns pharmacy: the vials given are theirs to trace (A8).
PHARMACY_DEVIATIONS = frozenset({"vial_mismatch"})


def on_safety_deviation_documented(sender: Any, order: Any, records: list[Any], **kwargs: Any) -> None:
    # A8: an event recorded late is never refused; the stops it would have met go to the ordering hematologist,
    # and to every pharmacist for a vial that did not match the order.
    pharmacists: list[Any] | None = None
    for record in records:
        recipients = [order.created_by]
        if record.code in PHARMACY_DEVIATIONS:
            pharmacists = services.users_with_role("pharmacist") if pharmacists is None else pharmacists
            recipients += [user for user in pharmacists if user.pk != order.created_by_id]
        services.notify(
            recipients=recipients,
            kind=NotificationKind.DOCUMENTED_DEVIATION,
            message=(
                f"Recorded late for {order.patient} (order #{order.pk}): {record.message} "
                f"({record.code}, {timezone.localtime(record.at):%Y-%m-%d %H:%M})"
            ),
            dedupe_key=f"documented_deviation:record{record.pk}",
            order=order,
        )


def on_course_on_hold(sender: Any, order: Any, **kwargs: Any) -> None:
    services.notify(
        recipients=[order.created_by],
        kind=NotificationKind.COURSE_ON_HOLD,
        message=(
            f"The course of {order.patient} (order #{order.pk}) is on hold: {order.hold_reason}. Review it on the "
            "order: continue with a reason, or cancel the remaining days."
        ),
        # One notice per reason: a reason joined to one awaiting review notifies again.
        dedupe_key=f"course_on_hold:order{order.pk}:{hashlib.sha256(order.hold_reason.encode()).hexdigest()[:32]}",
        order=order,
    )


def on_order_returned(sender: Any, order: Any, **kwargs: Any) -> None:
    services.notify(
        recipients=[order.created_by],
        kind=NotificationKind.ORDER_RETURNED,
        message=f"Order #{order.pk} for {order.patient} was returned by {order.returned_by}: {order.returned_reason}",
        dedupe_key=f"order_returned:order{order.pk}:{order.returned_at:%Y%m%d%H%M%S%f}",
        order=order,
    )


def on_vials_not_detailed(sender: Any, infusion: Any, lot_numbers: list[str], **kwargs: Any) -> None:
    # IVIG_V1_START_COMPAT: a start taken with lots only lacks the vials' product, size and expiry; pharmacy is told
    # so that traceability is completed while the hospital moves its clients to vials (docs/api.md, v1 clients).
    order = infusion.order
    services.notify(
        recipients=services.users_with_role("pharmacist"),
        kind=NotificationKind.VIALS_NOT_DETAILED,
        message=(
            f"Day {infusion.day_number} of order #{order.pk} for {order.patient} was started with lot numbers only "
            f"({', '.join(lot_numbers)}): record each vial's product, size and expiry."
        ),
        dedupe_key=f"vials_not_detailed:infusion{infusion.pk}",
        order=order,
    )
