"""The clinical review's findings, each refused or asking for a recorded reason through the API
(docs/clinical-rules.md §A8-A10), with nothing changed on every refused path."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from infusions.models import Infusion, Order, Product, RateSegment, SafetyRecord
from monitoring.models import Notification
from tests.factories import FULL_CHECKLIST, NORMAL_VITALS, PatientFactory, day_vials, prehydrate, verified_order

pytestmark = pytest.mark.django_db


def iso(moment):
    return moment.isoformat()


def codes(response):
    return sorted(stop["code"] for stop in response.json()["stops"])


def order_payload(patient, product, **extra):
    return {
        "patient": patient.pk,
        "regimen": "one_dose_1g_per_kg",
        "product": product.pk,
        "baseline_platelet_count": 12,
        "baseline_collected_at": (timezone.now() - timedelta(hours=2)).isoformat(),
        "first_infusion_on": str(timezone.localdate()),
        **extra,
    }


@pytest.fixture
def gamunex(db):
    return Product.objects.get(name="Gamunex-C")


@pytest.fixture
def nurse_api(client_for, nurse):
    return client_for(nurse)


def start(api, infusion, **extra):
    return api.post(
        f"/api/v1/infusions/{infusion.pk}/start/", {"checklist": FULL_CHECKLIST, "vials": day_vials(infusion), **extra}
    )


def running(api, order, *, minutes_ago=0):
    """Day 1 started ``minutes_ago`` at the plan's first step, after a baseline set."""
    infusion = order.infusions.get(day_number=1)
    at = timezone.now() - timedelta(minutes=minutes_ago)
    api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", {**NORMAL_VITALS, "taken_at": iso(at - timedelta(minutes=5))})
    assert start(api, infusion, started_at=iso(at)).status_code == 200
    return infusion


# --- Orders ---------------------------------------------------------------------------------------------


def test_a_second_open_course_for_the_same_patient_is_refused_and_nothing_is_saved(client_for, hematologist, gamunex):
    patient = PatientFactory()
    client = client_for(hematologist)
    assert client.post("/api/v1/orders/", order_payload(patient, gamunex)).status_code == 201
    second = client.post("/api/v1/orders/", order_payload(patient, gamunex))
    assert second.status_code == 400
    assert codes(second) == ["active_course"]
    assert Order.objects.filter(patient=patient).count() == 1


def test_an_emergency_order_may_replace_an_open_order_not_yet_started_which_is_cancelled(
    client_for, hematologist, gamunex
):
    patient = PatientFactory()
    client = client_for(hematologist)
    first = client.post("/api/v1/orders/", order_payload(patient, gamunex)).json()["id"]
    emergency = client.post("/api/v1/orders/", order_payload(patient, gamunex, emergency=True, replaces=first))
    assert emergency.status_code == 201
    replaced = Order.objects.get(pk=first)
    assert (replaced.status, replaced.cancel_reason) == ("cancelled", "Superseded by an emergency order.")
    assert emergency.json()["replaces"] == first


def test_only_an_emergency_order_replaces_another(client_for, hematologist, gamunex):
    patient = PatientFactory()
    client = client_for(hematologist)
    first = client.post("/api/v1/orders/", order_payload(patient, gamunex)).json()["id"]
    response = client.post("/api/v1/orders/", order_payload(patient, gamunex, replaces=first))
    assert response.status_code == 400
    assert "replaces" in response.json()
    assert Order.objects.get(pk=first).status == "draft"


