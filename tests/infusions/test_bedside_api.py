from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from infusions.models import Infusion, Order, RateSegment, Reaction, VitalSignsEntry
from monitoring.models import Notification, PlateletCheck
from tests.factories import FULL_CHECKLIST, NORMAL_VITALS, PatientFactory, day_vials, prehydrate, verified_order

pytestmark = pytest.mark.db


@pytest.fixture
def order(db, hematologist):
    return verified_order(prescriber=hematologist)


@pytest.fixture
def infusion(order):
    return order.infusions.get()


@pytest.fixture
def nurse_api(client_for, nurse):
    return client_for(nurse)


def iso(moment):
    return moment.isoformat()


def start(api, infusion, **extra):
    body = {"checklist": FULL_CHECKLIST, "vials": day_vials(infusion, lots=["LOT-A1"]), **extra}
    return api.post(f"/api/v1/infusions/{infusion.pk}/start/", body)


def test_a_whole_infusion_through_the_api(nurse_api, infusion, order):
    t0 = timezone.now() - timedelta(hours=3)
    assert (
        nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", {**NORMAL_VITALS, "taken_at": iso(t0)}).status_code
        == 201
    )
    started = start(nurse_api, infusion, started_at=iso(t0 + timedelta(minutes=5)))
    assert started.status_code == 200, started.json()
    body = started.json()
    assert body["status"] == "in_progress"
    assert body["current_rate_ml_per_h"] == pytest.approx(46.0)  # Gamunex-C 0.01 mL/kg/min x 76.7 kg x 60
    assert body["lot_numbers"] == ["LOT-A1"]
    assert Order.objects.get(pk=order.pk).status == "in_progress"
    stepped = nurse_api.post(
        f"/api/v1/infusions/{infusion.pk}/rate/",
        {"rate_ml_per_h": "92.1", "changed_at": iso(t0 + timedelta(minutes=35))},
    )
    assert stepped.json()["current_rate_ml_per_h"] == pytest.approx(92.1)
    completed = nurse_api.post(
        f"/api/v1/infusions/{infusion.pk}/complete/", {"completed_at": iso(t0 + timedelta(minutes=65))}
    )
    assert completed.status_code == 200
    assert completed.json()["status"] == "completed"
    # 46 mL/h x 0.5 h + 92.1 mL/h x 0.5 h = 69.05 mL, computed from the rate segments
    assert completed.json()["volume_infused_ml"] == pytest.approx(69.1, abs=0.05)
    assert Order.objects.get(pk=order.pk).status == "completed"
    observation = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    assert observation.status_code == 201  # vitals after completion are the observation sets


def test_completing_the_first_infusion_creates_the_four_checks_due_in_elapsed_hours(nurse_api, infusion, order):
    completed_at = timezone.now() - timedelta(minutes=1)
    nurse_api.post(
        f"/api/v1/infusions/{infusion.pk}/vitals/",
        {**NORMAL_VITALS, "taken_at": iso(completed_at - timedelta(hours=2))},
    )
    start(nurse_api, infusion, started_at=iso(completed_at - timedelta(hours=1)))
    nurse_api.post(
        f"/api/v1/infusions/{infusion.pk}/complete/",
        {"completed_at": iso(completed_at), "volume_infused_ml": str(infusion.volume_ml)},
    )
    checks = {c.label: c.due_at - completed_at for c in PlateletCheck.objects.filter(order=order)}
    assert {label: checks[label] for label in ("24h", "48h", "72h", "7d")} == {
        "24h": timedelta(hours=24),
        "48h": timedelta(hours=48),
        "72h": timedelta(hours=72),
        "7d": timedelta(hours=168),
    }
    # and the follow-ups of docs/clinical-rules.md §A12, at 09:00 hospital time 14 and 28 days on
    local_end = timezone.localtime(completed_at)
    for label, days in (("14d", 14), ("28d", 28)):
        due = timezone.localtime(completed_at + checks[label])
        assert (due.date() - local_end.date(), due.hour, due.minute) == (timedelta(days=days), 9, 0)


@pytest.mark.parametrize("missing", sorted(FULL_CHECKLIST))
def test_each_checklist_item_must_be_confirmed_before_start(nurse_api, infusion, missing):
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    response = start(nurse_api, infusion, checklist={**FULL_CHECKLIST, missing: False})
    assert response.status_code == 400
    assert "checklist" in response.json()
    assert Infusion.objects.get(pk=infusion.pk).status == "scheduled"
    assert not RateSegment.objects.exists()


