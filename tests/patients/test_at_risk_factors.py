"""The at-risk factors of docs/clinical-rules.md §A13, recorded one by one: any one applies the at-risk rate cap and
the order says which; acute ones are shown "to reassess" after 7 days; version 1's thrombosis flag is kept as
"factor not specified"."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from infusions import dosing
from patients.rules import acute_factors_to_reassess, risk_factors_present
from tests.factories import PatientFactory, verified_order

TODAY = date(2026, 12, 1)


@pytest.mark.unit
def test_every_factor_recorded_is_named_in_clinician_words():
    assert risk_factors_present({"sepsis": True, "estrogens": True, "diabetes": False}) == ("sepsis", "estrogens")
    assert risk_factors_present({}) == ()


@pytest.mark.unit
def test_acute_factors_are_to_reassess_after_7_days_or_without_a_date():
    flags = {"sepsis": True, "diabetes": True}
    assert acute_factors_to_reassess(flags, TODAY - timedelta(days=7), TODAY) == ()
    assert acute_factors_to_reassess(flags, TODAY - timedelta(days=8), TODAY) == ("sepsis",)
    assert acute_factors_to_reassess(flags, None, TODAY) == ("sepsis",)
    # A chronic factor is never "to reassess".
    assert acute_factors_to_reassess({"diabetes": True}, None, TODAY) == ()


@pytest.mark.unit
def test_any_other_factor_applies_the_at_risk_cap():
    facts = dosing.PatientFacts(sex="male", age_years=40, height_cm=178, actual_weight_kg=80)
    assert not dosing.is_at_risk(facts)
    with_sepsis = dosing.PatientFacts(
        sex="male", age_years=40, height_cm=178, actual_weight_kg=80, other_risk_factors=("sepsis",)
    )
    assert dosing.at_risk_reasons(with_sepsis) == ("sepsis",)


@pytest.mark.django_db
def test_an_order_for_a_patient_with_diabetes_and_a_central_line_is_capped_and_says_why():
    plain = verified_order(patient=PatientFactory())
    at_risk = verified_order(patient=PatientFactory(diabetes=True, central_venous_catheter=True))

    assert not plain.rate_plan["at_risk_capped"]
    assert at_risk.rate_plan["at_risk_capped"]
    assert at_risk.rate_plan["max_rate_ml_per_h"] < plain.rate_plan["max_rate_ml_per_h"]
    said = " ".join(at_risk.warning_messages)
    assert "diabetes" in said and "central venous catheter" in said


@pytest.mark.django_db
def test_the_api_records_factors_and_shows_what_to_reassess(client_for, nurse):
    patient = PatientFactory()
    api = client_for(nurse)
    stale = (timezone.localdate() - timedelta(days=9)).isoformat()

    changed = api.patch(
        f"/api/v1/patients/{patient.pk}/",
        {"immobilization": True, "previous_thrombosis": True, "acute_factors_assessed_on": stale},
        format="json",
    )

    assert changed.status_code == 200, changed.json()
    body = changed.json()
    assert body["risk_factors"] == ["immobilization", "previous thrombosis"]
    assert body["acute_factors_to_reassess"] == ["immobilization"]
    assert body["thrombosis_risk_unspecified"] is False
    page = api.get(f"/api/v1/patients/{patient.pk}/")
    assert page.json()["immobilization"] is True


@pytest.mark.django_db
def test_version_1s_thrombosis_flag_reads_as_a_factor_not_specified(client_for, nurse):
    patient = PatientFactory(thrombosis_risk=True)
    body = client_for(nurse).get(f"/api/v1/patients/{patient.pk}/").json()
    assert body["thrombosis_risk_unspecified"] is True
    assert body["risk_factors"] == ["thrombosis risk (factor not specified)"]


@pytest.mark.django_db
def test_the_patient_page_marks_acute_factors_to_reassess(client, nurse):
    patient = PatientFactory(sepsis=True, acute_factors_assessed_on=timezone.localdate() - timedelta(days=10))
    client.force_login(nurse)
    html = client.get(f"/patients/{patient.pk}/").content.decode()
    assert 'data-testid="reassess-acute"' in html and "to reassess: sepsis" in html


@pytest.mark.django_db
def test_anti_iga_antibodies_are_recorded_through_the_api_with_their_date(client_for, nurse):
    patient = PatientFactory()
    tested = (timezone.localdate() - timedelta(days=3)).isoformat()
    body = (
        client_for(nurse)
        .patch(
            f"/api/v1/patients/{patient.pk}/",
            {"anti_iga_antibodies": "negative", "anti_iga_antibodies_on": tested},
            format="json",
        )
        .json()
    )
    assert (body["anti_iga_antibodies"], body["anti_iga_antibodies_on"]) == ("negative", tested)


@pytest.mark.django_db
def test_an_egfr_below_60_on_the_latest_creatinine_caps_the_rate_and_is_named():
    from patients.models import LabResult

    patient = PatientFactory(birth_date=date(1970, 1, 1), sex="male")  # 56: not at risk by age
    LabResult.objects.create(
        patient=patient,
        test="creatinine",
        value_sent="160",
        unit_sent="umol/L",
        value_si=160,
        collected_at=timezone.now() - timedelta(hours=2),
    )
    order = verified_order(patient=patient)
    assert order.rate_plan["at_risk_capped"]
    assert "(below 60)" in " ".join(order.warning_messages)
