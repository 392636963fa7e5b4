"""A1 through its one service: pages and the API withhold only the day-2 dose of a two-day course whose counted
result shows a response; any other withhold is refused with the code withhold_not_indicated and changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import Conflict
from infusions import services as infusion_services
from infusions.models import Infusion, Order
from infusions.signals import withhold_requested
from monitoring import services
from monitoring.models import PlateletCheck
from tests.factories import given_order, verified_order

pytestmark = pytest.mark.db


def counted_24h_result(order, count):
    started = order.infusions.get(day_number=1).started_at
    services.record_platelet_result(
        check_id=PlateletCheck.objects.get(order=order, label="24h").pk,
        platelet_count=count,
        collected_at=started + timedelta(hours=26),
        bleeding=False,
    )


def snapshot(order):
    return (
        list(Order.objects.filter(pk=order.pk).values_list("status", flat=True)),
        list(order.infusions.order_by("day_number").values_list("status", "stop_reason")),
        Infusion.history.filter(order_id=order.pk).count(),
    )


def test_a_scheduled_day_1_withheld_on_the_page_stays_scheduled_and_the_order_is_not_completed(client, nurse):
    order = verified_order(regimen="one_dose_1g_per_kg")
    day1 = order.infusions.get()
    before = snapshot(order)
    client.force_login(nurse)

    page = client.post(f"/monitoring/infusions/{day1.pk}/withhold/", {"reason": "not needed"}, follow=True)

    assert "Day 1 is never withheld: cancel the order instead." in page.content.decode()
    assert snapshot(order) == before
    assert Order.objects.get(pk=order.pk).status == "verified"


def test_day_2_without_a_counted_response_is_refused_through_the_api_with_its_code(client_for, nurse, hematologist):
    order = given_order(regimen="two_days_1g_per_kg", prescriber=hematologist, nurse=nurse, completed_hours_ago=28)
    counted_24h_result(order, 15)  # baseline 12: no response
    day2 = order.infusions.get(day_number=2)
    before = snapshot(order)

    refused = client_for(nurse).post(f"/api/v1/infusions/{day2.pk}/withhold/", {"reason": "looks fine"})

    assert refused.status_code == 409
    assert [stop["code"] for stop in refused.json()["stops"]] == ["withhold_not_indicated"]
    assert snapshot(order) == before


def test_a_later_day_of_the_five_day_course_is_refused_even_after_a_response(client_for, nurse, hematologist):
    order = given_order(regimen="five_days_0_4g_per_kg", prescriber=hematologist, nurse=nurse, completed_hours_ago=28)
    counted_24h_result(order, 150)
    day3 = order.infusions.get(day_number=3)
    before = snapshot(order)

    refused = client_for(nurse).post(f"/api/v1/infusions/{day3.pk}/withhold/", {"reason": "responded"})

    assert refused.status_code == 409
    assert refused.json()["stops"][0]["code"] == "withhold_not_indicated"
    assert snapshot(order) == before


def test_day_2_after_a_counted_response_is_withheld_by_the_service_and_ends_the_course(nurse, hematologist):
    order = given_order(regimen="two_days_1g_per_kg", prescriber=hematologist, nurse=nurse, completed_hours_ago=28)
    counted_24h_result(order, 80)
    day2 = order.infusions.get(day_number=2)

    infusion_services.withhold_infusion(infusion_id=day2.pk, user=nurse, reason="responded at 24 h")

    day2.refresh_from_db()
    assert (day2.status, day2.stop_reason) == ("stopped", "Withheld: responded at 24 h")
    assert Order.objects.get(pk=order.pk).status == "completed"


def test_a_withhold_nobody_can_check_is_refused(nurse, hematologist):
    order = given_order(regimen="two_days_1g_per_kg", prescriber=hematologist, nurse=nurse, completed_hours_ago=28)
    counted_24h_result(order, 80)
    day2 = order.infusions.get(day_number=2)
    receivers = withhold_requested.receivers
    withhold_requested.receivers = []
    withhold_requested.sender_receivers_cache.clear()
    try:
        with pytest.raises(Conflict, match="cannot be checked"):
            infusion_services.withhold_infusion(infusion_id=day2.pk, user=nurse, reason="responded")
    finally:
        withhold_requested.receivers = receivers
        withhold_requested.sender_receivers_cache.clear()
    assert Infusion.objects.get(pk=day2.pk).status == "scheduled"