def test_a_repeat_dose_pointing_at_a_draft_needs_a_hematologists_reason(client_for, hematologist, gamunex):
    earlier = verified_order(prescriber=hematologist).patient.orders.get()
    other_patient_draft = (
        client_for(hematologist).post("/api/v1/orders/", order_payload(PatientFactory(), gamunex)).json()["id"]
    )
    # The same patient's open course also stops it: cancel the earlier one so only the repeat rule speaks.
    client_for(hematologist).post(f"/api/v1/orders/{earlier.pk}/cancel/", {"reason": "test"})
    repeat = client_for(hematologist).post(
        "/api/v1/orders/",
        order_payload(earlier.patient, gamunex, regimen="repeat_1g_per_kg", previous_order=earlier.pk),
    )
    assert repeat.status_code == 400  # the stop names previous_order, a value sent
    assert codes(repeat) == ["repeat_not_indicated"]
    assert Order.objects.filter(regimen="repeat_1g_per_kg").count() == 0
    overridden = client_for(hematologist).post(
        "/api/v1/orders/",
        order_payload(
            earlier.patient,
            gamunex,
            regimen="repeat_1g_per_kg",
            previous_order=earlier.pk,
            overrides={"repeat_not_indicated": "bleeding on day 3; the team agreed to repeat"},
        ),
    )
    assert overridden.status_code == 201, overridden.json()
    record = SafetyRecord.objects.get(order_id=overridden.json()["id"], code="repeat_not_indicated")
    assert (record.kind, record.reason, record.recorded_by, record.role) == (
        "override",
        "bleeding on day 3; the team agreed to repeat",
        hematologist,
        "hematologist",
    )
    assert other_patient_draft


@pytest.mark.parametrize(("days", "message"), [(-9000, "is in the past"), (20 + 30, "more than 30 days ahead")])
def test_a_first_infusion_date_outside_today_to_thirty_days_is_refused(
    client_for, hematologist, gamunex, days, message
):
    when = timezone.localdate() + timedelta(days=days)
    response = client_for(hematologist).post(
        "/api/v1/orders/", order_payload(PatientFactory(), gamunex, first_infusion_on=str(when))
    )
    assert response.status_code == 400
    assert message in " ".join(response.json()["first_infusion_on"])
    assert not Order.objects.exists()


def test_a_half_kilogram_dosing_weight_for_an_82_kg_man_is_refused(client_for, hematologist, gamunex):
    patient = PatientFactory(weight_kg=Decimal("82"), height_cm=Decimal("178"), sex="male")
    response = client_for(hematologist).post(
        "/api/v1/orders/",
        order_payload(
            patient, gamunex, dosing_weight_override_kg="0.5", dosing_weight_override_reason="as the team agreed"
        ),
    )
    assert response.status_code == 400
    assert codes(response) == ["dosing_weight_override_range"]
    assert not Order.objects.exists()


def test_a_privigen_order_is_not_verified_after_the_iga_came_back_deficient_without_a_hematologists_reason(
    client_for, hematologist, pharmacist
):
    privigen = Product.objects.get(name="Privigen")
    patient = PatientFactory(serum_iga_mg_dl=Decimal("80"))
    created = client_for(hematologist).post("/api/v1/orders/", order_payload(patient, privigen))
    assert created.status_code == 201
    patient.serum_iga_mg_dl = Decimal("2")  # the result came back after the draft
    patient.save()
    refused = client_for(pharmacist).post(f"/api/v1/orders/{created.json()['id']}/verify/")
    assert refused.status_code == 409
    # The IgA status changed since the dose was worked out: a hematologist recalculates, and gives the reason.
    assert {s["code"]: s["role"] for s in refused.json()["stops"]} == {
        "iga_conflict": "hematologist",
        "record_changed": None,
    }
    # The pharmacist may not give a hematologist's reason: 403, nothing stored.
    forbidden = client_for(pharmacist).post(
        f"/api/v1/orders/{created.json()['id']}/verify/", {"overrides": {"iga_conflict": "seems fine"}}
    )
    assert forbidden.status_code == 403
    assert Order.objects.get().status == "draft"
    assert not SafetyRecord.objects.filter(kind="override").exists()


def test_a_gammagard_sd_order_without_site_rates_is_not_verified(client_for, hematologist, pharmacist):
    gammagard = Product.objects.get(name="Gammagard S/D")
    created = client_for(hematologist).post(
        "/api/v1/orders/", order_payload(PatientFactory(), gammagard, prepared_concentration_percent="5")
    )
    assert created.status_code == 201, created.json()
    refused = client_for(pharmacist).post(f"/api/v1/orders/{created.json()['id']}/verify/")
    assert refused.status_code == 409
    assert codes(refused) == ["rate_plan_incomplete"]
    assert not Infusion.objects.exists()


