"""A patient's names and MRN hold no invisible or text-direction character: "SMITH" and "SMITH" with a zero-width
space, or an MRN that a right-to-left override prints backwards, would be two records that look the same. The
service refuses them, so the page, the API, the admin and HL7 all say the same thing, and nothing is saved."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from interop.hl7.services import receive
from interop.models import HL7Message
from patients import services
from patients.models import Patient
from tests.factories import PatientFactory
from tests.interop.hl7_samples import hl7_time, sample
from tests.patients.test_patients import VALID

pytestmark = pytest.mark.db

RIGHT_TO_LEFT_OVERRIDE = "\u202e"
ZERO_WIDTH_SPACE = "\u200b"


@pytest.mark.parametrize("field", ["mrn", "given_name", "family_name"])
def test_the_api_refuses_a_hidden_character_in_a_name_or_mrn_on_its_field_and_saves_nothing(
    client_for, nurse, field
) -> None:
    response = client_for(nurse).post("/api/v1/patients/", {**VALID, field: f"AB{RIGHT_TO_LEFT_OVERRIDE}12"})
    assert response.status_code == 400
    assert response.json()[field] == [
        "This contains an invisible or text-direction character (U+202E RIGHT-TO-LEFT OVERRIDE) at character 3: "
        "retype it without it."
    ]
    assert Patient.objects.count() == 0


def test_renaming_a_patient_with_a_zero_width_space_is_refused_and_the_name_kept(nurse) -> None:
    patient = PatientFactory(family_name="Smith")
    with pytest.raises(ValidationError) as refused:
        services.update_patient(patient_id=patient.pk, data={"family_name": f"Smith{ZERO_WIDTH_SPACE}"}, user=nurse)
    assert "U+200B ZERO WIDTH SPACE" in refused.value.message_dict["family_name"][0]
    patient.refresh_from_db()
    assert patient.family_name == "Smith"
    assert patient.history.count() == 1


def test_the_patient_page_shows_the_error_beside_the_mrn_and_keeps_what_was_typed(client, nurse) -> None:
    client.force_login(nurse)
    typed = f"P-1{ZERO_WIDTH_SPACE}"
    response = client.post("/patients/new/", {**VALID, "mrn": typed, "iga_measured_on": ""})
    page = response.content.decode()
    assert response.status_code == 200
    assert "U+200B ZERO WIDTH SPACE" in page
    assert f'value="{typed}"' in page
    assert Patient.objects.count() == 0


def test_names_in_other_scripts_and_with_accents_apostrophes_and_hyphens_are_accepted(client_for, nurse) -> None:
    names = [("Zoë", "O'Brien-Núñez"), ("Мария", "Иванова"), ("فاطمة", "الزهراء"), ("美咲", "佐藤")]
    client = client_for(nurse)
    for number, (given, family) in enumerate(names):
        response = client.post(
            "/api/v1/patients/", {**VALID, "mrn": f"I-{number}", "given_name": given, "family_name": family}
        )
        assert response.status_code == 201, response.json()
    assert Patient.objects.count() == len(names)


def test_an_hl7_result_whose_mrn_holds_a_hidden_character_is_refused_with_why_and_waits_in_the_queue(db, settings):
    settings.TIME_ZONE = "UTC"
    PatientFactory(mrn="MRN100")
    raw = sample(
        "beaker_777_3_si_units.hl7",
        control_id="HID-1",
        mrn=f"MRN{RIGHT_TO_LEFT_OVERRIDE}100",
        filler="S1",
        collected=hl7_time(timezone.now()),
        status="F",
        value=85,
    )
    ack = receive(raw, transport="mllp")
    assert ack.code == "AE"
    stored = HL7Message.objects.get()
    assert stored.outcome == "error"
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in stored.ack_text
    assert "MRN" in stored.ack_text


def test_the_admin_refuses_a_bidi_override_in_a_family_name_on_its_field_and_keeps_the_old_name(client, db) -> None:
    from decimal import Decimal

    from django.contrib.auth import get_user_model

    admin_user = get_user_model().objects.create_superuser("root", "root@example.org", "pw-for-tests-only")
    patient = PatientFactory(family_name="Smith", height_cm=Decimal("178"), weight_kg=Decimal("70"))
    client.force_login(admin_user)
    page = client.get(f"/admin/patients/patient/{patient.pk}/change/")
    form = {
        key: value
        for key, value in page.context["adminform"].form.initial.items()
        if value is not None and not isinstance(value, list)
    }
    form.update(
        {
            "birth_date": patient.birth_date.isoformat(),
            "iga_measured_on": patient.iga_measured_on.isoformat(),
            "family_name": f"{RIGHT_TO_LEFT_OVERRIDE}htimS",
            "weights-TOTAL_FORMS": "1",
            "weights-INITIAL_FORMS": "1",
            "weights-0-id": str(patient.weights.get().pk),
            "weights-0-patient": str(patient.pk),
        }
    )

    response = client.post(f"/admin/patients/patient/{patient.pk}/change/", form)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["family_name"] == [
        "This contains an invisible or text-direction character (U+202E RIGHT-TO-LEFT OVERRIDE) at character 1: "
        "retype it without it."
    ]
    patient.refresh_from_db()
    assert patient.family_name == "Smith"