def test_a_start_without_a_vial_is_400(nurse_api, infusion):
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    response = start(nurse_api, infusion, vials=[])
    assert response.status_code == 400
    assert "vials" in response.json()


def test_a_v1_start_with_lot_numbers_alone_is_refused_as_vials_missing(nurse_api, infusion):
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    body = {"checklist": FULL_CHECKLIST, "lot_numbers": ["LOT-A1"]}
    response = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/start/", body)
    assert response.status_code == 400
    assert [(s["code"], s["kind"], s["field"]) for s in response.json()["stops"]] == [
        ("vials_missing", "hard", "vials")
    ]
    assert Infusion.objects.get(pk=infusion.pk).status == "scheduled"
    assert not Notification.objects.filter(kind="vials_not_detailed").exists()


@override_settings(IVIG_V1_START_COMPAT=True)
def test_during_the_transition_lot_numbers_alone_start_with_the_warning_vials_not_detailed(
    nurse_api, infusion, pharmacist
):
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    body = {"checklist": FULL_CHECKLIST, "lot_numbers": ["LOT-A1"]}
    response = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/start/", body)
    assert response.status_code == 200, response.json()
    assert response.json()["lot_numbers"] == ["LOT-A1"]
    warnings = [entry for entry in response.json()["safety"] if entry["code"] == "vials_not_detailed"]
    assert [entry["kind"] for entry in warnings] == ["warning"]
    # Every pharmacist (the verifier and pharm1 here) is told, once, to complete the vials' product, size and expiry.
    told = Notification.objects.filter(kind="vials_not_detailed", order=infusion.order)
    pharmacists = set(User.objects.filter(groups__name="pharmacist"))
    assert pharmacist in pharmacists
    assert sorted(n.recipient.pk for n in told) == sorted(user.pk for user in pharmacists)
    assert all("LOT-A1" in n.message for n in told)


def test_a_start_before_any_baseline_vitals_is_409(nurse_api, infusion):
    response = start(nurse_api, infusion)
    assert response.status_code == 409
    assert "baseline" in response.json()["detail"]
    assert Infusion.objects.get(pk=infusion.pk).status == "scheduled"


def test_starting_twice_is_409(nurse_api, infusion):
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    assert start(nurse_api, infusion).status_code == 200
    assert start(nurse_api, infusion).status_code == 409
    assert RateSegment.objects.filter(infusion=infusion).count() == 1


@pytest.mark.parametrize("role", ["hematologist", "pharmacist"])
def test_only_nurses_start_infusions(client_for, role_user, infusion, role):
    client = client_for(role_user(role, username=f"{role}-b"))
    assert client.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS).status_code == 403
    assert start(client, infusion).status_code == 403
    assert not VitalSignsEntry.objects.exists()


def test_a_fever_raises_a_warning_returned_with_the_stored_entry(nurse_api, infusion):
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    response = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", {**NORMAL_VITALS, "temperature_c": "38.2"})
    assert response.status_code == 201
    alerts = response.json()["alerts"]
    assert [(a["code"], a["severity"]) for a in alerts] == [("fever", "warning")]
    assert alerts[0]["suggested_action"] == "halve_rate"
    assert VitalSignsEntry.objects.get(pk=response.json()["id"]).alerts == alerts
    assert not Notification.objects.exists()  # a warning tells the nurse; only a high alert reaches the doctor


def test_a_high_alert_notifies_the_ordering_hematologist_once(nurse_api, infusion, hematologist):
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    response = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", {**NORMAL_VITALS, "systolic_bp_mmhg": 85})
    assert [(a["code"], a["severity"]) for a in response.json()["alerts"]] == [("hypotension", "high")]
    notification = Notification.objects.get()
    assert (notification.recipient, notification.kind) == (hematologist, "vitals_alert")
    assert "85" in notification.message


# A calm toddler: normal for 2 to under 4 years (§A11: HR 60-140, RR 24-40), fast for an adult (§A5).
TODDLER_VITALS = {
    "temperature_c": "36.9",
    "heart_rate_bpm": 130,
    "systolic_bp_mmhg": 96,
    "diastolic_bp_mmhg": 58,
    "respiratory_rate_per_min": 28,
    "spo2_percent": 98,
}