def test_350_g_a_day_for_a_350_kg_patient_needs_the_verifiers_reason(client_for, hematologist, pharmacist, gamunex):
    patient = PatientFactory(weight_kg=Decimal("350"), height_cm=Decimal("180"))
    created = client_for(hematologist).post(
        "/api/v1/orders/",
        order_payload(patient, gamunex, dosing_weight_override_kg="350", dosing_weight_override_reason="policy"),
    )
    assert created.status_code == 201
    # At creation it awaits the verifier: shown, not refused.
    assert "high_dose" in [s["code"] for s in created.json()["safety"]]
    verify = f"/api/v1/orders/{created.json()['id']}/verify/"
    assert codes(client_for(pharmacist).post(verify)) == ["high_dose"]
    done = client_for(pharmacist).post(verify, {"overrides": {"high_dose": "weight confirmed on the ward scale"}})
    assert done.status_code == 200
    assert done.json()["status"] == "verified"


def test_the_dry_run_of_verification_shows_the_stops_and_changes_nothing(client_for, hematologist, pharmacist):
    created = (
        client_for(hematologist)
        .post(
            "/api/v1/orders/",
            order_payload(
                PatientFactory(serum_iga_mg_dl=None, iga_measured_on=None), Product.objects.get(name="Gamunex-C")
            ),
        )
        .json()
    )
    dry = client_for(pharmacist).get(f"/api/v1/orders/{created['id']}/safety/?action=verify")
    assert dry.status_code == 200
    assert [s["code"] for s in dry.json()["stops"]] == ["iga_result_missing"]
    assert Order.objects.get().status == "draft"


# --- The bedside -----------------------------------------------------------------------------------------


def test_a_start_before_the_scheduled_day_needs_the_nurses_reason(nurse_api, hematologist):
    order = verified_order(prescriber=hematologist, first_infusion_on=timezone.localdate() + timedelta(days=20))
    infusion = order.infusions.get()
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    refused = start(nurse_api, infusion)
    assert refused.status_code == 409
    assert codes(refused) == ["before_scheduled_day"]
    assert Infusion.objects.get(pk=infusion.pk).status == "scheduled"
    started = start(nurse_api, infusion, overrides={"before_scheduled_day": "bed free today, consultant agreed"})
    assert started.status_code == 200
    overrides = [s["override"]["reason"] for s in started.json()["safety"] if s["kind"] == "override"]
    assert overrides == ["bed free today, consultant agreed"]


def test_day_two_an_hour_after_day_one_ended_needs_a_hematologists_reason(client_for, nurse, hematologist):
    yesterday = timezone.localdate() - timedelta(days=1)
    order = verified_order(regimen="two_days_1g_per_kg", prescriber=hematologist, first_infusion_on=yesterday)
    api = client_for(nurse)
    day1, day2 = order.infusions.order_by("day_number")
    ended = timezone.now() - timedelta(hours=1)
    api.post(f"/api/v1/infusions/{day1.pk}/vitals/", {**NORMAL_VITALS, "taken_at": iso(ended - timedelta(hours=4))})
    start(api, day1, started_at=iso(ended - timedelta(hours=3)))
    api.post(
        f"/api/v1/infusions/{day1.pk}/complete/",
        {"completed_at": iso(ended), "volume_infused_ml": str(day1.volume_ml)},
    )
    api.post(f"/api/v1/infusions/{day2.pk}/vitals/", NORMAL_VITALS)
    refused = start(api, day2)
    # Day 1 ran today, so day 2 (moved to tomorrow) is also early; the 8 hours are the hematologist's to override.
    assert {s["code"]: s["role"] for s in refused.json()["stops"]}["too_soon_after_previous_day"] == "hematologist"
    nurse_reason = start(api, day2, overrides={"too_soon_after_previous_day": "I was asked to"})
    assert nurse_reason.status_code == 403
    assert Infusion.objects.get(pk=day2.pk).status == "scheduled"


def test_5000_ml_per_hour_is_refused_at_the_start_and_99999_at_a_rate_change(nurse_api, hematologist):
    order = verified_order(prescriber=hematologist)
    infusion = order.infusions.get()
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    at_start = start(nurse_api, infusion, rate_ml_per_h="5000")
    assert at_start.status_code == 400
    assert "rate_above_max" in codes(at_start)
    assert Infusion.objects.get(pk=infusion.pk).status == "scheduled"
    assert start(nurse_api, infusion).status_code == 200
    stepped = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/rate/", {"rate_ml_per_h": "99999"})
    assert stepped.status_code == 400
    assert "rate_above_max" in codes(stepped)
    assert RateSegment.objects.filter(infusion=infusion).count() == 1


