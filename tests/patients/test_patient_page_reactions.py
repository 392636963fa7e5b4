"""The hematologist's patient page lists every reaction the patient has had to IVIG: every grade recorded at the
bedside here, and those reported from elsewhere; the API's history keeps to the severe ones it documents."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from infusions import services as order_services
from patients.models import ReportedIvigReaction
from tests.factories import given_order

pytestmark = pytest.mark.db


@pytest.fixture
def order_with_a_grade_2_fever(hematologist, nurse):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    infusion = order.infusions.get()
    order_services.record_reaction(
        infusion_id=infusion.pk,
        user=nurse,
        reaction="fever",
        ctcae_grade=2,
        action_taken="paracetamol; rate halved",
        noted_at=infusion.started_at + timedelta(minutes=50),
    )
    return order


def test_a_grade_2_fever_recorded_at_the_bedside_is_on_the_patients_page(
    client, hematologist, order_with_a_grade_2_fever
):
    client.force_login(hematologist)
    page = client.get(f"/patients/{order_with_a_grade_2_fever.patient_id}/").content.decode()
    history = page[page.index('data-testid="ivig-reactions"') :]
    assert 'data-where="here"' in history
    assert "CTCAE 2" in history and "fever; paracetamol; rate halved" in history
    previous = page[page.index('data-testid="previous-reactions"') :]
    assert "none recorded" not in previous[: previous.index("</p>")]
    assert "1 in the IVIG reaction history below" in previous


def test_the_page_lists_reactions_of_every_grade_here_and_those_reported_from_elsewhere(
    client, hematologist, nurse, order_with_a_grade_2_fever
):
    patient = order_with_a_grade_2_fever.patient
    infusion = order_with_a_grade_2_fever.infusions.get()
    order_services.record_reaction(
        infusion_id=infusion.pk,
        user=nurse,
        reaction="headache",
        ctcae_grade=1,
        action_taken="observed",
        noted_at=infusion.started_at + timedelta(minutes=70),
    )
    ReportedIvigReaction.objects.create(
        patient=patient,
        occurred_on=date(2023, 6, 12),
        product="Octagam 10%",
        anaphylaxis=True,
        where="St Elsewhere, day unit",
        details="Adrenaline given",
        recorded_by=nurse,
    )
    client.force_login(hematologist)
    page = client.get(f"/patients/{patient.pk}/").content.decode()
    assert page.count('data-where="here"') == 2
    assert page.count('data-where="reported"') == 1
    assert "CTCAE 1" in page and "St Elsewhere, day unit" in page


def test_the_api_reaction_history_still_lists_only_the_severe_reactions_recorded_here(
    client_for, nurse, order_with_a_grade_2_fever
):
    listed = client_for(nurse).get(f"/api/v1/patients/{order_with_a_grade_2_fever.patient_id}/").json()
    assert listed["ivig_reactions"] == []


def test_a_patient_with_no_reaction_reads_none_recorded(client, hematologist, nurse):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    client.force_login(hematologist)
    page = client.get(f"/patients/{order.patient_id}/").content.decode()
    assert "<strong>Previous infusion reactions:</strong> none recorded" in page
    assert "No IVIG reaction recorded." in page
