"""Courses that change (docs/clinical-rules.md §A9): doses of the course given at another hospital before a
transfer, and a product change of a running course's remaining days, through the API, with nothing changed on
every refused path."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from infusions.models import Infusion, Order, OutsideDose, Product
from monitoring.models import PlateletCheck
from tests.factories import FULL_CHECKLIST, NORMAL_VITALS, PatientFactory, day_vials, verified_order

pytestmark = pytest.mark.django_db


def iso(moment):
    return moment.isoformat()


def codes(response):
    return sorted(stop["code"] for stop in response.json()["stops"])


@pytest.fixture
def gamunex(db):
    return Product.objects.get(name="Gamunex-C")


@pytest.fixture
def privigen(db):
    return Product.objects.get(name="Privigen")


def transferred_course(client, patient, product, *, outside_ended_hours_ago, outside_product="Gamunex-C"):
    """A two-day course whose day 1 was given elsewhere, ending ``outside_ended_hours_ago``."""
    ended = timezone.now() - timedelta(hours=outside_ended_hours_ago)
    return client.post(
        "/api/v1/orders/",
        {
            "patient": patient.pk,
            "regimen": "two_days_1g_per_kg",
            "product": product.pk,
            "baseline_platelet_count": 9,
            "baseline_collected_at": iso(ended - timedelta(hours=6)),
            "first_infusion_on": str(timezone.localdate()),
            "doses_given_elsewhere": [
                {
                    "started_at": iso(ended - timedelta(hours=4)),
                    "ended_at": iso(ended),
                    "product": outside_product,
                    "grams": "80",
                    "lot": "EXT-123",
                }
            ],
        },
    )


def verified_transfer(client_for, hematologist, pharmacist, product, **kwargs):
    created = transferred_course(client_for(hematologist), PatientFactory(), product, **kwargs)
    assert created.status_code == 201, created.json()
    verified = client_for(pharmacist).post(f"/api/v1/orders/{created.json()['id']}/verify/", {})
    assert verified.status_code == 200, verified.json()
    return Order.objects.get(pk=created.json()["id"])


def start(api, infusion, **extra):
    return api.post(
        f"/api/v1/infusions/{infusion.pk}/start/", {"checklist": FULL_CHECKLIST, "vials": day_vials(infusion), **extra}
    )


def give(api, infusion, *, started_at, ended_at):
    """A whole day given: baseline, start at the first step, completion with the planned volume."""
    api.post(
        f"/api/v1/infusions/{infusion.pk}/vitals/",
        {**NORMAL_VITALS, "taken_at": iso(started_at - timedelta(minutes=5))},
    )
    assert start(api, infusion, started_at=iso(started_at)).status_code == 200
    completed = api.post(
        f"/api/v1/infusions/{infusion.pk}/complete/",
        {"completed_at": iso(ended_at), "volume_infused_ml": str(infusion.volume_ml)},
    )
    assert completed.status_code == 200, completed.json()


# --- Doses given elsewhere ---------------------------------------------------------------------------------


def test_a_two_day_course_with_day_1_given_elsewhere_schedules_day_2_only_and_its_checks_fall_due_from_its_end(
    client_for, hematologist, pharmacist, nurse, gamunex
):
    order = verified_transfer(client_for, hematologist, pharmacist, gamunex, outside_ended_hours_ago=12)
    outside = OutsideDose.objects.get(order=order)
    assert order.days == 1
    assert order.total_dose_g == order.rounded_dose_per_day_g
    assert [(i.day_number, i.scheduled_for) for i in order.infusions.all()] == [(2, timezone.localdate())]
    ended = outside.ended_at.astimezone(UTC)
    due = {check.label: check.due_at for check in PlateletCheck.objects.filter(order=order)}
    assert {label: due[label] for label in ("24h", "48h", "72h", "7d")} == {
        "24h": ended + timedelta(hours=24),
        "48h": ended + timedelta(hours=48),
        "72h": ended + timedelta(hours=72),
        "7d": ended + timedelta(hours=168),
    }
    # Giving day 2 here writes no second set and moves no due time.
    day2 = order.infusions.get()
    give(client_for(nurse), day2, started_at=timezone.now() - timedelta(hours=3), ended_at=timezone.now())
    assert {check.label: check.due_at for check in PlateletCheck.objects.filter(order=order)} == due
    read = client_for(hematologist).get(f"/api/v1/orders/{order.pk}/").json()
    assert read["doses_given_elsewhere"][0]["lot"] == "EXT-123"
    assert read["doses_given_elsewhere"][0]["product"] == "Gamunex-C"


def test_the_time_to_response_counts_from_the_outside_doses_start(client_for, hematologist, pharmacist, nurse, gamunex):
    order = verified_transfer(client_for, hematologist, pharmacist, gamunex, outside_ended_hours_ago=30)
    outside = OutsideDose.objects.get(order=order)
    # A count after the outside dose is the course's, before any day here has started.
    result = client_for(nurse).post(
        "/api/v1/platelet-results/",
        {
            "order": order.pk,
            "patient": order.patient_id,
            "platelet_count": 120,
            "collected_at": iso(outside.started_at + timedelta(hours=28)),
            "bleeding": False,
        },
    )
    assert result.status_code == 201, result.json()
    assert Order.objects.get(pk=order.pk).response.time_to_response_hours == Decimal("28.0")


def test_day_2_less_than_8_h_after_the_outside_dose_needs_a_hematologists_reason(
    client_for, hematologist, pharmacist, nurse, gamunex
):
    order = verified_transfer(client_for, hematologist, pharmacist, gamunex, outside_ended_hours_ago=3)
    day2 = order.infusions.get()
    api = client_for(nurse)
    api.post(f"/api/v1/infusions/{day2.pk}/vitals/", NORMAL_VITALS)
    refused = start(api, day2)
    assert codes(refused) == ["too_soon_after_previous_day"]
    assert start(api, day2, overrides={"too_soon_after_previous_day": "asked to"}).status_code == 403
    assert Infusion.objects.get(pk=day2.pk).status == "scheduled"


def test_a_start_after_an_outside_dose_of_the_same_product_is_not_a_first_ever_infusion(
    client_for, hematologist, pharmacist, nurse, gamunex
):
    # Reported in the other hospital's spelling: case, spaces and punctuation aside it is the same product.
    order = verified_transfer(
        client_for, hematologist, pharmacist, gamunex, outside_ended_hours_ago=12, outside_product="gamunex c"
    )
    day2 = order.infusions.get()
    api = client_for(nurse)
    api.post(f"/api/v1/infusions/{day2.pk}/vitals/", NORMAL_VITALS)
    second_step = str(order.rate_plan["steps"][1]["rate_ml_per_h"])
    asked = start(api, day2, rate_ml_per_h=second_step)
    assert [(s["code"], s["kind"]) for s in asked.json()["stops"]] == [("start_above_initial", "override")]
    started = start(api, day2, rate_ml_per_h=second_step, overrides={"start_above_initial": "tolerated it yesterday"})
    assert started.status_code == 200, started.json()


def test_a_start_after_an_outside_dose_of_another_product_is_a_product_switch(
    client_for, hematologist, pharmacist, nurse, gamunex
):
    order = verified_transfer(
        client_for, hematologist, pharmacist, gamunex, outside_ended_hours_ago=12, outside_product="Privigen"
    )
    day2 = order.infusions.get()
    api = client_for(nurse)
    api.post(f"/api/v1/infusions/{day2.pk}/vitals/", NORMAL_VITALS)
    second_step = str(order.rate_plan["steps"][1]["rate_ml_per_h"])
    refused = start(api, day2, rate_ml_per_h=second_step, overrides={"start_above_initial": "tolerated it"})
    assert [(s["code"], s["kind"]) for s in refused.json()["stops"]] == [("start_above_initial", "hard")]
    assert "a product switch" in refused.json()["stops"][0]["message"]
    assert Infusion.objects.get(pk=day2.pk).status == "scheduled"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"started_at": "future"}, "in the future"),
        ({"ended_at": "before"}, "end must be after the start"),
        ({"grams": "0"}, "above 0"),
        ({"lot": ""}, "lot"),
    ],
)
def test_a_dose_given_elsewhere_that_cannot_be_true_is_refused_and_no_order_is_written(
    client_for, hematologist, gamunex, change, message
):
    now = timezone.now()
    dose = {
        "started_at": iso(now - timedelta(hours=10)),
        "ended_at": iso(now - timedelta(hours=6)),
        "product": "Gamunex-C",
        "grams": "80",
        "lot": "EXT-1",
    }
    if change.get("started_at") == "future":
        dose["started_at"], dose["ended_at"] = iso(now + timedelta(hours=2)), iso(now + timedelta(hours=5))
    elif change.get("ended_at") == "before":
        dose["ended_at"] = iso(now - timedelta(hours=12))
    else:
        dose.update(change)
    patient = PatientFactory()
    response = client_for(hematologist).post(
        "/api/v1/orders/",
        {
            "patient": patient.pk,
            "regimen": "two_days_1g_per_kg",
            "product": gamunex.pk,
            "baseline_platelet_count": 9,
            "first_infusion_on": str(timezone.localdate()),
            "doses_given_elsewhere": [dose],
        },
    )
    assert response.status_code == 400
    assert message in str(response.json()["doses_given_elsewhere"])
    assert not Order.objects.filter(patient=patient).exists()
    assert not OutsideDose.objects.exists()


def test_a_course_given_wholly_elsewhere_is_not_ordered_here(client_for, hematologist, gamunex):
    now = timezone.now()
    dose = {"product": "Gamunex-C", "grams": "80", "lot": "EXT-1"}
    patient = PatientFactory()
    response = client_for(hematologist).post(
        "/api/v1/orders/",
        {
            "patient": patient.pk,
            "regimen": "one_dose_1g_per_kg",
            "product": gamunex.pk,
            "baseline_platelet_count": 9,
            "first_infusion_on": str(timezone.localdate()),
            "doses_given_elsewhere": [
                {**dose, "started_at": iso(now - timedelta(hours=9)), "ended_at": iso(now - timedelta(hours=5))}
            ],
        },
    )
    assert response.status_code == 400
    assert "nothing is left to give" in " ".join(response.json()["doses_given_elsewhere"])
    assert not Order.objects.filter(patient=patient).exists()


# --- A product change mid-course --------------------------------------------------------------------------


def course_with_day_1_given(client_for, hematologist, nurse):
    """Day 1 given yesterday from 08:00 to 12:00 in the hospital's zone, so day 2 is due today at any hour the
    test runs, and at least 12 h after day 1 ended."""
    yesterday = timezone.localdate() - timedelta(days=1)
    order = verified_order(regimen="two_days_1g_per_kg", prescriber=hematologist, first_infusion_on=yesterday)
    day1 = order.infusions.get(day_number=1)
    started = timezone.make_aware(datetime.combine(yesterday, time(8, 0)))
    give(client_for(nurse), day1, started_at=started, ended_at=started + timedelta(hours=4))
    return Order.objects.get(pk=order.pk)


def test_after_a_product_change_the_remaining_day_waits_for_verification_and_starts_at_the_initial_rate(
    client_for, hematologist, second_hematologist, pharmacist, nurse, privigen
):
    order = course_with_day_1_given(client_for, hematologist, nurse)
    changed = client_for(pharmacist).post(
        f"/api/v1/orders/{order.pk}/change-product/", {"product": privigen.pk, "reason": "Gamunex-C out of stock"}
    )
    assert changed.status_code == 200, changed.json()
    body = changed.json()
    assert (body["product"], body["awaiting_reverification"], body["status"]) == (privigen.pk, True, "in_progress")
    assert body["product_change_reason"] == "Gamunex-C out of stock"
    day2 = Infusion.objects.get(order=order, day_number=2)
    assert day2.dose_g == Decimal(str(body["rounded_dose_per_day_g"]))
    # A2 rounding on Privigen's vials, and Privigen's 10 % volume.
    assert Decimal(str(body["volume_per_day_ml"])) == day2.volume_ml
    api = client_for(nurse)
    api.post(f"/api/v1/infusions/{day2.pk}/vitals/", NORMAL_VITALS)
    waiting = start(api, day2)
    assert waiting.status_code == 409
    assert codes(waiting) == ["product_changed_unverified"]
    # Whoever changed the product does not verify the change.
    assert client_for(pharmacist).post(f"/api/v1/orders/{order.pk}/verify/", {}).status_code == 403
    assert Order.objects.get(pk=order.pk).awaiting_reverification
    verified = client_for(second_hematologist).post(f"/api/v1/orders/{order.pk}/verify/", {})
    assert verified.status_code == 200, verified.json()
    assert (verified.json()["awaiting_reverification"], verified.json()["verified_by"]) == (False, "haem2")
    plan = Order.objects.get(pk=order.pk).rate_plan
    second_step = str(plan["steps"][1]["rate_ml_per_h"])
    switch = start(api, day2, rate_ml_per_h=second_step, overrides={"start_above_initial": "tolerated day 1"})
    assert [(s["code"], s["kind"]) for s in switch.json()["stops"]] == [("start_above_initial", "hard")]
    assert "a product switch" in switch.json()["stops"][0]["message"]
    assert start(api, day2).status_code == 200
    assert Infusion.objects.get(pk=day2.pk).current_rate_ml_per_h == Decimal(str(plan["steps"][0]["rate_ml_per_h"]))


def test_a_change_of_product_keeps_the_days_given_with_their_product(
    client_for, hematologist, pharmacist, nurse, gamunex, privigen
):
    order = course_with_day_1_given(client_for, hematologist, nurse)
    client_for(hematologist).post(
        f"/api/v1/orders/{order.pk}/change-product/", {"product": privigen.pk, "reason": "shortage"}
    )
    days = client_for(nurse).get(f"/api/v1/infusions/?order={order.pk}").json()
    rows = days["results"] if isinstance(days, dict) else days
    assert {row["day_number"]: row["product"] for row in rows} == {1: gamunex.pk, 2: privigen.pk}
    day1_segment = Infusion.objects.get(order=order, day_number=1).rate_segments.first()
    fhir = client_for(hematologist).get(f"/fhir/R4/MedicationAdministration/{day1_segment.pk}")
    assert fhir.json()["medicationCodeableConcept"] == {"text": "Gamunex-C"}
    history = Order.objects.get(pk=order.pk).history.first()
    assert history.history_change_reason == "product changed from Gamunex-C to Privigen: shortage"
    assert history.product_changed_from_id == gamunex.pk


def test_a_nurse_cannot_change_the_product(client_for, hematologist, nurse, privigen):
    order = course_with_day_1_given(client_for, hematologist, nurse)
    before = Order.objects.get(pk=order.pk)
    response = client_for(nurse).post(
        f"/api/v1/orders/{order.pk}/change-product/", {"product": privigen.pk, "reason": "shortage"}
    )
    assert response.status_code == 403
    after = Order.objects.get(pk=order.pk)
    assert (after.product_id, after.awaiting_reverification, after.history.count()) == (
        before.product_id,
        False,
        before.history.count(),
    )


def test_the_product_of_a_course_not_yet_started_is_changed_by_recalculating_not_here(
    client_for, hematologist, privigen
):
    order = verified_order(prescriber=hematologist)
    response = client_for(hematologist).post(
        f"/api/v1/orders/{order.pk}/change-product/", {"product": privigen.pk, "reason": "shortage"}
    )
    assert response.status_code == 409
    assert Order.objects.get(pk=order.pk).product.name == "Gamunex-C"


def test_a_change_of_product_needs_a_reason(client_for, hematologist, nurse, privigen):
    order = course_with_day_1_given(client_for, hematologist, nurse)
    response = client_for(hematologist).post(
        f"/api/v1/orders/{order.pk}/change-product/", {"product": privigen.pk, "reason": ""}
    )
    assert response.status_code == 400
    assert Order.objects.get(pk=order.pk).product.name == "Gamunex-C"


def test_a_pharmacist_changes_the_product_from_the_order_page_and_another_verifier_verifies_it_there(
    client_for, hematologist, second_hematologist, pharmacist, nurse, privigen
):
    from django.test import Client

    order = course_with_day_1_given(client_for, hematologist, nurse)
    page = Client()
    page.force_login(pharmacist)
    shown = page.get(f"/orders/{order.pk}/")
    assert 'data-testid="change-product-form"' in shown.content.decode()
    page.post(f"/orders/{order.pk}/change-product/", {"product": privigen.pk, "reason": "Gamunex-C out of stock"})
    changed = Order.objects.get(pk=order.pk)
    assert (changed.product, changed.awaiting_reverification) == (privigen, True)
    assert 'data-testid="verify-form"' not in page.get(f"/orders/{order.pk}/").content.decode()
    nurse_page = Client()
    nurse_page.force_login(nurse)
    assert 'data-testid="change-product-form"' not in nurse_page.get(f"/orders/{order.pk}/").content.decode()
    verifier = Client()
    verifier.force_login(second_hematologist)
    assert 'data-testid="verify-form"' in verifier.get(f"/orders/{order.pk}/").content.decode()
    verifier.post(f"/orders/{order.pk}/verify/", {})
    assert not Order.objects.get(pk=order.pk).awaiting_reverification