def test_a_first_ever_infusion_never_starts_at_the_plans_maximum(nurse_api, hematologist):
    order = verified_order(prescriber=hematologist)
    infusion = order.infusions.get()
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    maximum = order.rate_plan["max_rate_ml_per_h"]
    refused = start(nurse_api, infusion, rate_ml_per_h=str(maximum), overrides={"start_above_initial": "busy ward"})
    assert refused.status_code == 400
    assert [(s["code"], s["kind"]) for s in refused.json()["stops"]] == [("start_above_initial", "hard")]


def test_a_step_up_four_minutes_after_a_stop_alert_needs_the_nurses_reason(nurse_api, hematologist):
    order = verified_order(prescriber=hematologist)
    infusion = running(nurse_api, order, minutes_ago=40)
    alert = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", {**NORMAL_VITALS, "systolic_bp_mmhg": 85})
    assert [a["severity"] for a in alert.json()["alerts"]] == ["high"]
    next_step = str(order.rate_plan["steps"][1]["rate_ml_per_h"])
    refused = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/rate/", {"rate_ml_per_h": next_step})
    assert refused.status_code == 409
    assert codes(refused) == ["step_during_alert"]
    assert RateSegment.objects.filter(infusion=infusion).count() == 1
    reason = {"step_during_alert": "repeat BP 118 systolic manually; the prescriber agreed"}
    assert (
        nurse_api.post(
            f"/api/v1/infusions/{infusion.pk}/rate/", {"rate_ml_per_h": next_step, "overrides": reason}
        ).status_code
        == 200
    )


def test_a_resume_at_full_rate_after_a_reaction_needs_the_nurses_reason(nurse_api, hematologist):
    order = verified_order(prescriber=hematologist)
    infusion = running(nurse_api, order, minutes_ago=10)
    nurse_api.post(
        f"/api/v1/infusions/{infusion.pk}/reactions/",
        {"reaction": "chills", "ctcae_grade": 2, "action_taken": "paused, paracetamol given"},
    )
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/pause/", {})
    full = str(order.rate_plan["steps"][0]["rate_ml_per_h"])
    refused = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/resume/", {"rate_ml_per_h": full})
    assert refused.status_code == 400
    assert codes(refused) == ["resume_above_half"]
    assert Infusion.objects.get(pk=infusion.pk).status == "paused"


def test_day_two_after_anaphylaxis_on_day_one_waits_for_the_hematologists_review(client_for, nurse, hematologist):
    yesterday = timezone.localdate() - timedelta(days=1)
    order = verified_order(regimen="two_days_1g_per_kg", prescriber=hematologist, first_infusion_on=yesterday)
    api = client_for(nurse)
    day1, day2 = order.infusions.order_by("day_number")
    # Yesterday at 08:00 in the hospital's zone, whatever the hour the test runs: day 2 stays due today.
    began = timezone.make_aware(datetime.combine(yesterday, time(8, 0)))
    api.post(f"/api/v1/infusions/{day1.pk}/vitals/", {**NORMAL_VITALS, "taken_at": iso(began - timedelta(minutes=5))})
    start(api, day1, started_at=iso(began))
    api.post(
        f"/api/v1/infusions/{day1.pk}/reactions/",
        {
            "reaction": "anaphylaxis",
            "ctcae_grade": 3,
            "action_taken": "stopped, adrenaline given",
            "noted_at": iso(began + timedelta(minutes=20)),
        },
    )
    assert Order.objects.get(pk=order.pk).on_hold
    assert Notification.objects.filter(kind="course_on_hold", recipient=hematologist).count() == 1
    api.post(f"/api/v1/infusions/{day2.pk}/vitals/", NORMAL_VITALS)
    refused = start(api, day2)
    assert codes(refused) == ["course_on_hold"]
    # The nurse cannot review the hold; the hematologist cancels the remaining day.
    assert (
        api.post(f"/api/v1/orders/{order.pk}/hold-review/", {"decision": "continue", "reason": "x"}).status_code == 403
    )
    review = client_for(hematologist).post(
        f"/api/v1/orders/{order.pk}/hold-review/", {"decision": "cancel_remaining", "reason": "anaphylaxis"}
    )
    assert review.status_code == 200
    assert Infusion.objects.get(pk=day2.pk).status == "stopped"
    assert Order.objects.get(pk=order.pk).status == "completed"