def toddler_infusion(hematologist):
    today = timezone.localdate()
    toddler = PatientFactory(
        birth_date=date(today.year - 2, today.month, 1), weight_kg=Decimal("12.5"), height_cm=Decimal("88")
    )
    return verified_order(prescriber=hematologist, patient=toddler).infusions.get()


def test_a_normal_toddler_set_raises_no_alert_and_the_same_set_in_an_adult_raises_tachycardia(
    nurse_api, hematologist, infusion
):
    toddler = toddler_infusion(hematologist)
    response = nurse_api.post(f"/api/v1/infusions/{toddler.pk}/vitals/", TODDLER_VITALS)
    assert response.status_code == 201
    assert response.json()["alerts"] == []
    assert VitalSignsEntry.objects.get(pk=response.json()["id"]).highest_severity == ""

    adult = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", TODDLER_VITALS).json()["alerts"]
    assert [(a["code"], a["severity"]) for a in adult] == [("tachycardia", "warning"), ("tachypnea", "warning")]
    assert all(set(a) == {"code", "severity", "message", "suggested_action"} for a in adult)


def test_a_sleeping_toddler_s_slow_heart_rate_is_stored_as_a_low_for_age_warning(nurse_api, hematologist):
    toddler = toddler_infusion(hematologist)
    response = nurse_api.post(f"/api/v1/infusions/{toddler.pk}/vitals/", {**TODDLER_VITALS, "heart_rate_bpm": 55})
    (alert,) = response.json()["alerts"]
    assert (alert["code"], alert["severity"], alert["low_for_age"]) == ("bradycardia", "warning", True)
    assert alert["message"].endswith("low for age: check whether the child is asleep and recount.")
    assert VitalSignsEntry.objects.get(pk=response.json()["id"]).alerts == [alert]
    assert not Notification.objects.exists()


@override_settings(TIME_ZONE="Pacific/Auckland")
def test_a_heart_rate_of_59_stops_being_high_at_local_midnight_of_the_second_birthday_not_utc_midnight(
    nurse_api, hematologist
):
    # Auckland's midnight is late morning of the day before in UTC: an age from the UTC date would be a day late.
    today = timezone.localdate()
    if (today.month, today.day) == (2, 29):
        pytest.skip("no second birthday on 29 February two years ago")
    toddler = PatientFactory(
        birth_date=date(today.year - 2, today.month, today.day), weight_kg=Decimal("12.5"), height_cm=Decimal("88")
    )
    infusion = verified_order(prescriber=hematologist, patient=toddler).infusions.get()
    midnight = timezone.make_aware(datetime.combine(today, time()))
    slow = {**TODDLER_VITALS, "heart_rate_bpm": 59}

    eve = nurse_api.post(
        f"/api/v1/infusions/{infusion.pk}/vitals/", {**slow, "taken_at": iso(midnight - timedelta(minutes=1))}
    )
    birthday = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", {**slow, "taken_at": iso(midnight)})

    assert [(a["code"], a["severity"]) for a in eve.json()["alerts"]] == [("bradycardia", "high")]
    assert [(a["code"], a["severity"], a.get("low_for_age")) for a in birthday.json()["alerts"]] == [
        ("bradycardia", "warning", True)
    ]


def test_the_bedside_page_shows_a_toddler_s_limits_for_age_and_no_limits_for_an_adult(
    client, nurse, hematologist, infusion
):
    toddler = toddler_infusion(hematologist)
    client.force_login(nurse)
    html = client.get(reverse("infusion-bedside", args=[toddler.pk])).content.decode()
    assert "Limits for age 2 to under 4 years: HR 60–140 /min · RR 24–40 /min · systolic 74 mmHg or above." in html
    assert (
        'data-testid="child-limits"' not in client.get(reverse("infusion-bedside", args=[infusion.pk])).content.decode()
    )


