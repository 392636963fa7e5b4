"""The same platelet result posted twice is recognised, and a page cannot put a count on another order's check."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.models import PlateletCheck, PlateletResult
from tests.factories import given_order

pytestmark = pytest.mark.db


def local_input(moment):
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def post_on_order_page(client, order, check, count, collected_at):
    return client.post(
        f"/monitoring/orders/{order.pk}/result/",
        {"check": check.pk, "platelet_count": str(count), "collected_at": local_input(collected_at)},
        HTTP_HX_REQUEST="true",
    ).content.decode()


def test_the_same_result_sent_twice_from_the_order_page_is_recorded_once(client, nurse, hematologist):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    check = PlateletCheck.objects.get(order=order, label="24h")
    collected_at = timezone.now() - timedelta(hours=5)
    client.force_login(nurse)

    first = post_on_order_page(client, order, check, 150, collected_at)
    again = post_on_order_page(client, order, check, 150, collected_at)

    assert "Result recorded" in first
    assert "already recorded" in again and "nothing was changed" in again
    results = PlateletResult.objects.filter(platelet_check=check)
    assert [(r.platelet_count, r.status, r.superseded_by_id) for r in results] == [(150, "final", None)]


def test_a_different_count_on_the_same_check_is_still_a_correction(client, nurse, hematologist):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    check = PlateletCheck.objects.get(order=order, label="24h")
    collected_at = timezone.now() - timedelta(hours=5)
    client.force_login(nurse)

    post_on_order_page(client, order, check, 15, collected_at)
    post_on_order_page(client, order, check, 150, collected_at)

    statuses = list(PlateletResult.objects.filter(platelet_check=check).order_by("pk").values_list("status", flat=True))
    assert statuses == ["superseded", "corrected"]


def test_a_check_of_another_order_is_refused_beside_the_check_and_nothing_is_recorded(client, nurse, hematologist):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    other_patients_check = PlateletCheck.objects.get(
        order=given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30), label="24h"
    )
    client.force_login(nurse)

    html = post_on_order_page(client, order, other_patients_check, 150, timezone.now() - timedelta(hours=5))

    assert "Platelet check: This check belongs to another order: enter the result on that order&#x27;s page." in html
    assert not PlateletResult.objects.exists()
    assert PlateletCheck.objects.get(pk=other_patients_check.pk).status == "scheduled"


@pytest.mark.parametrize("posted_check", ["999999", "24h"])
def test_a_check_that_does_not_exist_is_a_clear_error_not_a_crash(client, nurse, hematologist, posted_check):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    client.force_login(nurse)

    response = client.post(
        f"/monitoring/orders/{order.pk}/result/",
        {"check": posted_check, "platelet_count": "150", "collected_at": local_input(timezone.now())},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    assert "There is no such platelet check" in response.content.decode()
    assert not PlateletResult.objects.exists()


def test_the_same_check_result_posted_twice_through_the_api_is_recorded_once(client_for, nurse, hematologist):
    order = given_order(prescriber=hematologist, completed_hours_ago=200)
    check = PlateletCheck.objects.get(order=order, label="24h")
    body = {
        "platelet_count": 41,
        "collected_at": (order.infusions.get(day_number=1).started_at + timedelta(hours=24)).isoformat(),
        "bleeding": False,
    }
    api = client_for(nurse)

    responses = [api.post(f"/api/v1/platelet-checks/{check.pk}/result/", body) for _ in range(2)]

    assert [r.status_code for r in responses] == [200, 200]
    assert responses[0].json() == responses[1].json()
    assert PlateletResult.objects.filter(platelet_check=check).count() == 1


def test_the_same_ad_hoc_result_posted_twice_through_the_api_answers_200_with_the_first(
    client_for, nurse, hematologist
):
    order = given_order(prescriber=hematologist, completed_hours_ago=200)
    body = {
        "order": order.pk,
        "platelet_count": 150,
        "collected_at": (order.infusions.get(day_number=1).started_at + timedelta(hours=30)).isoformat(),
        "bleeding": False,
    }
    api = client_for(nurse)

    first = api.post("/api/v1/platelet-results/", body)
    again = api.post("/api/v1/platelet-results/", body)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["status"] == "final"
    assert PlateletResult.objects.filter(order=order).count() == 1
