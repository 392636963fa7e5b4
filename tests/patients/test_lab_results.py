"""Laboratory values beside the platelet count (docs/clinical-rules.md §A13) through the API: converted by the unit
sent, refused in words, corrected and withdrawn with the earlier value kept, and eGFR from the patient's record."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from patients.models import LabResult
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def iso(moment):
    return moment.isoformat()


@pytest.fixture
def patient(db):
    # A man of 50 (on today's date) at 178 cm.
    today = timezone.localdate()
    return PatientFactory(birth_date=date(today.year - 50, 1, 1), sex="male", labs=False)


def post_lab(api, patient, **body):
    return api.post(f"/api/v1/patients/{patient.pk}/labs/", {"collected_at": iso(timezone.now()), **body})


def test_a_creatinine_in_mg_dl_is_stored_in_umol_l_with_its_egfr(client_for, nurse, patient):
    stored = post_lab(client_for(nurse), patient, test="creatinine", value="1.0", unit="mg/dL")

    assert stored.status_code == 201, stored.json()
    body = stored.json()
    assert (body["value"], body["unit"], body["value_si"]) == ("1.0", "mg/dL", 88.4)
    # 142 x (1.0/0.9)^-1.200 x 0.9938^50 = 91.7 -> 92 (CKD-EPI 2021)
    assert (body["egfr"], body["egfr_equation"], body["egfr_not_reliable"]) == (92, "ckd_epi_2021", "")


def test_a_hemoglobin_in_g_dl_and_a_blood_group_as_written(client_for, nurse, patient):
    api = client_for(nurse)
    hb = post_lab(api, patient, test="hemoglobin", value="12,4", unit="g/dL").json()
    assert (hb["value_si"], hb["egfr"]) == (124.0, None)
    group = post_lab(api, patient, test="blood_group", value="A neg").json()
    assert group["blood_group"] == "A-"
    assert api.get(f"/api/v1/patients/{patient.pk}/").json()["blood_group"] == "A-"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"test": "creatinine", "value": "88", "unit": "mg/L"}, "unit", "is not one this system converts"),
        ({"test": "creatinine", "value": "88", "unit": "mg/dL"}, "value", "is not plausible"),
        ({"test": "hemoglobin", "value": "abc", "unit": "g/L"}, "value", "must be a number"),
        ({"test": "blood_group", "value": "O"}, "value", "is not an ABO and Rh group"),
        ({"test": "ferritin", "value": "30", "unit": "ug/L"}, "test", "is not a valid choice"),
    ],
)
def test_a_value_refused_says_why_beside_its_field_and_stores_nothing(client_for, nurse, patient, body, field, words):
    refused = post_lab(client_for(nurse), patient, **body)
    assert refused.status_code == 400
    assert words in " ".join(refused.json()[field])
    assert not LabResult.objects.exists()


def test_a_sample_in_the_future_is_refused(client_for, nurse, patient):
    refused = post_lab(
        client_for(nurse),
        patient,
        test="hemoglobin",
        value="120",
        unit="g/L",
        collected_at=iso(timezone.now() + timedelta(hours=1)),
    )
    assert refused.json() == {"collected_at": ["A sample cannot be collected in the future."]}


def test_a_typed_value_is_corrected_with_its_reason_and_the_earlier_one_stays(client_for, nurse, patient):
    api = client_for(nurse)
    wrong = post_lab(api, patient, test="creatinine", value="880", unit="umol/L").json()

    fixed = api.post(
        f"/api/v1/labs/{wrong['id']}/correct/", {"value": "88", "unit": "umol/L", "reason": "typed 880 for 88"}
    )

    assert fixed.status_code == 201, fixed.json()
    assert (fixed.json()["status"], fixed.json()["value_si"], fixed.json()["change_reason"]) == (
        "corrected",
        88.0,
        "typed 880 for 88",
    )
    rows = api.get(f"/api/v1/patients/{patient.pk}/labs/").json()
    assert [(row["value_si"], row["status"]) for row in rows] == [(880.0, "superseded"), (88.0, "corrected")]
    assert api.post(f"/api/v1/labs/{wrong['id']}/correct/", {"value": "90", "reason": "again"}).status_code == 409


def test_a_value_entered_in_error_is_withdrawn_not_deleted(client_for, nurse, hematologist, patient):
    api = client_for(hematologist)
    group = post_lab(client_for(nurse), patient, test="blood_group", value="O+").json()
    assert api.post(f"/api/v1/labs/{group['id']}/entered-in-error/", {"reason": ""}).status_code == 400
    withdrawn = api.post(f"/api/v1/labs/{group['id']}/entered-in-error/", {"reason": "another patient's sample"})
    assert withdrawn.json()["status"] == "entered_in_error"
    assert api.get(f"/api/v1/patients/{patient.pk}/").json()["blood_group"] is None


def test_a_pharmacist_reads_labs_but_does_not_enter_them(client_for, pharmacist, patient):
    api = client_for(pharmacist)
    assert post_lab(api, patient, test="hemoglobin", value="120", unit="g/L").status_code == 403
    assert api.get(f"/api/v1/patients/{patient.pk}/labs/").status_code == 200


def test_egfr_is_marked_not_reliable_after_a_rise_of_26_5_umol_l_in_48_hours(client_for, nurse, patient):
    api = client_for(nurse)
    now = timezone.now()
    post_lab(api, patient, test="creatinine", value="80", unit="umol/L", collected_at=iso(now - timedelta(hours=30)))
    risen = post_lab(api, patient, test="creatinine", value="110", unit="umol/L", collected_at=iso(now)).json()
    assert "changed by 26.5" in risen["egfr_not_reliable"]


def test_the_patient_page_shows_the_latest_values_and_a_refused_entry_keeps_what_was_typed(client, nurse, patient):
    client.force_login(nurse)
    url = f"/patients/{patient.pk}/labs/"
    when = timezone.localtime(timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")

    refused = client.post(url, {"test": "creatinine", "value": "88", "unit_creatinine": "mg/dL", "collected_at": when})
    assert refused.status_code == 400
    html = refused.content.decode()
    assert 'name="value" value="88"' in html and "is not plausible" in html
    assert "<option selected>mg/dL</option>" in html

    done = client.post(url, {"test": "creatinine", "value": "1,0", "unit_creatinine": "mg/dL", "collected_at": when})
    assert done.status_code == 302
    latest = client.get(f"/patients/{patient.pk}/").content.decode()
    latest = latest[latest.index('data-testid="latest-labs"') :]
    assert "88.4 µmol/L" in latest[:600] and "eGFR 92" in latest[:600]


def test_lab_values_are_fhir_observations_with_their_loinc_code_and_status(client_for, nurse, patient):
    api = client_for(nurse)
    wrong = post_lab(api, patient, test="creatinine", value="880", unit="umol/L").json()
    fixed = api.post(f"/api/v1/labs/{wrong['id']}/correct/", {"value": "88", "unit": "umol/L", "reason": "typo"}).json()
    group = post_lab(api, patient, test="blood_group", value="B neg").json()

    old = api.get(f"/fhir/R4/Observation/cr-{wrong['id']}").json()
    new = api.get(f"/fhir/R4/Observation/cr-{fixed['id']}").json()
    abo = api.get(f"/fhir/R4/Observation/abo-{group['id']}").json()

    assert (old["status"], new["status"]) == ("entered-in-error", "corrected")
    assert new["code"]["coding"][0]["code"] == "14682-9"
    assert (new["valueQuantity"]["value"], new["valueQuantity"]["code"]) == (88, "umol/L")
    assert (abo["code"]["coding"][0]["code"], abo["valueCodeableConcept"]["text"]) == ("882-1", "B-")
