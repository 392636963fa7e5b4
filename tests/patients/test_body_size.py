"""Recording body size (docs/clinical-rules.md §A9): a weight or height that is probably a kg/lb or cm/in slip is
refused until the user recording gives a reason, which is kept with the value."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from patients.models import Patient, WeightMeasurement
from tests.factories import PatientFactory

pytestmark = pytest.mark.db

ADULT = {
    "mrn": "BS-1",
    "given_name": "Ann",
    "family_name": "Able",
    "birth_date": "1970-05-01",
    "sex": "female",
    "height_cm": 165,
    "weight_kg": 70,
}


def six_years_ago() -> str:
    today = timezone.localdate()
    return date(today.year - 6, 1, 1).isoformat()


def adult_weighed_70_kg_yesterday() -> Patient:
    return PatientFactory(height_cm=Decimal("178"), weight_kg=Decimal("70"))


def weights_of(patient: Patient) -> list[Decimal]:
    return list(patient.weights.order_by("-measured_at", "-pk").values_list("weight_kg", flat=True))


# --- Through the API ----------------------------------------------------------------------------------------


def test_154_kg_the_day_after_70_kg_is_refused_until_confirmed(client_for, nurse) -> None:
    patient = adult_weighed_70_kg_yesterday()
    client = client_for(nurse)

    refused = client.patch(f"/api/v1/patients/{patient.pk}/", {"weight_kg": 154}, format="json")

    assert refused.status_code == 400
    body = refused.json()
    yesterday = timezone.localdate(timezone.now() - timedelta(days=1)).isoformat()
    message = f"154 kg is 120 % more than 70 kg on {yesterday}: was it typed in pounds (154 lb is 69.9 kg)?"
    assert body["weight_kg"] == [message]
    assert body["stops"] == [
        {"code": "weight_change", "kind": "override", "message": message, "role": "any", "field": "weight_kg"}
    ]
    assert weights_of(patient) == [Decimal("70.0")]

    confirmed = client.patch(
        f"/api/v1/patients/{patient.pk}/",
        {"weight_kg": 154, "overrides": {"weight_change": "Weighed twice on the ward scale; fluid overload."}},
        format="json",
    )

    assert confirmed.status_code == 200, confirmed.json()
    assert confirmed.json()["weight_kg"] == 154.0
    assert confirmed.json()["weight_confirmation"] == {
        "code": "weight_change",
        "reason": "Weighed twice on the ward scale; fluid overload.",
    }
    assert weights_of(patient) == [Decimal("154.0"), Decimal("70.0")]


def test_a_refused_weight_changes_nothing(client_for, nurse) -> None:
    patient = adult_weighed_70_kg_yesterday()
    history_rows = patient.history.count()
    weight_history_rows = WeightMeasurement.history.count()

    refused = client_for(nurse).patch(
        f"/api/v1/patients/{patient.pk}/", {"weight_kg": 154, "allergies": "penicillin"}, format="json"
    )

    assert refused.status_code == 400
    patient.refresh_from_db()
    assert patient.allergies == ""
    assert patient.history.count() == history_rows
    assert weights_of(patient) == [Decimal("70.0")]
    assert WeightMeasurement.history.count() == weight_history_rows


def test_a_blank_reason_is_refused_on_the_overrides_field(client_for, nurse) -> None:
    patient = adult_weighed_70_kg_yesterday()

    refused = client_for(nurse).patch(
        f"/api/v1/patients/{patient.pk}/", {"weight_kg": 154, "overrides": {"weight_change": "  "}}, format="json"
    )

    assert refused.status_code == 400
    assert "overrides" in refused.json()
    assert weights_of(patient) == [Decimal("70.0")]


def test_a_weight_within_10_percent_of_the_previous_needs_no_reason(client_for, nurse) -> None:
    patient = adult_weighed_70_kg_yesterday()

    response = client_for(nurse).patch(f"/api/v1/patients/{patient.pk}/", {"weight_kg": 77}, format="json")

    assert response.status_code == 200
    assert response.json()["weight_confirmation"] is None


def test_a_150_kg_six_year_old_needs_a_confirmation_reason(client_for, nurse) -> None:
    child = {**ADULT, "birth_date": six_years_ago(), "height_cm": 115, "weight_kg": 150}
    client = client_for(nurse)

    refused = client.post("/api/v1/patients/", child, format="json")

    assert refused.status_code == 400
    assert [stop["code"] for stop in refused.json()["stops"]] == ["implausible_body_size"]
    assert "outside 10–40 for a 6-year-old" in refused.json()["weight_kg"][0]
    assert Patient.objects.count() == 0
    assert WeightMeasurement.objects.count() == 0

    created = client.post(
        "/api/v1/patients/",
        {**child, "overrides": {"implausible_body_size": "Weighed on the bed scale with the parent."}},
        format="json",
    )

    assert created.status_code == 201, created.json()
    assert created.json()["weight_confirmation"] == {
        "code": "implausible_body_size",
        "reason": "Weighed on the bed scale with the parent.",
    }


def test_a_65_cm_adult_is_refused_until_confirmed(client_for, nurse) -> None:
    patient = adult_weighed_70_kg_yesterday()
    client = client_for(nurse)

    refused = client.patch(f"/api/v1/patients/{patient.pk}/", {"height_cm": 65}, format="json")

    assert refused.status_code == 400
    assert refused.json()["height_cm"] == [
        "70 kg and 65 cm give a BMI of 165.7, outside 13–60 for an adult: "
        "was the height typed in inches (65 in is 165.1 cm)?"
    ]
    assert refused.json()["stops"][0]["field"] == "height_cm"
    patient.refresh_from_db()
    assert patient.height_cm == Decimal("178.0")

    confirmed = client.patch(
        f"/api/v1/patients/{patient.pk}/",
        {"height_cm": 65, "overrides": {"implausible_body_size": "Measured again: achondroplasia."}},
        format="json",
    )

    assert confirmed.status_code == 200
    assert confirmed.json()["height_cm"] == 65.0
    assert confirmed.json()["height_confirmation"] == {
        "code": "implausible_body_size",
        "reason": "Measured again: achondroplasia.",
    }
    patient.refresh_from_db()
    assert patient.history.first().height_confirmation_reason == "Measured again: achondroplasia."


def test_a_later_ordinary_height_clears_the_confirmation(client_for, nurse) -> None:
    patient = adult_weighed_70_kg_yesterday()
    client = client_for(nurse)
    client.patch(
        f"/api/v1/patients/{patient.pk}/",
        {"height_cm": 65, "overrides": {"implausible_body_size": "Measured again."}},
        format="json",
    )

    response = client.patch(f"/api/v1/patients/{patient.pk}/", {"height_cm": 165}, format="json")

    assert response.json()["height_confirmation"] is None


def test_editing_other_fields_asks_nothing_about_a_confirmed_height(client_for, nurse) -> None:
    patient = adult_weighed_70_kg_yesterday()
    client = client_for(nurse)
    client.patch(
        f"/api/v1/patients/{patient.pk}/",
        {"height_cm": 65, "overrides": {"implausible_body_size": "Measured again."}},
        format="json",
    )

    response = client.patch(f"/api/v1/patients/{patient.pk}/", {"allergies": "latex"}, format="json")

    assert response.status_code == 200
    assert response.json()["height_confirmation"]["reason"] == "Measured again."


def test_the_confirmed_weight_keeps_its_reason_in_the_weight_history(client_for, nurse) -> None:
    patient = adult_weighed_70_kg_yesterday()
    client = client_for(nurse)

    refused = client.post(f"/api/v1/patients/{patient.pk}/weights/", {"weight_kg": 154}, format="json")
    assert refused.status_code == 400
    assert refused.json()["stops"][0]["code"] == "weight_change"
    assert weights_of(patient) == [Decimal("70.0")]

    created = client.post(
        f"/api/v1/patients/{patient.pk}/weights/",
        {"weight_kg": 154, "overrides": {"weight_change": "Checked on a second scale."}},
        format="json",
    )
    assert created.status_code == 201, created.json()

    listed = client.get(f"/api/v1/patients/{patient.pk}/weights/").json()
    assert [(w["weight_kg"], w["confirmation"]) for w in listed] == [
        (154.0, {"code": "weight_change", "reason": "Checked on a second scale."}),
        (70.0, None),
    ]


def test_a_previous_weight_more_than_90_days_old_asks_nothing(client_for, nurse) -> None:
    patient = PatientFactory(
        height_cm=Decimal("178"), weight_kg=Decimal("70"), weight_kg__measured_at=timezone.now() - timedelta(days=91)
    )

    response = client_for(nurse).post(f"/api/v1/patients/{patient.pk}/weights/", {"weight_kg": 90}, format="json")

    assert response.status_code == 201
    assert response.json()["confirmation"] is None


def test_a_pharmacist_cannot_record_a_weight(client_for, pharmacist) -> None:
    patient = adult_weighed_70_kg_yesterday()

    response = client_for(pharmacist).post(f"/api/v1/patients/{patient.pk}/weights/", {"weight_kg": 71})

    assert response.status_code == 403
    assert weights_of(patient) == [Decimal("70.0")]


def test_a_birth_date_giving_over_120_years_is_refused_on_its_field(client_for, nurse) -> None:
    today = timezone.localdate()
    too_old = date(today.year - 121, 1, 1).isoformat()

    response = client_for(nurse).post("/api/v1/patients/", {**ADULT, "birth_date": too_old}, format="json")

    assert response.status_code == 400
    assert response.json()["birth_date"] == ["This birth date gives an age over 120 years: check the year."]
    assert Patient.objects.count() == 0


# --- Through the page ---------------------------------------------------------------------------------------


def test_on_the_page_154_kg_shows_the_stop_beside_the_weight_keeping_what_was_typed(client, nurse) -> None:
    patient = adult_weighed_70_kg_yesterday()
    client.force_login(nurse)
    form = {
        "mrn": patient.mrn,
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "birth_date": patient.birth_date.isoformat(),
        "sex": patient.sex,
        "height_cm": "178",
        "weight_kg": "154",
        "allergies": "penicillin",
        "anti_iga_antibodies": "unknown",
    }

    refused = client.post(f"/patients/{patient.pk}/edit/", form)

    assert refused.status_code == 200
    page = refused.content.decode()
    assert 'data-stop="weight_change"' in page
    assert 'name="override__weight_change"' in page
    assert "was it typed in pounds" in page
    assert 'value="154"' in page
    assert "penicillin" in page
    assert weights_of(patient) == [Decimal("70.0")]

    saved = client.post(
        f"/patients/{patient.pk}/edit/", {**form, "override__weight_change": "Weighed twice."}, follow=True
    )

    assert saved.status_code == 200
    assert weights_of(patient) == [Decimal("154.0"), Decimal("70.0")]
    assert "Weighed twice." in saved.content.decode()


def test_on_the_page_a_65_cm_adult_is_refused_until_confirmed(client, nurse) -> None:
    client.force_login(nurse)
    form = {**ADULT, "height_cm": "65", "weight_kg": "70", "anti_iga_antibodies": "unknown"}

    refused = client.post("/patients/new/", form)

    assert refused.status_code == 200
    assert 'name="override__implausible_body_size"' in refused.content.decode()
    assert Patient.objects.count() == 0

    saved = client.post("/patients/new/", {**form, "override__implausible_body_size": "Achondroplasia."}, follow=True)

    assert saved.status_code == 200
    patient = Patient.objects.get()
    assert patient.height_confirmation_reason == "Achondroplasia."
    assert "Achondroplasia." in saved.content.decode()


def test_a_weight_tripping_both_stops_needs_both_reasons_and_keeps_both(client_for, nurse) -> None:
    patient = PatientFactory(height_cm=Decimal("150"), weight_kg=Decimal("70"))
    client = client_for(nurse)

    one_reason = client.post(
        f"/api/v1/patients/{patient.pk}/weights/",
        {"weight_kg": 154, "overrides": {"weight_change": "Checked twice."}},
        format="json",
    )

    assert one_reason.status_code == 400
    assert [stop["code"] for stop in one_reason.json()["stops"]] == ["implausible_body_size"]
    assert weights_of(patient) == [Decimal("70.0")]

    both = client.post(
        f"/api/v1/patients/{patient.pk}/weights/",
        {"weight_kg": 154, "overrides": {"weight_change": "Checked twice.", "implausible_body_size": "Obese."}},
        format="json",
    )

    assert both.status_code == 201
    assert both.json()["confirmation"] == {
        "code": "weight_change, implausible_body_size",
        "reason": "weight_change: Checked twice.\nimplausible_body_size: Obese.",
    }
