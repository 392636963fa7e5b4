from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from infusions.models import Order
from monitoring.models import Notification, OrderResponse, PlateletCheck, PlateletResult
from tests.factories import given_order

pytestmark = pytest.mark.db


@pytest.fixture
def order(db, hematologist):
    return given_order(prescriber=hematologist, completed_hours_ago=200)


def check(order, label):
    return PlateletCheck.objects.get(order=order, label=label)


def post_result(api, order, label, count, hours_after_start, bleeding=False):
    first = order.infusions.get(day_number=1)
    collected = first.started_at + timedelta(hours=hours_after_start)
    return api.post(
        f"/api/v1/platelet-checks/{check(order, label).pk}/result/",
        {"platelet_count": count, "collected_at": collected.isoformat(), "bleeding": bleeding},
    )


def test_a_result_closes_its_check_and_is_classified(client_for, nurse, order):
    response = post_result(client_for(nurse), order, "24h", 41, 24)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["platelet_count"], body["category"]) == ("resulted", 41, "response")


def test_public_case_c_flags_no_response_at_72h_and_tells_the_hematologist_once(client_for, nurse, hematologist, order):
    """docs/clinical-rules.md reference §9.2 case C: baseline 5; 9, 14, 22 -> no response, repeat flagged at 72 h."""
    order.baseline_platelet_count = 5
    order.save(update_fields=["baseline_platelet_count"])
    api = client_for(nurse)
    haem = client_for(hematologist)
    for label, count, hours in [("24h", 9, 24), ("48h", 14, 48)]:
        post_result(api, order, label, count, hours)
        assert haem.get(f"/api/v1/orders/{order.pk}/response/").json()["repeat_dose_recommended"] is False
    post_result(api, order, "72h", 22, 72)
    body = haem.get(f"/api/v1/orders/{order.pk}/response/").json()
    assert (body["category"], body["best_platelet_count"], body["repeat_dose_recommended"]) == ("no_response", 22, True)
    post_result(api, order, "7d", 28, 168)
    assert Notification.objects.filter(kind="non_response", recipient=hematologist).count() == 1


def test_public_case_a_reaches_response_at_48h(client_for, nurse, hematologist, order):
    order.baseline_platelet_count = 12
    order.save(update_fields=["baseline_platelet_count"])
    api = client_for(nurse)
    for label, count, hours in [("24h", 25, 24), ("48h", 41, 48), ("72h", 68, 72), ("7d", 90, 168)]:
        post_result(api, order, label, count, hours)
    body = client_for(hematologist).get(f"/api/v1/orders/{order.pk}/response/").json()
    assert body["category"] == "response"
    assert body["time_to_response_hours"] == 48.0
    assert body["repeat_dose_recommended"] is False
    assert list(PlateletCheck.objects.filter(order=order).values_list("label", "category")) == [
        ("24h", "no_response"),
        ("48h", "response"),
        ("72h", "response"),
        ("7d", "response"),
        ("14d", ""),
        ("28d", ""),
    ]


def test_a_corrected_result_keeps_the_earlier_one_in_history(client_for, nurse, order):
    api = client_for(nurse)
    post_result(api, order, "24h", 14, 24)
    post_result(api, order, "24h", 41, 24)
    results = list(PlateletResult.objects.filter(platelet_check=check(order, "24h")).order_by("pk"))
    assert [(r.platelet_count, r.superseded_by_id) for r in results] == [(14, results[1].pk), (41, None)]
    assert check(order, "24h").platelet_count == 41


def test_an_ad_hoc_result_counts_for_the_response(client_for, nurse, order):
    first = order.infusions.get(day_number=1)
    response = client_for(nurse).post(
        "/api/v1/platelet-results/",
        {
            "order": order.pk,
            "platelet_count": 150,
            "collected_at": (first.started_at + timedelta(hours=30)).isoformat(),
            "bleeding": False,
        },
    )
    assert response.status_code == 201
    assert response.json()["platelet_check"] is None
    assert OrderResponse.objects.get(order=order).category == "complete_response"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"platelet_count": 2001}, "platelet_count"),
        ({"platelet_count": -1}, "platelet_count"),
        ({"collected_at": "2999-01-01T00:00:00Z"}, "collected_at"),
        ({"bleeding": None}, "bleeding"),
    ],
)
def test_bad_results_are_400_and_change_nothing(client_for, nurse, order, body, field):
    first = order.infusions.get(day_number=1)
    payload = {
        "platelet_count": 40,
        "collected_at": (first.started_at + timedelta(hours=24)).isoformat(),
        "bleeding": False,
        **body,
    }
    response = client_for(nurse).post(f"/api/v1/platelet-checks/{check(order, '24h').pk}/result/", payload)
    assert response.status_code == 400
    assert field in response.json()
    assert not PlateletResult.objects.exists()
    assert check(order, "24h").status != "resulted"