@pytest.mark.parametrize(("fraction", "refused"), [(Decimal("0.01"), True), (Decimal("6.7"), True), (1, False)])
def test_completing_with_one_percent_of_the_bag_or_many_times_it_needs_the_nurses_reason(
    nurse_api, hematologist, fraction, refused
):
    order = verified_order(prescriber=hematologist)
    infusion = running(nurse_api, order, minutes_ago=5)
    volume = (infusion.volume_ml * fraction).quantize(Decimal("0.1"))
    response = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/complete/", {"volume_infused_ml": str(volume)})
    assert response.status_code == (400 if refused else 200)
    assert Infusion.objects.get(pk=infusion.pk).status == ("in_progress" if refused else "completed")


def test_a_start_documented_late_is_never_refused_and_its_deviations_reach_the_prescriber(nurse_api, hematologist):
    started = timezone.now() - timedelta(hours=2)
    order = verified_order(prescriber=hematologist, first_infusion_on=timezone.localtime(started).date())
    infusion = order.infusions.get()
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", {**NORMAL_VITALS, "taken_at": iso(started)})
    response = start(nurse_api, infusion, started_at=iso(started), rate_ml_per_h="5000")
    assert response.status_code == 200
    deviation = SafetyRecord.objects.get(infusion=infusion, code="rate_above_max")
    assert (deviation.kind, deviation.stage) == ("documented_deviation", "documented_late")
    assert Notification.objects.filter(kind="documented_deviation", recipient=hematologist).count() == 2


def test_the_dry_run_of_a_bedside_action_changes_nothing(nurse_api, hematologist):
    order = verified_order(prescriber=hematologist)
    infusion = running(nurse_api, order, minutes_ago=2)
    dry = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/safety/", {"action": "rate", "rate_ml_per_h": "99999"})
    assert dry.status_code == 200
    assert "rate_above_max" in [s["code"] for s in dry.json()["stops"]]
    assert RateSegment.objects.filter(infusion=infusion).count() == 1


def test_an_override_reason_of_blank_is_a_field_error(nurse_api, hematologist):
    order = verified_order(prescriber=hematologist, first_infusion_on=timezone.localdate() + timedelta(days=2))
    infusion = order.infusions.get()
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    response = start(nurse_api, infusion, overrides={"before_scheduled_day": "   "})
    assert response.status_code == 400
    assert "overrides" in response.json()


def test_once_the_hematologist_recalculates_with_a_reason_for_the_iga_conflict_the_order_can_be_verified(
    client_for, hematologist, pharmacist
):
    privigen = Product.objects.get(name="Privigen")
    patient = PatientFactory(serum_iga_mg_dl=Decimal("80"))
    order_id = client_for(hematologist).post("/api/v1/orders/", order_payload(patient, privigen)).json()["id"]
    patient.serum_iga_mg_dl = Decimal("2")
    patient.anti_iga_antibodies = "negative"
    patient.save()
    recalculated = client_for(hematologist).post(
        f"/api/v1/orders/{order_id}/recalculate/", {"reason": "IgA result 2 mg/dL, anti-IgA antibodies negative"}
    )
    assert recalculated.status_code == 200, recalculated.json()
    verified = client_for(pharmacist).post(f"/api/v1/orders/{order_id}/verify/")
    assert verified.status_code == 200, verified.json()
    assert [s["code"] for s in verified.json()["safety"] if s["kind"] == "warning"].count("iga_conflict") >= 1


