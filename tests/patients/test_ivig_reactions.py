"""A patient's structured IVIG reaction history: severe reactions recorded here and reactions reported from
elsewhere, on the patient page and in the API, and the previous_severe_reaction stop they raise."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from infusions import services as order_services
from infusions.models import Order, Product, SafetyRecord
from patients.models import ReportedIvigReaction
from tests.factories import PatientFactory, given_order

pytestmark = pytest.mark.db

OCTAGAM_ANAPHYLAXIS = {
    "date": "2023-06-12",
    "product": "Octagam 10%",
    "anaphylaxis": True,
    "where": "St Elsewhere, day unit",
    "details": "Adrenaline given",
}


def draft_for(patient, prescriber):
    return order_services.create_order(
        data={
            "patient": patient,
            "regimen": "one_dose_1g_per_kg",
            "product": Product.objects.get(name="Gamunex-C"),
            "baseline_platelet_count": 12,
            "first_infusion_on": timezone.localdate(),
        },
        user=prescriber,
    )


def test_a_nurse_adds_a_reported_anaphylaxis_and_the_patient_api_lists_it(client_for, nurse):
    patient = PatientFactory()
    api = client_for(nurse)
    response = api.post(f"/api/v1/patients/{patient.pk}/ivig-reactions/", OCTAGAM_ANAPHYLAXIS, format="json")
    assert response.status_code == 201, response.json()
    assert response.json() == {**OCTAGAM_ANAPHYLAXIS, "ctcae_grade": None}
    listed = api.get(f"/api/v1/patients/{patient.pk}/").json()["ivig_reactions"]
    assert listed == [
        {
            "date": "2023-06-12",
            "product": "Octagam 10%",
            "ctcae_grade": None,
            "anaphylaxis": True,
            "where": "St Elsewhere, day unit",
        }
    ]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"date": "2999-01-01"}, "date"),  # a date in the future
        ({"anaphylaxis": False}, "ctcae_grade"),
        ({"ctcae_grade": 6}, "ctcae_grade"),
        ({"ctcae_grade": 0}, "ctcae_grade"),
        ({"where": ""}, "where"),
    ],
)
def test_a_reported_reaction_is_refused_with_the_field_at_fault_and_nothing_stored(client_for, nurse, change, field):
    patient = PatientFactory()
    body = {**OCTAGAM_ANAPHYLAXIS, **change}
    response = client_for(nurse).post(f"/api/v1/patients/{patient.pk}/ivig-reactions/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert ReportedIvigReaction.objects.count() == 0


def test_a_pharmacist_may_not_add_to_the_reaction_history(client_for, pharmacist):
    patient = PatientFactory()
    response = client_for(pharmacist).post(
        f"/api/v1/patients/{patient.pk}/ivig-reactions/", OCTAGAM_ANAPHYLAXIS, format="json"
    )
    assert response.status_code == 403
    assert ReportedIvigReaction.objects.count() == 0


def test_this_hospitals_severe_reactions_are_listed_as_this_hospital_and_mild_ones_are_not(
    client_for, hematologist, nurse
):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    infusion = order.infusions.get()
    noted = infusion.started_at + timedelta(minutes=40)
    for grade, reaction in ((1, "flushing"), (3, "hypotension")):
        order_services.record_reaction(
            infusion_id=infusion.pk,
            user=nurse,
            reaction=reaction,
            ctcae_grade=grade,
            action_taken="paused",
            noted_at=noted,
        )
    listed = client_for(nurse).get(f"/api/v1/patients/{order.patient_id}/").json()["ivig_reactions"]
    assert listed == [
        {
            "date": str(timezone.localtime(noted).date()),
            "product": "Gamunex-C",
            "ctcae_grade": 3,
            "anaphylaxis": False,
            "where": "this hospital",
        }
    ]


def test_the_patient_list_reads_the_reaction_history_in_a_fixed_number_of_queries(client_for, nurse):
    api = client_for(nurse)
    PatientFactory()
    api.get("/api/v1/patients/")
    with CaptureQueriesContext(connection) as one:
        api.get("/api/v1/patients/")
    for _ in range(5):
        patient = PatientFactory()
        api.post(f"/api/v1/patients/{patient.pk}/ivig-reactions/", OCTAGAM_ANAPHYLAXIS, format="json")
    with CaptureQueriesContext(connection) as six:
        assert len(api.get("/api/v1/patients/").json()["results"]) == 6
    assert len(six) == len(one)


def test_a_new_reported_severe_reaction_refuses_verification_until_a_hematologist_overrides(
    client_for, hematologist, second_hematologist, pharmacist, nurse
):
    patient = PatientFactory()
    order = draft_for(patient, hematologist)
    client_for(nurse).post(f"/api/v1/patients/{patient.pk}/ivig-reactions/", OCTAGAM_ANAPHYLAXIS, format="json")

    refused = client_for(pharmacist).post(f"/api/v1/orders/{order.pk}/verify/", {}, format="json")
    assert refused.status_code == 409
    assert [stop["code"] for stop in refused.json()["stops"]] == ["previous_severe_reaction"]
    assert refused.json()["stops"][0]["role"] == "hematologist"
    by_pharmacist = client_for(pharmacist).post(
        f"/api/v1/orders/{order.pk}/verify/",
        {"overrides": {"previous_severe_reaction": "premedicated"}},
        format="json",
    )
    assert by_pharmacist.status_code == 403
    assert Order.objects.get(pk=order.pk).status == "draft"
    assert not SafetyRecord.objects.filter(order=order, code="previous_severe_reaction").exists()

    reason = "Anaphylaxis was to Octagam; Gamunex-C with premedication, slow start"
    verified = client_for(second_hematologist).post(
        f"/api/v1/orders/{order.pk}/verify/", {"overrides": {"previous_severe_reaction": reason}}, format="json"
    )
    assert verified.status_code == 200, verified.json()
    record = SafetyRecord.objects.get(order=order, code="previous_severe_reaction", kind="override")
    assert (record.reason, record.recorded_by, record.role) == (reason, second_hematologist, "hematologist")


def test_a_nurse_adds_a_reported_reaction_on_the_patient_page(client, nurse):
    patient = PatientFactory()
    client.force_login(nurse)
    response = client.post(
        f"/patients/{patient.pk}/ivig-reactions/",
        {"occurred_on": "2022-02-02", "product": "Privigen", "ctcae_grade": "3", "where": "County Hospital"},
        follow=True,
    )
    html = response.content.decode()
    assert "Reaction added" in html
    row = html.split('data-testid="ivig-reaction"')[1].split("</tr>")[0]
    assert "Privigen" in row and "CTCAE 3" in row and "County Hospital" in row and "(reported)" in row


def test_the_page_form_shows_why_a_reaction_without_grade_or_anaphylaxis_is_refused(client, hematologist):
    patient = PatientFactory()
    client.force_login(hematologist)
    response = client.post(
        f"/patients/{patient.pk}/ivig-reactions/",
        {"occurred_on": "2022-02-02", "product": "Privigen", "where": "County Hospital"},
    )
    assert response.status_code == 400
    assert "Give the CTCAE grade, or record the reaction as anaphylaxis." in response.content.decode()
    assert ReportedIvigReaction.objects.count() == 0


def test_the_admin_lists_reported_reactions(client, hematologist):
    from django.contrib.auth import get_user_model

    patient = PatientFactory()
    ReportedIvigReaction.objects.create(
        patient=patient,
        occurred_on=date(2021, 1, 1),
        product="Kiovig",
        ctcae_grade=2,
        where="Elsewhere",
        recorded_by=hematologist,
    )
    admin = get_user_model().objects.create_superuser("it-admin", "it@example.org", "pw-it-admin-123")
    client.force_login(admin)
    html = client.get("/admin/patients/reportedivigreaction/").content.decode()
    assert "Kiovig" in html and "Elsewhere" in html
