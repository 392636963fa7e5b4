"""Nothing in a patient's record is dated before their birth: the service refuses it with the field at fault,
whichever way it comes (page, API, admin), and stores nothing."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from patients import services
from patients.models import LabResult, Patient, ReportedIvigReaction
from tests.factories import PatientFactory

pytestmark = pytest.mark.db

BEFORE_BIRTH = "This date is before the patient's birth (1980-01-01): check the year."


def test_a_sample_collected_before_the_patient_was_born_is_refused(nurse):
    patient = PatientFactory(birth_date=date(1980, 1, 1), labs=False)
    with pytest.raises(ValidationError) as refused:
        services.record_lab_result(
            patient_id=patient.pk,
            user=nurse,
            test="creatinine",
            value="85",
            unit="µmol/L",
            collected_at=timezone.make_aware(datetime.combine(date(1979, 6, 1), time(9))),
        )
    assert refused.value.message_dict == {"collected_at": [BEFORE_BIRTH]}
    assert not LabResult.objects.filter(patient=patient).exists()


def test_an_iga_measured_before_the_birth_is_refused_on_its_field_and_the_patient_is_unchanged(nurse):
    patient = PatientFactory(birth_date=date(1980, 1, 1))
    history = patient.history.count()
    with pytest.raises(ValidationError) as refused:
        services.update_patient(patient_id=patient.pk, data={"iga_measured_on": date(1970, 5, 1)}, user=nurse)
    assert refused.value.message_dict == {"iga_measured_on": [BEFORE_BIRTH]}
    assert Patient.objects.get(pk=patient.pk).iga_measured_on == patient.iga_measured_on
    assert patient.history.count() == history


def test_a_reaction_reported_before_the_birth_is_refused(nurse):
    patient = PatientFactory(birth_date=date(1980, 1, 1))
    with pytest.raises(ValidationError) as refused:
        services.record_reported_ivig_reaction(
            patient_id=patient.pk,
            user=nurse,
            occurred_on=date(1975, 1, 1),
            product="Privigen",
            ctcae_grade=3,
            anaphylaxis=False,
            where="St Elsewhere",
        )
    assert refused.value.message_dict == {"occurred_on": [BEFORE_BIRTH]}
    assert not ReportedIvigReaction.objects.exists()


def test_the_patient_form_refuses_other_scripts_digits_and_year_0001_beside_the_field_keeping_them(client, nurse):
    client.force_login(nurse)
    page = client.post(
        "/patients/new/",
        {
            "mrn": "MRN-A1",
            "given_name": "Ada",
            "family_name": "Byrne",
            "birth_date": "1990-02-03",
            "sex": "female",
            "height_cm": "١٦٥",
            "pregnant": "on",
            "expected_delivery_date": "9999-12-31",
            "anti_iga_antibodies": "unknown",
        },
    ).content.decode()
    assert "Type the number with the digits 0-9" in page
    assert "Check the year: a date from 1900 to 2100 is expected." in page
    assert 'value="١٦٥"' in page and 'value="9999-12-31"' in page
    assert not Patient.objects.filter(mrn="MRN-A1").exists()


def test_a_nul_character_in_a_page_form_is_refused_before_anything_is_read(client, nurse):
    client.force_login(nurse)
    response = client.post("/patients/new/", {"mrn": "MRN-\x00", "given_name": "Ada"})
    assert response.status_code == 400
    assert "NUL character" in response.content.decode()
    assert not Patient.objects.filter(given_name="Ada").exists()
