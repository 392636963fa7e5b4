"""§A10 prehydration_not_given at every start (docs/clinical-rules.md §A13 "Fluid"): a renal or thrombosis risk
factor without cardiac dysfunction asks for a pre-hydration co-therapy before the infusion, or the nurse's reason;
through the service, the API, its dry run and the bedside page, with nothing changed on the refused path."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import SafetyStopped
from infusions import services
from infusions.models import SafetyRecord
from patients.models import CoTherapy
from tests.factories import FULL_CHECKLIST, NORMAL_VITALS, day_vials, prehydrate, verified_order

pytestmark = pytest.mark.django_db

REASON = "Drinking well all morning; the ward has no IV access yet"


def ready(nurse, **patient_kwargs):
    """Day 1 of a verified order, with a baseline set taken a few minutes ago."""
    infusion = verified_order(**patient_kwargs).infusions.get(day_number=1)
    services.record_vitals(
        infusion_id=infusion.pk, user=nurse, values=NORMAL_VITALS, taken_at=timezone.now() - timedelta(minutes=5)
    )
    return infusion


def start(infusion, nurse, **extra):
    return services.start_infusion(
        infusion_id=infusion.pk, user=nurse, checklist=FULL_CHECKLIST, vials=day_vials(infusion), **extra
    )


def stop_codes(exc):
    return [stop.code for stop in exc.stops]


# --- The service -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("factor", ["diabetes", "renal_impairment", "sepsis", "immobilization", "estrogens"])
def test_a_start_for_a_patient_at_renal_or_thrombosis_risk_without_prehydration_is_refused(nurse, factor):
    infusion = ready(nurse, **{factor: True})
    with pytest.raises(SafetyStopped) as refused:
        start(infusion, nurse)
    assert "prehydration_not_given" in stop_codes(refused.value)
    (stop,) = [stop for stop in refused.value.stops if stop.code == "prehydration_not_given"]
    assert stop.message.startswith("Pre-hydration is due before this infusion (renal or thrombosis risk factor")
    infusion.refresh_from_db()
    assert infusion.status == "scheduled"
    assert not SafetyRecord.objects.filter(code="prehydration_not_given").exists()


def test_a_patient_over_65_needs_prehydration(nurse):
    infusion = ready(nurse, birth_date=timezone.localdate().replace(year=timezone.localdate().year - 70))
    with pytest.raises(SafetyStopped) as refused:
        start(infusion, nurse)
    assert "age over 65" in next(s.message for s in refused.value.stops if s.code == "prehydration_not_given")


def test_a_start_with_prehydration_given_in_the_12_hours_before_goes_ahead(nurse):
    infusion = ready(nurse, diabetes=True)
    prehydrate(infusion.order.patient, at=timezone.now() - timedelta(hours=11))
    assert start(infusion, nurse).status == "in_progress"
    assert not SafetyRecord.objects.filter(code="prehydration_not_given").exists()


def test_a_prehydration_infusion_still_running_at_the_start_counts(nurse):
    infusion = ready(nurse, diabetes=True)
    prehydrate(infusion.order.patient, at=timezone.now() - timedelta(hours=20), until=timezone.now())
    assert start(infusion, nurse).status == "in_progress"


def test_a_prehydration_given_more_than_12_hours_before_does_not_count(nurse):
    infusion = ready(nurse, diabetes=True)
    prehydrate(infusion.order.patient, at=timezone.now() - timedelta(hours=13))
    with pytest.raises(SafetyStopped) as refused:
        start(infusion, nurse)
    assert "prehydration_not_given" in stop_codes(refused.value)


def test_a_prehydration_entered_in_error_does_not_count(nurse):
    infusion = ready(nurse, diabetes=True)
    therapy = prehydrate(infusion.order.patient, at=timezone.now() - timedelta(hours=1))
    therapy.entered_in_error_at = timezone.now()
    therapy.entered_in_error_reason = "wrong patient"
    therapy.save()
    with pytest.raises(SafetyStopped) as refused:
        start(infusion, nurse)
    assert "prehydration_not_given" in stop_codes(refused.value)


def test_another_co_therapy_is_not_a_prehydration(nurse):
    infusion = ready(nurse, diabetes=True)
    CoTherapy.objects.create(
        patient=infusion.order.patient,
        kind="diuretic",
        drug="furosemide",
        given_from=timezone.now() - timedelta(hours=1),
        recorded_by=nurse,
    )
    with pytest.raises(SafetyStopped) as refused:
        start(infusion, nurse)
    assert "prehydration_not_given" in stop_codes(refused.value)


def test_the_nurse_may_start_with_the_reason_which_is_recorded_for_this_start(nurse):
    infusion = ready(nurse, immobilization=True)
    start(infusion, nurse, overrides={"prehydration_not_given": REASON})
    record = SafetyRecord.objects.get(code="prehydration_not_given")
    assert (record.kind, record.reason, record.role, record.infusion_id) == ("override", REASON, "nurse", infusion.pk)


def test_a_hematologists_reason_is_not_a_nurses(nurse, hematologist):
    infusion = ready(nurse, diabetes=True)
    with pytest.raises(SafetyStopped) as refused:
        start(infusion, hematologist, overrides={"prehydration_not_given": REASON})
    assert refused.value.forbidden
    infusion.refresh_from_db()
    assert infusion.status == "scheduled"


def test_with_cardiac_dysfunction_and_a_renal_risk_factor_no_prehydration_is_asked(nurse):
    infusion = ready(nurse, cardiac_dysfunction=True, diabetes=True)
    assert start(infusion, nurse).status == "in_progress"


def test_a_patient_without_a_risk_factor_starts_without_prehydration(nurse):
    assert start(ready(nurse), nurse).status == "in_progress"


def test_every_start_of_a_course_asks_again(nurse):
    order = verified_order(regimen="two_days_1g_per_kg", diabetes=True)
    day1, day2 = order.infusions.order_by("day_number")
    t0 = timezone.now() - timedelta(hours=26)
    services.record_vitals(infusion_id=day1.pk, user=nurse, values=NORMAL_VITALS, taken_at=t0)
    prehydrate(order.patient, at=t0 - timedelta(hours=1))
    services.start_infusion(
        infusion_id=day1.pk, user=nurse, checklist=FULL_CHECKLIST, vials=day_vials(day1), started_at=t0
    )
    services.complete_infusion(infusion_id=day1.pk, user=nurse, completed_at=t0 + timedelta(hours=3))
    services.record_vitals(
        infusion_id=day2.pk, user=nurse, values=NORMAL_VITALS, taken_at=timezone.now() - timedelta(minutes=5)
    )
    with pytest.raises(SafetyStopped) as refused:
        start(day2, nurse, overrides={"before_scheduled_day": "brought forward"})
    assert "prehydration_not_given" in stop_codes(refused.value)


# --- The API and its dry run -------------------------------------------------------------------------------------


@pytest.fixture
def nurse_api(client_for, nurse):
    return client_for(nurse)


def api_start(api, infusion, **extra):
    return api.post(
        f"/api/v1/infusions/{infusion.pk}/start/",
        {"checklist": FULL_CHECKLIST, "vials": day_vials(infusion), **extra},
        format="json",
    )


def test_the_api_refuses_the_start_with_409_naming_the_stop_and_starts_with_the_override(nurse, nurse_api):
    infusion = ready(nurse, diabetes=True)
    refused = api_start(nurse_api, infusion)
    assert refused.status_code == 409
    assert [stop["code"] for stop in refused.json()["stops"]] == ["prehydration_not_given"]
    assert refused.json()["stops"][0]["role"] == "nurse"
    infusion.refresh_from_db()
    assert infusion.status == "scheduled"

    accepted = api_start(nurse_api, infusion, overrides={"prehydration_not_given": REASON})
    assert accepted.status_code == 200, accepted.json()
    assert accepted.json()["status"] == "in_progress"
    overrides = [row for row in accepted.json()["safety"] if row["kind"] == "override"]
    assert [(row["code"], row["override"]["reason"], row["override"]["role"]) for row in overrides] == [
        ("prehydration_not_given", REASON, "nurse")
    ]


def test_the_start_dry_run_shows_the_stop_before_the_tap(nurse, nurse_api):
    infusion = ready(nurse, diabetes=True)
    dry = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/safety/", {"action": "start"}, format="json")
    assert dry.status_code == 200
    assert [stop["code"] for stop in dry.json()["stops"]] == ["prehydration_not_given"]
    prehydrate(infusion.order.patient, at=timezone.now() - timedelta(hours=2))
    dry = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/safety/", {"action": "start"}, format="json")
    assert dry.json()["stops"] == []


# --- The bedside page ------------------------------------------------------------------------------------------


def test_the_start_form_shows_the_stop_with_the_nurses_reason_field(client, nurse):
    infusion = ready(nurse, diabetes=True)
    client.force_login(nurse)
    page = client.get(f"/orders/infusions/{infusion.pk}/").content.decode()
    assert 'data-stop="prehydration_not_given"' in page
    assert 'name="override__prehydration_not_given"' in page
    assert "Start, with the reasons given" in page


def test_the_start_form_starts_with_the_reason_given(client, nurse):
    infusion = ready(nurse, diabetes=True)
    client.force_login(nurse)
    form = {code: "on" for code in FULL_CHECKLIST}
    vials = day_vials(infusion)
    form.update(
        vial_product=[str(v["product"]) for v in vials],
        vial_size_g=[v["vial_size_g"] for v in vials],
        vial_lot=[v["lot_number"] for v in vials],
        vial_expiry=[v["expiry_date"] for v in vials],
    )
    refused = client.post(f"/orders/infusions/{infusion.pk}/start/", form, HTTP_HX_REQUEST="true")
    assert 'data-stop="prehydration_not_given"' in refused.content.decode()
    infusion.refresh_from_db()
    assert infusion.status == "scheduled"
    client.post(
        f"/orders/infusions/{infusion.pk}/start/",
        {**form, "override__prehydration_not_given": REASON},
        HTTP_HX_REQUEST="true",
    )
    infusion.refresh_from_db()
    assert infusion.status == "in_progress"


def test_a_risk_factor_recorded_after_the_draft_is_on_the_verified_orders_advice(db, hematologist, pharmacist):
    from infusions.models import Product
    from tests.factories import PatientFactory

    patient = PatientFactory()
    draft = services.create_order(
        data={
            "patient": patient,
            "regimen": "one_dose_1g_per_kg",
            "product": Product.objects.get(name="Gamunex-C"),
            "baseline_platelet_count": 12,
            "baseline_collected_at": timezone.now() - timedelta(hours=1),
            "first_infusion_on": timezone.localdate(),
        },
        user=hematologist,
    )
    assert "prehydration" not in {w["code"] for w in draft.warnings}
    patient.estrogens = True
    patient.save()

    verified = services.verify_order(order_id=draft.pk, user=pharmacist)

    codes = {w["code"] for w in verified.warnings}
    assert {"prehydration", "at_risk_rate_cap"} <= codes
    assert "estrogens" in next(w["message"] for w in verified.warnings if w["code"] == "at_risk_rate_cap")
    assert verified.history.first().history_change_reason == "verified; advice brought up to date with the record"
