"""Creatinine, hemoglobin and ABO/Rh group by HL7 ORU (docs/clinical-rules.md §A13), through the same interface
service as platelet counts: converted by the unit sent, never by the code; an unknown unit is AE and the message
waits in the queue; a resend records nothing more; a correction keeps the earlier value."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from interop.hl7.services import receive_message
from interop.models import HL7Message
from patients.models import LabResult
from tests.factories import PatientFactory
from tests.interop.hl7_samples import hl7_time, sample

pytestmark = pytest.mark.django_db

COLLECTED = timezone.now().replace(microsecond=0) - timedelta(hours=3)


def panel(control_id, **values):
    base = {
        "control_id": control_id,
        "mrn": "MRN-LAB",
        "filler": "F1",
        "collected": hl7_time(COLLECTED, offset_hours=0),  # with its offset: the same instant in any zone
        "status": "F",
        "creatinine": "1.2",
        "creatinine_unit": "mg/dL",
        "hemoglobin": "8.2",
        "hemoglobin_unit": "mmol/L",
        "group": "A^A Rh(D) positive^L",
    }
    return sample("renal_panel.hl7", **(base | values))


def msa_text(ack):
    """The ACK's text: MSA-3, or whole in the informational ERR-8 where MSA-3's 80 characters cut it."""
    segments = ack.text.split("\r")
    informational = [s.split("|") for s in segments if s.startswith("ERR|") and s.split("|")[4] == "I"]
    return informational[0][8] if informational else segments[1].split("|")[3]


@pytest.fixture
def patient(db):
    return PatientFactory(mrn="MRN-LAB", labs=False)


def values():
    return {lab.test: (lab.value_si, lab.blood_group) for lab in LabResult.objects.filter(status="final")}


def test_a_renal_panel_lands_in_the_patients_labs_converted_by_the_unit_sent(patient):
    ack = receive_message(panel("LAB-1", group="A POS"), transport="mllp")

    assert ack.code == "AA", ack.text
    assert values() == {
        "creatinine": (Decimal("106.1"), ""),  # 1.2 mg/dL x 88.4
        "hemoglobin": (Decimal("132.1"), ""),  # 8.2 mmol/L x 16.11
        "blood_group": (None, "A+"),
    }
    assert {lab.source for lab in LabResult.objects.all()} == {"hl7"}
    assert HL7Message.objects.get(control_id="LAB-1").outcome == "accepted_lab"
    # The ACK is plain ASCII: older interface engines read it.
    assert "creatinine 106.1 umol/L recorded" in msa_text(ack) and "blood group A+ recorded" in msa_text(ack)


@pytest.mark.parametrize(("value", "unit", "si"), [("106", "umol/L", "106.0"), ("0.106", "mmol/L", "106.0")])
def test_creatinine_in_micromoles_or_millimoles_is_the_same_value(patient, value, unit, si):
    assert receive_message(panel("LAB-2", creatinine=value, creatinine_unit=unit, group="O POS"), "mllp").code == "AA"
    assert LabResult.objects.get(test="creatinine").value_si == Decimal(si)


def test_an_unknown_unit_is_an_application_error_and_nothing_of_the_message_is_recorded(patient):
    ack = receive_message(panel("LAB-3", hemoglobin="12.5", hemoglobin_unit="g/mL", group="O POS"), "mllp")
    assert ack.code == "AE"
    assert "hemoglobin" in msa_text(ack) and "g/mL" in msa_text(ack)
    assert not LabResult.objects.exists()
    assert HL7Message.objects.get(control_id="LAB-3").outcome == "error"


def test_the_same_panel_resent_records_nothing_more_and_a_correction_keeps_the_earlier_value(patient):
    assert receive_message(panel("LAB-4", group="O POS"), "mllp").code == "AA"
    assert receive_message(panel("LAB-4-again", group="O POS"), "mllp").code == "AA"
    assert LabResult.objects.count() == 3

    corrected = receive_message(panel("LAB-4-C", creatinine="1.5", status="C", group="O POS"), "mllp")

    assert corrected.code == "AA", corrected.text
    creatinines = list(LabResult.objects.filter(test="creatinine").order_by("pk"))
    assert [(c.value_si, c.status) for c in creatinines] == [
        (Decimal("106.1"), "superseded"),
        (Decimal("132.6"), "corrected"),
    ]
    assert creatinines[0].superseded_by == creatinines[1]


@pytest.mark.parametrize("coded", ["A^A Rh(D) positive^L", "278149003^Blood group A Rh(D) positive^SCT"])
def test_a_coded_blood_group_is_read_by_its_code_or_its_text(patient, coded):
    ack = receive_message(panel("LAB-5", group=coded), "mllp")
    assert ack.code == "AA", ack.text
    assert LabResult.objects.get(test="blood_group").blood_group == "A+"


def test_a_resend_of_a_value_staff_withdrew_records_nothing(patient, nurse):
    from patients import services

    assert receive_message(panel("LAB-6", group="O POS"), "mllp").code == "AA"
    creatinine = LabResult.objects.get(test="creatinine")
    services.withdraw_lab_result(lab_id=creatinine.pk, user=nurse, reason="another patient's sample")

    assert receive_message(panel("LAB-6-again", group="O POS"), "mllp").code == "AA"

    assert list(LabResult.objects.filter(test="creatinine").values_list("status", flat=True)) == ["entered_in_error"]


def test_a_new_final_value_for_the_same_sample_replaces_the_earlier_one(patient):
    receive_message(panel("LAB-7", group="O POS"), "mllp")
    receive_message(panel("LAB-7-b", creatinine="1.4", group="O POS"), "mllp")
    current = LabResult.objects.filter(test="creatinine", superseded_by__isnull=True)
    assert [(c.value_si, c.status) for c in current] == [(Decimal("123.8"), "corrected")]


def test_a_lab_read_under_another_tests_prefix_is_not_found(patient, client_for, nurse):
    receive_message(panel("LAB-8", group="O POS"), "mllp")
    creatinine = LabResult.objects.get(test="creatinine")
    api = client_for(nurse)
    assert api.get(f"/fhir/R4/Observation/cr-{creatinine.pk}").status_code == 200
    assert api.get(f"/fhir/R4/Observation/hb-{creatinine.pk}").status_code == 404


def test_a_laboratory_creatinine_after_the_course_answers_its_check_and_a_rise_notifies_the_prescriber(
    nurse, hematologist
):
    from monitoring.models import LabCheck, Notification
    from tests.factories import given_order

    patient = PatientFactory(mrn="MRN-LAB", renal_impairment=True, labs=False)
    before = timezone.now() - timedelta(days=4)
    LabResult.objects.create(
        patient=patient, test="creatinine", value_sent="80", unit_sent="umol/L", value_si=80, collected_at=before
    )
    LabResult.objects.create(
        patient=patient, test="hemoglobin", value_sent="130", unit_sent="g/L", value_si=130, collected_at=before
    )
    LabResult.objects.create(
        patient=patient, test="blood_group", value_sent="O+", blood_group="O+", collected_at=before
    )
    from patients.models import CoTherapy

    CoTherapy.objects.create(
        patient=patient, kind="prehydration", given_from=before, given_until=timezone.now(), recorded_by=nurse
    )
    order = given_order(patient=patient, prescriber=hematologist, nurse=nurse, completed_hours_ago=63)
    # Collected 60 h after the infusion ended: inside the 48-96 h window. 1.5 mg/dL = 132.6 µmol/L, 52.6 above.
    ack = receive_message(
        panel("LAB-CHK", creatinine="1.5", hemoglobin="13", hemoglobin_unit="g/dL", group="O POS"), "mllp"
    )

    assert ack.code == "AA", ack.text
    check = LabCheck.objects.get(order=order, test="creatinine")
    assert check.status == "resulted" and check.lab_result.source == "hl7"
    assert Notification.objects.get(kind="renal_decline").recipient == hematologist