def test_a_set_dated_before_the_patient_was_born_is_refused_on_its_time(nurse_api, hematologist):
    newborn = PatientFactory(birth_date=timezone.localdate(), weight_kg=Decimal("3.4"), height_cm=Decimal("51"))
    infusion = verified_order(prescriber=hematologist, patient=newborn).infusions.get()
    yesterday = {**TODDLER_VITALS, "taken_at": iso(timezone.now() - timedelta(days=1))}
    response = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", yesterday)
    assert response.status_code == 400
    assert response.json()["taken_at"] == ["This time is before the patient's date of birth."]
    assert not VitalSignsEntry.objects.exists()


def test_each_vitals_set_keeps_an_audit_row_naming_the_nurse_who_recorded_it(nurse_api, infusion, nurse):
    response = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    audit = VitalSignsEntry.history.get(id=response.json()["id"])
    assert (audit.history_type, audit.history_user) == ("+", nurse)
    assert audit.heart_rate_bpm == NORMAL_VITALS["heart_rate_bpm"]


def test_sets_before_the_start_meet_the_absolute_thresholds_only_and_later_sets_the_last_one_before_the_start(
    nurse_api, infusion
):
    began = timezone.now() - timedelta(minutes=30)
    nurse_api.post(
        f"/api/v1/infusions/{infusion.pk}/vitals/",
        {**NORMAL_VITALS, "systolic_bp_mmhg": 150, "taken_at": iso(began - timedelta(minutes=20))},
    )
    # 120 before the start is a fall of 30 from 150, yet a set before the start is not compared with another.
    before = {**NORMAL_VITALS, "systolic_bp_mmhg": 120, "taken_at": iso(began - timedelta(minutes=5))}
    assert nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", before).json()["alerts"] == []
    assert start(nurse_api, infusion, started_at=iso(began)).status_code == 200
    # After the start: 125 would be a fall of 25 from 150 (a warning), but the baseline is 120, the last set before it.
    after = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", {**NORMAL_VITALS, "systolic_bp_mmhg": 125})
    assert after.json()["alerts"] == []
    fall = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", {**NORMAL_VITALS, "systolic_bp_mmhg": 100})
    assert [(a["code"], a["severity"]) for a in fall.json()["alerts"]] == [("hypotension", "warning")]


@pytest.mark.parametrize(
    "field, value",
    [
        ("temperature_c", "29.9"),
        ("temperature_c", "44.1"),
        ("heart_rate_bpm", 19),
        ("heart_rate_bpm", 251),
        ("systolic_bp_mmhg", 301),
        ("diastolic_bp_mmhg", 19),
        ("diastolic_bp_mmhg", 130),
        ("respiratory_rate_per_min", 3),
        ("spo2_percent", 101),
        ("spo2_percent", 49),
    ],
)
def test_impossible_vitals_are_400_on_their_field_and_stored_nowhere(nurse_api, infusion, field, value):
    response = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", {**NORMAL_VITALS, field: value})
    assert response.status_code == 400
    assert field in response.json()
    assert not VitalSignsEntry.objects.exists()


def test_vitals_in_the_future_are_refused(nurse_api, infusion):
    future = iso(timezone.now() + timedelta(minutes=10))
    response = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", {**NORMAL_VITALS, "taken_at": future})
    assert response.status_code == 400
    assert "taken_at" in response.json()


def test_vitals_for_an_unknown_infusion_are_404(nurse_api, db):
    assert nurse_api.post("/api/v1/infusions/999999/vitals/", NORMAL_VITALS).status_code == 404


def test_a_rate_above_the_plan_maximum_is_refused(nurse_api, infusion):
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    start(nurse_api, infusion)
    response = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/rate/", {"rate_ml_per_h": "368.3"})
    assert response.status_code == 400
    assert "maximum" in " ".join(response.json()["rate_ml_per_h"])
    assert RateSegment.objects.filter(infusion=infusion).count() == 1


def test_above_an_at_risk_patients_cap_of_half_the_itp_maximum_only_a_hematologist_may_go(client_for, nurse):
    order = verified_order(renal_impairment=True)
    prehydrate(order.patient)  # renal impairment: pre-hydration before the start (§A13)
    infusion = order.infusions.get()
    api = client_for(nurse)
    api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    assert start(api, infusion).status_code == 200
    assert (order.rate_plan["at_risk_capped"], order.rate_plan["at_risk_cap_source"]) == (True, "design")
    refused = api.post(
        f"/api/v1/infusions/{infusion.pk}/rate/", {"rate_ml_per_h": "200", "overrides": {"rate_above_at_risk_cap": "x"}}
    )
    assert refused.status_code == 403  # a nurse may not give this reason
    # Every stop the request raises is listed, the hematologist's among them.
    assert {s["code"]: s["role"] for s in refused.json()["stops"]}["rate_above_at_risk_cap"] == "hematologist"
    assert RateSegment.objects.filter(infusion=infusion).count() == 1


