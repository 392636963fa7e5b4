from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from infusions.models import Infusion, Order
from monitoring import services
from monitoring.models import Notification, PlateletCheck
from tests.factories import UserFactory, given_order, non_responding_order

pytestmark = pytest.mark.db


def local_input(moment):
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def test_a_nurse_enters_a_result_on_the_order_page_and_sees_it_classified(client, nurse, hematologist):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    check = PlateletCheck.objects.get(order=order, label="24h")
    client.force_login(nurse)
    html = client.post(
        f"/monitoring/orders/{order.pk}/result/",
        {"check": check.pk, "platelet_count": "150", "collected_at": local_input(timezone.now() - timedelta(hours=5))},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "Result recorded" in html and "Complete response" in html


def test_a_bad_count_on_the_page_is_an_error_and_saves_nothing(client, nurse, hematologist):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    check = PlateletCheck.objects.get(order=order, label="24h")
    client.force_login(nurse)
    html = client.post(
        f"/monitoring/orders/{order.pk}/result/",
        {"check": check.pk, "platelet_count": "abc", "collected_at": local_input(timezone.now())},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "whole number" in html
    assert PlateletCheck.objects.get(pk=check.pk).status == "scheduled"


def test_the_hematologist_accepts_the_repeat_dose_on_the_page(client, nurse, hematologist):
    order = non_responding_order(prescriber=hematologist, nurse=nurse)
    client.force_login(hematologist)
    panel = client.get(f"/monitoring/orders/{order.pk}/").content.decode()
    assert "a repeat 1 g/kg is recommended" in panel
    response = client.post(f"/monitoring/orders/{order.pk}/repeat-decision/", {"decision": "accept"}, follow=True)
    repeat = Order.objects.get(previous_order=order)
    assert response.redirect_chain[-1][0] == f"/orders/{repeat.pk}/"
    assert repeat.regimen == "repeat_1g_per_kg" and repeat.status == "draft"


def test_the_inbox_shows_the_unread_count_and_marks_read(client, nurse, hematologist):
    given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=25)
    services.run_sweep()
    client.force_login(nurse)
    page = client.get("/monitoring/inbox/").content.decode()
    assert 'data-testid="unread-count">1<' in page
    notification = Notification.objects.get(recipient=nurse)
    client.post(f"/monitoring/inbox/{notification.pk}/read/", HTTP_HX_REQUEST="true")
    assert Notification.objects.get(pk=notification.pk).read_at is not None
    assert "unread-count" not in client.get("/monitoring/inbox/").content.decode()


def test_notifications_api_lists_only_my_inbox_and_marks_read(client_for, nurse, hematologist):
    given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=25)
    other_nurse = UserFactory(role="nurse")
    services.run_sweep()
    api = client_for(nurse)
    mine = api.get("/api/v1/notifications/").json()["results"]
    assert [n["kind"] for n in mine] == ["platelet_check_due"]
    assert api.post(f"/api/v1/notifications/{mine[0]['id']}/read/").json()["read_at"] is not None
    theirs = Notification.objects.get(recipient=other_nurse)
    assert api.post(f"/api/v1/notifications/{theirs.pk}/read/").status_code == 404


def test_a_two_day_course_responding_at_24h_prompts_and_allows_withholding_day_2(client, nurse, hematologist):
    order = given_order(regimen="two_days_1g_per_kg", prescriber=hematologist, nurse=nurse, completed_hours_ago=25)
    started = order.infusions.get(day_number=1).started_at
    services.record_platelet_result(
        check_id=PlateletCheck.objects.get(order=order, label="24h").pk,
        platelet_count=60,
        collected_at=started + timedelta(hours=26),
        bleeding=False,
    )
    day2 = order.infusions.get(day_number=2)
    client.force_login(nurse)
    assert "may be withheld" in client.get(f"/monitoring/infusions/{day2.pk}/day2/").content.decode()
    client.post(f"/monitoring/infusions/{day2.pk}/withhold/", {"reason": "responded at 24 h, per Dr Hale"})
    day2 = Infusion.objects.get(pk=day2.pk)
    assert (day2.status, day2.stop_reason) == ("stopped", "Withheld: responded at 24 h, per Dr Hale")
    assert Order.objects.get(pk=order.pk).status == "completed"


def test_no_withhold_prompt_without_a_response_at_24h(client, nurse, hematologist):
    order = given_order(regimen="two_days_1g_per_kg", prescriber=hematologist, nurse=nurse, completed_hours_ago=25)
    day2 = order.infusions.get(day_number=2)
    client.force_login(nurse)
    assert "may be withheld" not in client.get(f"/monitoring/infusions/{day2.pk}/day2/").content.decode()
