from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from patients.models import Patient, WeightMeasurement
from tests.factories import PatientFactory

pytestmark = pytest.mark.db

VALID = {
    "mrn": "P-1",
    "given_name": "Ann",
    "family_name": "Able",
    "birth_date": "1970-05-01",
    "sex": "female",
    "height_cm": 165,
    "weight_kg": 70.5,
    "serum_iga_mg_dl": 120,
    "iga_measured_on": "2026-11-01",
    "cardiac_dysfunction": True,
}


def test_creating_a_patient_records_the_first_weighing_and_its_history(client_for, nurse) -> None:
    response = client_for(nurse).post("/api/v1/patients/", VALID)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["weight_kg"] == 70.5
    assert body["iga_deficient"] is False
    patient = Patient.objects.get(mrn="P-1")
    assert patient.weights.count() == 1
    assert patient.history.get().history_user == nurse


def test_a_new_weight_never_overwrites_the_old_one(client_for, nurse) -> None:
    client = client_for(nurse)
    patient_id = client.post("/api/v1/patients/", VALID).json()["id"]
    response = client.patch(f"/api/v1/patients/{patient_id}/", {"weight_kg": 68})
    assert response.status_code == 200
    assert response.json()["weight_kg"] == 68.0
    assert list(WeightMeasurement.objects.filter(patient_id=patient_id).values_list("weight_kg", flat=True)) == [
        Decimal("68.0"),
        Decimal("70.5"),
    ]


def test_patching_other_fields_with_the_same_weight_adds_no_weighing(client_for, nurse) -> None:
    client = client_for(nurse)
    patient_id = client.post("/api/v1/patients/", VALID).json()["id"]
    client.patch(f"/api/v1/patients/{patient_id}/", {"weight_kg": 70.5, "renal_impairment": True})
    assert WeightMeasurement.objects.filter(patient_id=patient_id).count() == 1


def test_iga_below_7_mg_per_dl_reads_as_deficient_and_unknown_as_null(client_for, nurse) -> None:
    client = client_for(nurse)
    low = client.post("/api/v1/patients/", {**VALID, "mrn": "L", "serum_iga_mg_dl": 6.9}).json()
    unknown = client.post(
        "/api/v1/patients/", {**VALID, "mrn": "U", "serum_iga_mg_dl": None, "iga_measured_on": None}
    ).json()
    assert (low["iga_deficient"], unknown["iga_deficient"]) == (True, None)


@pytest.mark.parametrize(
    "field, value",
    [
        ("weight_kg", 0.4),
        ("weight_kg", 351),
        ("height_cm", 39),
        ("height_cm", 251),
        ("birth_date", "2999-01-01"),
        ("sex", "other"),
        ("mrn", ""),
        ("serum_iga_mg_dl", -1),
    ],
)
def test_bad_patient_input_is_a_400_on_its_field_and_saves_nothing(client_for, nurse, field, value) -> None:
    response = client_for(nurse).post("/api/v1/patients/", {**VALID, field: value})
    assert response.status_code == 400
    assert field in response.json()
    assert Patient.objects.count() == 0
    assert WeightMeasurement.objects.count() == 0


def test_a_duplicate_mrn_is_refused(client_for, nurse) -> None:
    client = client_for(nurse)
    client.post("/api/v1/patients/", VALID)
    response = client.post("/api/v1/patients/", VALID)
    assert response.status_code == 400
    assert "mrn" in response.json()
    assert Patient.objects.count() == 1


def test_a_weight_measured_in_the_future_is_refused(client_for, nurse) -> None:
    future = (timezone.now() + timedelta(hours=2)).isoformat()
    response = client_for(nurse).post("/api/v1/patients/", {**VALID, "weight_measured_at": future})
    assert response.status_code == 400
    assert "weight_measured_at" in response.json()
    assert Patient.objects.count() == 0


def test_search_finds_patients_by_mrn_and_name(client_for, nurse) -> None:
    PatientFactory(mrn="X-77", family_name="Zebedee")
    PatientFactory(mrn="Y-88", family_name="Other")
    client = client_for(nurse)
    assert [p["mrn"] for p in client.get("/api/v1/patients/?search=zebe").json()["results"]] == ["X-77"]
    assert [p["mrn"] for p in client.get("/api/v1/patients/?search=Y-88").json()["results"]] == ["Y-88"]


def test_patients_cannot_be_deleted_through_the_api(client_for, nurse) -> None:
    patient = PatientFactory()
    assert client_for(nurse).delete(f"/api/v1/patients/{patient.pk}/").status_code == 405
    assert Patient.objects.filter(pk=patient.pk).exists()


def test_patient_pages_create_list_and_show_with_field_errors(client, nurse) -> None:
    client.force_login(nurse)
    bad = client.post("/patients/new/", {**VALID, "height_cm": 10, "weight_kg": 70})
    assert bad.status_code == 200
    assert "implausible" in bad.content.decode()
    assert Patient.objects.count() == 0
    good = client.post("/patients/new/", {**VALID, "weight_kg": "70.5", "iga_measured_on": ""}, follow=True)
    assert good.status_code == 200
    assert "70.5 kg" in good.content.decode()
    assert "ABLE" in client.get("/patients/?q=able").content.decode()


def test_a_very_high_serum_iga_such_as_a_myelomas_is_accepted_but_an_impossible_one_is_not(client_for, nurse):
    client = client_for(nurse)
    assert client.post("/api/v1/patients/", {**VALID, "mrn": "M1", "serum_iga_mg_dl": 3500}).status_code == 201
    refused = client.post("/api/v1/patients/", {**VALID, "mrn": "M2", "serum_iga_mg_dl": 10001})
    assert refused.status_code == 400
    assert "serum_iga_mg_dl" in refused.json()
    assert list(Patient.objects.values_list("mrn", flat=True)) == ["M1"]