def test_a_time_before_the_previous_event_is_refused(nurse_api, infusion):
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    start(nurse_api, infusion)
    earlier = iso(timezone.now() - timedelta(hours=1))
    response = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/rate/", {"rate_ml_per_h": "60", "changed_at": earlier})
    assert response.status_code == 400
    assert "changed_at" in response.json()


def test_pause_and_resume_open_segments_and_a_pause_infuses_nothing(nurse_api, infusion):
    t0 = timezone.now() - timedelta(hours=2)
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", {**NORMAL_VITALS, "taken_at": iso(t0)})
    start(nurse_api, infusion, started_at=iso(t0), rate_ml_per_h="60")
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/pause/", {"paused_at": iso(t0 + timedelta(minutes=30))})
    assert nurse_api.post(f"/api/v1/infusions/{infusion.pk}/rate/", {"rate_ml_per_h": "60"}).status_code == 409
    resumed = nurse_api.post(
        f"/api/v1/infusions/{infusion.pk}/resume/", {"resumed_at": iso(t0 + timedelta(minutes=90))}
    )
    assert resumed.json()["status"] == "in_progress"
    assert resumed.json()["current_rate_ml_per_h"] == 60
    done = nurse_api.post(
        f"/api/v1/infusions/{infusion.pk}/complete/",
        {
            "completed_at": iso(t0 + timedelta(minutes=120)),
            "overrides": {"volume_mismatch": "stopped early: the bag was changed for a new lot"},
        },
    )
    assert done.json()["volume_infused_ml"] == 60.0  # 30 min + 30 min at 60 mL/h; the hour's pause gave nothing
    safety = {(s["code"], s["kind"]): s["override"] for s in done.json()["safety"]}
    # The start two hours ago, above the initial rate, is a late entry: documented, not refused.
    assert safety[("start_above_initial", "documented_deviation")] is None
    # The completion, recorded as it happens, goes ahead on the nurse's reason, which is kept.
    assert safety[("volume_mismatch", "override")]["reason"] == "stopped early: the bag was changed for a new lot"
    assert list(RateSegment.objects.filter(infusion=infusion).values_list("reason", "rate_ml_per_h")) == [
        ("start", Decimal("60.0")),
        ("pause", Decimal("0.0")),
        ("resume", Decimal("60.0")),
    ]


def test_a_grade_3_reaction_stops_the_infusion(nurse_api, infusion):
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    start(nurse_api, infusion)
    response = nurse_api.post(
        f"/api/v1/infusions/{infusion.pk}/reactions/",
        {"reaction": "chills", "ctcae_grade": 3, "action_taken": "stopped, hydrocortisone given"},
    )
    assert response.status_code == 201
    assert response.json()["stopped_infusion"] is True
    refreshed = Infusion.objects.get(pk=infusion.pk)
    assert refreshed.status == "stopped"
    assert "CTCAE grade 3" in refreshed.stop_reason


def test_anaphylaxis_stops_the_infusion_whatever_the_grade_entered(nurse_api, infusion):
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    start(nurse_api, infusion)
    nurse_api.post(
        f"/api/v1/infusions/{infusion.pk}/reactions/",
        {"reaction": "anaphylaxis", "ctcae_grade": 2, "action_taken": "adrenaline IM"},
    )
    assert Infusion.objects.get(pk=infusion.pk).status == "stopped"