def test_a_result_before_the_first_infusion_started_is_refused(client_for, nurse, order):
    first = order.infusions.get(day_number=1)
    response = client_for(nurse).post(
        f"/api/v1/platelet-checks/{check(order, '24h').pk}/result/",
        {"platelet_count": 40, "collected_at": (first.started_at - timedelta(hours=1)).isoformat(), "bleeding": False},
    )
    assert response.status_code == 400
    assert "collected_at" in response.json()


def test_pharmacists_cannot_enter_results(client_for, pharmacist, order):
    assert post_result(client_for(pharmacist), order, "24h", 41, 24).status_code == 403


def test_cancelling_a_course_after_day_1_was_given_keeps_its_checks_and_stops_only_day_2(client_for, hematologist, db):
    order = given_order(regimen="two_days_1g_per_kg", prescriber=hematologist, completed_hours_ago=2)
    cancelled = client_for(hematologist).post(f"/api/v1/orders/{order.pk}/cancel/", {"reason": "switched to steroids"})
    assert cancelled.status_code == 200
    assert set(PlateletCheck.objects.filter(order=order).values_list("status", flat=True)) == {"scheduled"}
    assert [(i.day_number, i.status) for i in order.infusions.order_by("day_number")] == [
        (1, "completed"),
        (2, "stopped"),
    ]


def test_accepting_the_repeat_dose_drafts_a_repeat_order_with_the_current_weight(
    client_for, nurse, hematologist, order
):
    order.baseline_platelet_count = 5
    order.save(update_fields=["baseline_platelet_count"])
    api = client_for(nurse)
    for label, count, hours in [("24h", 9, 24), ("48h", 14, 48), ("72h", 22, 72)]:
        post_result(api, order, label, count, hours)
    haem = client_for(hematologist)
    assert haem.post(f"/api/v1/orders/{order.pk}/repeat-decision/", {"decision": "decline"}).status_code == 400
    response = haem.post(f"/api/v1/orders/{order.pk}/repeat-decision/", {"decision": "accept"})
    assert response.status_code == 200, response.json()
    repeat = response.json()["repeat_order"]
    assert (repeat["regimen"], repeat["status"], repeat["previous_order"]) == ("repeat_1g_per_kg", "draft", order.pk)
    assert repeat["baseline_platelet_count"] == 22
    assert response.json()["response"]["repeat_dose_recommended"] is False
    assert haem.post(f"/api/v1/orders/{order.pk}/repeat-decision/", {"decision": "accept"}).status_code == 409
    assert Order.objects.filter(previous_order=order).count() == 1


def test_only_hematologists_decide_repeat_doses(client_for, nurse, order):
    assert (
        client_for(nurse).post(f"/api/v1/orders/{order.pk}/repeat-decision/", {"decision": "accept"}).status_code == 403
    )


def test_the_response_is_pending_before_any_result(client_for, nurse, order):
    body = client_for(nurse).get(f"/api/v1/orders/{order.pk}/response/").json()
    assert (body["category"], body["time_to_response_hours"], body["repeat_dose_recommended"]) == (
        "pending",
        None,
        False,
    )
    assert timezone.now() - timedelta(minutes=5) < timezone.datetime.fromisoformat(body["assessed_at"])


def test_a_final_result_supersedes_the_preliminary_one_of_its_check(order):
    from monitoring import services

    first = order.infusions.get(day_number=1)
    check_id = check(order, "24h").pk
    collected = first.started_at + timedelta(hours=24)
    preliminary = services.record_platelet_result(
        check_id=check_id, platelet_count=35, collected_at=collected, bleeding=False, preliminary=True
    )
    assert check(order, "24h").status == "scheduled"  # a preliminary result neither closes nor classifies
    final = services.record_platelet_result(
        check_id=check_id, platelet_count=38, collected_at=collected, bleeding=False
    )
    preliminary.refresh_from_db()
    assert preliminary.superseded_by == final
    assert check(order, "24h").platelet_count == 38


def test_deciding_twice_names_the_earlier_decision(client_for, nurse, hematologist, order):
    order.baseline_platelet_count = 5
    order.save(update_fields=["baseline_platelet_count"])
    api = client_for(nurse)
    for label, count, hours in [("24h", 9, 24), ("48h", 14, 48), ("72h", 22, 72)]:
        post_result(api, order, label, count, hours)
    haem = client_for(hematologist)
    haem.post(f"/api/v1/orders/{order.pk}/repeat-decision/", {"decision": "decline", "reason": "chronic ITP"})
    again = haem.post(f"/api/v1/orders/{order.pk}/repeat-decision/", {"decision": "decline", "reason": "x"})
    assert again.status_code == 409
    assert OrderResponse.objects.get(order=order).repeat_decision == "decline"
