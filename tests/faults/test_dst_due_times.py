"""Platelet checks across a daylight-saving change: each is due exactly 24/48/72/168 elapsed
hours after the first infusion ends, and is shown on the hospital's wall clock, in Europe/London and in
America/New_York, spring and autumn. No worker is needed: these run on any database."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from core.tokens import issue_token
from infusions import services as infusions
from monitoring import services
from monitoring.models import Notification, PlateletCheck
from tests.factories import FULL_CHECKLIST, NORMAL_VITALS, UserFactory, day_vials, verified_order

pytestmark = [pytest.mark.db, pytest.mark.django_db]

ELAPSED = {
    "24h": timedelta(hours=24),
    "48h": timedelta(hours=48),
    "72h": timedelta(hours=72),
    "7d": timedelta(hours=168),
}

# Each completion is an hour or so before the clocks change; what the hospital's wall clock shows when each check
# falls due. A calendar-day step on the wall clock would be one elapsed hour short or long.
CHANGES = [
    pytest.param(
        "Europe/London",
        "2026-03-29T00:30:00+00:00",  # 00:30 GMT; at 01:00 GMT the clocks go forward to 02:00 BST
        "2026-03-29 00:30 GMT",
        {
            "24h": "2026-03-30 01:30 BST",
            "48h": "2026-03-31 01:30 BST",
            "72h": "2026-04-01 01:30 BST",
            "7d": "2026-04-05 01:30 BST",
        },
        id="london-spring-forward",
    ),
    pytest.param(
        "Europe/London",
        "2026-10-25T01:30:00+01:00",  # 01:30 BST, the first of two; at 02:00 BST the clocks go back to 01:00 GMT
        "2026-10-25 01:30 BST",
        {
            "24h": "2026-10-26 00:30 GMT",
            "48h": "2026-10-27 00:30 GMT",
            "72h": "2026-10-28 00:30 GMT",
            "7d": "2026-11-01 00:30 GMT",
        },
        id="london-fall-back",
    ),
    pytest.param(
        "America/New_York",
        "2026-03-08T01:30:00-05:00",  # 01:30 EST; at 02:00 EST the clocks go forward to 03:00 EDT
        "2026-03-08 01:30 EST",
        {
            "24h": "2026-03-09 02:30 EDT",
            "48h": "2026-03-10 02:30 EDT",
            "72h": "2026-03-11 02:30 EDT",
            "7d": "2026-03-15 02:30 EDT",
        },
        id="new-york-spring-forward",
    ),
    pytest.param(
        "America/New_York",
        "2026-11-01T01:30:00-04:00",  # 01:30 EDT, the first of two; at 02:00 EDT the clocks go back to 01:00 EST
        "2026-11-01 01:30 EDT",
        {
            "24h": "2026-11-02 00:30 EST",
            "48h": "2026-11-03 00:30 EST",
            "72h": "2026-11-04 00:30 EST",
            "7d": "2026-11-08 00:30 EST",
        },
        id="new-york-fall-back",
    ),
]


def wall_clock(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")


def completed_late(*, completed_at: datetime, nurse: Any, settings: Any) -> tuple[Any, APIClient]:
    """A verified order whose first infusion ran for two hours, its completion entered late through the API in
    the hospital's time (as a bedside tablet sends it). Returns the order and the nurse's API client."""
    started_at = completed_at - timedelta(hours=2)
    # The order was written that night: today's limit on the weight's age is not what these tests are about.
    settings.IVIG_MAX_WEIGHT_AGE_DAYS = (timezone.now() - started_at).days + 2
    order = verified_order(
        first_infusion_on=timezone.localdate(started_at),
        weight_kg__measured_at=started_at - timedelta(days=1),
        iga_measured_on=timezone.localdate(started_at) - timedelta(days=10),
    )
    infusion = order.infusions.get(day_number=1)
    infusions.record_vitals(infusion_id=infusion.pk, user=nurse, values=NORMAL_VITALS, taken_at=started_at)
    infusions.start_infusion(
        infusion_id=infusion.pk, user=nurse, checklist=FULL_CHECKLIST, vials=day_vials(infusion), started_at=started_at
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(nurse)[1]}")
    response = client.post(
        f"/api/v1/infusions/{infusion.pk}/complete/",
        {"completed_at": timezone.localtime(completed_at).isoformat()},
        format="json",
    )
    assert response.status_code == 200, response.content
    infusion.refresh_from_db()
    assert infusion.completed_at == completed_at
    return order, client


@pytest.mark.parametrize(("zone", "completed", "completed_on_the_wall", "due_on_the_wall"), CHANGES)
def test_each_check_is_due_exactly_24_48_72_and_168_elapsed_hours_after_a_completion_across_a_dst_change(
    settings, client, zone, completed, completed_on_the_wall, due_on_the_wall
):
    # Given a hospital whose clocks change the night the first infusion ends
    settings.TIME_ZONE = zone
    nurse = UserFactory(role="nurse")
    completed_at = datetime.fromisoformat(completed)
    assert wall_clock(completed_at) == completed_on_the_wall

    # When the nurse enters the completion late, in the hospital's time
    order, api = completed_late(completed_at=completed_at, nurse=nurse, settings=settings)

    # Then each check is due exactly that many elapsed hours later
    checks = {check.label: check for check in PlateletCheck.objects.filter(order=order, label__in=ELAPSED)}
    assert {label: check.due_at - completed_at for label, check in checks.items()} == ELAPSED
    # and the follow-ups (docs/clinical-rules.md §A12) at 09:00 on the wall clock, 14 and 28 days on
    follow_ups = PlateletCheck.objects.filter(order=order, label__in=["14d", "28d"]).order_by("due_at")
    assert [wall_clock(check.due_at)[11:16] for check in follow_ups] == ["09:00", "09:00"]
    assert {label: wall_clock(check.due_at) for label, check in checks.items()} == due_on_the_wall
    # and the API shows it on the hospital's wall clock, with that moment's offset
    rows = api.get("/api/v1/platelet-checks/", {"order": order.pk, "ordering": "due_at"}).json()["results"]
    shown = {row["label"]: datetime.fromisoformat(row["due_at"]) for row in rows if row["label"] in ELAPSED}
    assert {label: f"{moment:%Y-%m-%d %H:%M}" for label, moment in shown.items()} == {
        label: text[:16] for label, text in due_on_the_wall.items()
    }
    assert {label: moment - completed_at for label, moment in shown.items()} == ELAPSED
    # and so does the order's monitoring panel
    client.force_login(nurse)
    page = client.get(f"/monitoring/orders/{order.pk}/").content.decode()
    for label, text in due_on_the_wall.items():
        display = checks[label].get_label_display()
        assert f'<tr data-check="{label}"><td>{display}</td><td>{text[:16]}</td>' in page


@pytest.mark.parametrize(("zone", "completed", "completed_on_the_wall", "due_on_the_wall"), CHANGES)
def test_the_24_hour_reminder_falls_due_24_elapsed_hours_after_completion_and_names_the_wall_clock_time(
    settings, zone, completed, completed_on_the_wall, due_on_the_wall
):
    # Given the checks of a first infusion that ended the night the clocks change
    settings.TIME_ZONE = zone
    nurse = UserFactory(role="nurse")
    completed_at = datetime.fromisoformat(completed)
    order, _ = completed_late(completed_at=completed_at, nurse=nurse, settings=settings)
    one_minute = timedelta(minutes=1)

    # When the sweep runs a minute before and a minute after 24 elapsed hours
    early = services.run_sweep(now=completed_at + ELAPSED["24h"] - one_minute)
    on_time = services.run_sweep(now=completed_at + ELAPSED["24h"] + one_minute)

    # Then the check falls due on time, not an hour early or late, and the reminder shows the wall clock
    assert (early.due, early.notifications, on_time.due, on_time.notifications) == (0, 0, 1, 1)
    notification = Notification.objects.get(recipient=nurse)
    assert notification.message == (
        f"The 24 h platelet count for {order.patient} (order #{order.pk}) is due ({due_on_the_wall['24h'][:16]})."
    )


@pytest.mark.parametrize(("zone", "completed", "completed_on_the_wall", "due_on_the_wall"), CHANGES)
@pytest.mark.parametrize("given_in", ["UTC", "the hospital's zone"])
def test_the_checks_get_the_same_due_times_whatever_zone_the_end_time_is_given_in(
    settings, zone, completed, completed_on_the_wall, due_on_the_wall, given_in
):
    # Given an order, in a hospital whose clocks change the night its first infusion ends
    settings.TIME_ZONE = zone
    order = verified_order()
    completed_at = datetime.fromisoformat(completed)
    ended = completed_at.astimezone(UTC if given_in == "UTC" else zoneinfo.ZoneInfo(zone))

    # When its checks are created
    checks = [
        c for c in services.create_platelet_checks(order=order, first_infusion_ended_at=ended) if c.label in ELAPSED
    ]

    # Then they are due exactly 24/48/72/168 elapsed hours later, at those wall-clock times
    assert {check.label: check.due_at - completed_at for check in checks} == ELAPSED
    assert {check.label: wall_clock(check.due_at) for check in checks} == due_on_the_wall