def test_after_a_mild_reaction_the_resume_suggests_half_the_rate(nurse_api, infusion):
    t0 = timezone.now() - timedelta(hours=1)
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", {**NORMAL_VITALS, "taken_at": iso(t0)})
    start(nurse_api, infusion, started_at=iso(t0), rate_ml_per_h="92.1")
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/pause/", {"paused_at": iso(t0 + timedelta(minutes=20))})
    reaction = nurse_api.post(
        f"/api/v1/infusions/{infusion.pk}/reactions/",
        {
            "reaction": "headache",
            "ctcae_grade": 2,
            "action_taken": "paused, paracetamol",
            "noted_at": iso(t0 + timedelta(minutes=19)),
        },
    )
    assert reaction.json()["rate_at_reaction_ml_per_h"] == 92.1
    resumed = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/resume/", {})
    assert resumed.json()["current_rate_ml_per_h"] == 46.1  # half of 92.1, rounded half-up to 0.1 (A5)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"reaction": "sneezing", "ctcae_grade": 1, "action_taken": "none"}, "reaction"),
        ({"reaction": "headache", "ctcae_grade": 6, "action_taken": "none"}, "ctcae_grade"),
        ({"reaction": "headache", "ctcae_grade": 1, "action_taken": ""}, "action_taken"),
    ],
)
def test_bad_reactions_are_400_and_stored_nowhere(nurse_api, infusion, body, field):
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    start(nurse_api, infusion)
    response = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/reactions/", body)
    assert response.status_code == 400
    assert field in response.json()
    assert not Reaction.objects.exists()


def test_completing_a_completed_infusion_is_409(nurse_api, infusion):
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    start(nurse_api, infusion)
    pump_total = {"volume_infused_ml": str(infusion.volume_ml)}
    assert nurse_api.post(f"/api/v1/infusions/{infusion.pk}/complete/", pump_total).status_code == 200
    assert nurse_api.post(f"/api/v1/infusions/{infusion.pk}/complete/", pump_total).status_code == 409
    assert nurse_api.post(f"/api/v1/infusions/{infusion.pk}/stop/", {"reason": "x"}).status_code == 409


def test_day_two_cannot_start_before_day_one_is_given(client_for, nurse):
    order = verified_order(regimen="two_days_1g_per_kg")
    day2 = order.infusions.get(day_number=2)
    api = client_for(nurse)
    api.post(f"/api/v1/infusions/{day2.pk}/vitals/", NORMAL_VITALS)
    assert start(api, day2).status_code == 409


def test_the_second_day_completes_the_order_and_creates_no_new_checks(client_for, nurse):
    yesterday = timezone.now() - timedelta(days=1)
    order = verified_order(regimen="two_days_1g_per_kg", first_infusion_on=timezone.localtime(yesterday).date())
    api = client_for(nurse)
    for infusion, started in zip(order.infusions.order_by("day_number"), [yesterday, timezone.now()], strict=True):
        api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", {**NORMAL_VITALS, "taken_at": iso(started)})
        assert start(api, infusion, started_at=iso(started)).status_code == 200
        done = {"completed_at": iso(min(started + timedelta(hours=3), timezone.now())), "volume_infused_ml": "750"}
        assert api.post(f"/api/v1/infusions/{infusion.pk}/complete/", done).status_code == 200
        assert PlateletCheck.objects.filter(order=order).count() == 6  # A6's four and A12's two follow-ups
    assert Order.objects.get(pk=order.pk).status == "completed"


def test_infusions_are_listed_by_order_status_and_date(nurse_api, infusion, order):
    today = str(timezone.localdate())
    assert [i["id"] for i in nurse_api.get(f"/api/v1/infusions/?date={today}").json()["results"]] == [infusion.pk]
    assert nurse_api.get(f"/api/v1/infusions/?order={order.pk}&status=completed").json()["count"] == 0
    assert nurse_api.get("/api/v1/infusions/?date=not-a-date").status_code == 400


@pytest.mark.parametrize("history_length", [1, 40])
def test_recording_vitals_runs_a_fixed_number_of_queries_whatever_the_history(
    nurse_api, infusion, django_assert_num_queries, history_length
):
    for minutes in range(history_length):
        nurse_api.post(
            f"/api/v1/infusions/{infusion.pk}/vitals/",
            {**NORMAL_VITALS, "taken_at": iso(timezone.now() - timedelta(minutes=200 - minutes))},
        )
    assert start(nurse_api, infusion, started_at=iso(timezone.now() - timedelta(minutes=150))).status_code == 200
    # The same count at 1 and 40 earlier sets: the token with its user, the user's groups and permissions, then in
    # one transaction (a savepoint inside the test's own) the infusion locked, the baseline, the entry, its history.
    with django_assert_num_queries(9):
        response = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    assert response.status_code == 201