def test_a_cardiac_flag_added_after_the_draft_caps_the_rate_plan_automatically_at_verification(
    client_for, hematologist, pharmacist, gamunex
):
    patient = PatientFactory()
    order_id = client_for(hematologist).post("/api/v1/orders/", order_payload(patient, gamunex)).json()["id"]
    uncapped = Order.objects.get(pk=order_id).rate_plan["max_rate_ml_per_h"]
    patient.cardiac_dysfunction = True
    patient.save()
    verified = client_for(pharmacist).post(f"/api/v1/orders/{order_id}/verify/")
    assert verified.status_code == 200, verified.json()
    plan = verified.json()["rate_plan"]
    assert plan["at_risk_capped"] is True
    assert plan["max_rate_ml_per_h"] < uncapped
    assert "record_changed" in [s["code"] for s in verified.json()["safety"]]
    assert Order.history.filter(id=order_id, history_change_reason__startswith="safer rate plan").exists()


def test_a_verified_order_recalculated_before_its_start_goes_back_to_draft_and_keeps_its_scheduled_day(
    client_for, hematologist
):
    order = verified_order(prescriber=hematologist)
    infusion = order.infusions.get()
    response = client_for(hematologist).post(
        f"/api/v1/orders/{order.pk}/recalculate/",
        {"reason": "new weight", "first_infusion_on": str(timezone.localdate() + timedelta(days=2))},
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "draft"
    assert Infusion.objects.get(pk=infusion.pk).status == "scheduled"


def test_neither_day_is_withheld_through_the_api_before_a_counted_response(client_for, nurse):
    order = verified_order(regimen="two_days_1g_per_kg")
    day1, day2 = order.infusions.order_by("day_number")
    api = client_for(nurse)
    for day in (day1, day2):
        refused = api.post(f"/api/v1/infusions/{day.pk}/withhold/", {"reason": "24 h count 95: responded"})
        assert refused.status_code == 409
        assert refused.json()["stops"][0]["code"] == "withhold_not_indicated"
    assert list(order.infusions.values_list("status", flat=True)) == ["scheduled", "scheduled"]


def test_a_day_started_a_day_late_moves_the_later_days_by_a_day(client_for, nurse):
    yesterday = timezone.localdate() - timedelta(days=1)
    order = verified_order(regimen="five_days_0_4g_per_kg", first_infusion_on=yesterday)
    api = client_for(nurse)
    day1 = order.infusions.get(day_number=1)
    api.post(f"/api/v1/infusions/{day1.pk}/vitals/", NORMAL_VITALS)
    assert start(api, day1).status_code == 200  # scheduled yesterday, started today
    days = dict(order.infusions.values_list("day_number", "scheduled_for"))
    assert days == {n: yesterday + timedelta(days=n) for n in range(1, 6)} | {1: yesterday}
    moved = Infusion.history.filter(id=order.infusions.get(day_number=2).pk).latest()
    assert moved.history_change_reason == "moved 1 day(s): day 1 started late"


def test_a_product_with_no_step_interval_on_its_label_warns_that_the_site_default_is_used(client_for, pharmacist):
    privigen = verified_order(product_name="Privigen")  # the label says "increase gradually": no interval
    warnings = [s["code"] for s in client_for(pharmacist).get(f"/api/v1/orders/{privigen.pk}/").json()["safety"]]
    assert "step_interval_default" in warnings


def test_a_woman_of_153_cm_whose_dose_would_change_below_152_4_cm_is_warned_to_check_her_height(
    client_for, hematologist, gamunex
):
    patient = PatientFactory(sex="female", height_cm=Decimal("153"), weight_kg=Decimal("95"))
    created = client_for(hematologist).post("/api/v1/orders/", order_payload(patient, gamunex))
    assert created.status_code == 201
    assert "near_policy_threshold" in [s["code"] for s in created.json()["safety"] if s["kind"] == "warning"]


def test_a_start_documented_late_on_an_unverified_order_is_still_refused(client_for, nurse, hematologist, gamunex):
    order = verified_order(prescriber=hematologist)
    client_for(hematologist).post(f"/api/v1/orders/{order.pk}/recalculate/", {"reason": "new weight"})
    infusion = order.infusions.get()
    api = client_for(nurse)
    started = timezone.now() - timedelta(minutes=20)
    api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", {**NORMAL_VITALS, "taken_at": iso(started)})
    refused = start(api, infusion, started_at=iso(started))
    assert refused.status_code == 409
    assert codes(refused) == ["order_not_verified"]
    assert Infusion.objects.get(pk=infusion.pk).status == "scheduled"


def test_a_late_entry_keeps_the_reason_the_nurse_gave_with_its_deviation(nurse_api, hematologist):
    order = verified_order(prescriber=hematologist)
    infusion = order.infusions.get()
    started = timezone.now() - timedelta(hours=1)
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", {**NORMAL_VITALS, "taken_at": iso(started)})
    high = str(order.rate_plan["steps"][1]["rate_ml_per_h"])
    reason = {"start_above_initial": "the consultant asked for the second step"}
    assert start(nurse_api, infusion, started_at=iso(started), rate_ml_per_h=high, overrides=reason).status_code == 200
    deviation = SafetyRecord.objects.get(infusion=infusion, code="start_above_initial")
    assert (deviation.kind, deviation.reason) == ("documented_deviation", "the consultant asked for the second step")


def test_an_emergency_order_that_replaced_another_is_verified(client_for, hematologist, pharmacist, gamunex):
    patient = PatientFactory()
    first = client_for(hematologist).post("/api/v1/orders/", order_payload(patient, gamunex)).json()["id"]
    emergency = (
        client_for(hematologist)
        .post("/api/v1/orders/", order_payload(patient, gamunex, emergency=True, replaces=first))
        .json()["id"]
    )
    verified = client_for(pharmacist).post(f"/api/v1/orders/{emergency}/verify/")
    assert verified.status_code == 200, verified.json()


def test_the_prescriber_cannot_give_the_verifiers_high_dose_reason(client_for, hematologist, pharmacist, gamunex):
    patient = PatientFactory(weight_kg=Decimal("150"), height_cm=Decimal("180"))
    created = client_for(hematologist).post(
        "/api/v1/orders/",
        order_payload(
            patient,
            gamunex,
            dosing_weight_override_kg="150",
            dosing_weight_override_reason="policy",
            overrides={"high_dose": "I say so"},
        ),
    )
    assert created.status_code == 201
    assert not SafetyRecord.objects.filter(code="high_dose", kind="override").exists()
    assert codes(client_for(pharmacist).post(f"/api/v1/orders/{created.json()['id']}/verify/")) == ["high_dose"]


def test_listing_infusions_costs_a_fixed_number_of_queries_with_their_safety_records(nurse_api, hematologist):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert nurse_api.get("/api/v1/infusions/").status_code == 200
        return len(captured)

    order = verified_order(prescriber=hematologist, first_infusion_on=timezone.localdate() + timedelta(days=2))
    infusion = order.infusions.get()
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    start(nurse_api, infusion, overrides={"before_scheduled_day": "bed free"})
    one = queries()
    for _ in range(3):
        other = verified_order(first_infusion_on=timezone.localdate() + timedelta(days=2)).infusions.get()
        nurse_api.post(f"/api/v1/infusions/{other.pk}/vitals/", NORMAL_VITALS)
        start(nurse_api, other, overrides={"before_scheduled_day": "bed free"})
    assert queries() == one


def test_octagam_for_a_patient_with_diabetes_asks_the_nurse_to_confirm_the_glucose_method(
    nurse_api, hematologist, pharmacist
):
    from infusions import services

    octagam = Product.objects.get(name="Octagam 10 %")  # its vial sizes are unknown to the label: the site's
    services.record_site_values(
        product_id=octagam.pk, user=pharmacist, values={"vial_sizes_g": [2, 5, 10, 20]}, source="test fixture"
    )
    order = verified_order(prescriber=hematologist, product_name="Octagam 10 %", diabetes=True)
    prehydrate(order.patient)  # diabetes is a renal risk factor: pre-hydration before the start (§A13)
    infusion = order.infusions.get()
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    refused = start(nurse_api, infusion)
    assert codes(refused) == ["checklist_incomplete"]
    assert "glucose-specific method" in refused.json()["checklist"][0]
    confirmed = start(nurse_api, infusion, checklist={**FULL_CHECKLIST, "glucose_method_checked": True})
    assert confirmed.status_code == 200
    assert "maltose_interference" in [s["code"] for s in confirmed.json()["safety"] if s["kind"] == "warning"]
