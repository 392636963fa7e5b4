"""Pregnancy as docs/clinical-rules.md §A13 records it: with an expected delivery date, or "not yet known" with a
review date within 4 weeks; ended by a delivery or end date, or 14 days after the expected date; a hypercoagulable
state until 6 weeks after; allowed for a patient recorded as male, with a warning."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from patients.rules import hypercoagulable_after_pregnancy, pregnancy_errors, pregnancy_open
from tests.factories import PatientFactory

TODAY = date(2026, 12, 1)


@pytest.mark.unit
def test_a_pregnancy_ends_14_days_after_the_expected_date_or_on_the_delivery_date():
    due = TODAY - timedelta(days=13)
    assert pregnancy_open(True, due, None, TODAY)
    assert not pregnancy_open(True, TODAY - timedelta(days=14), None, TODAY)
    assert not pregnancy_open(True, TODAY + timedelta(days=60), TODAY - timedelta(days=1), TODAY)
    assert not pregnancy_open(False, due, None, TODAY)


@pytest.mark.unit
def test_pregnancy_and_the_6_weeks_after_it_are_a_hypercoagulable_state():
    delivered = TODAY - timedelta(days=41)
    assert hypercoagulable_after_pregnancy(True, None, delivered, TODAY)
    assert not hypercoagulable_after_pregnancy(True, None, TODAY - timedelta(days=42), TODAY)


@pytest.mark.unit
def test_a_pregnancy_needs_an_expected_date_or_a_review_within_4_weeks():
    kwargs = {"pregnant": True, "ended_on": None, "today": TODAY}
    assert "expected_delivery_date" in pregnancy_errors(expected_delivery=None, review_on=None, **kwargs)
    assert pregnancy_errors(expected_delivery=None, review_on=TODAY + timedelta(days=28), **kwargs) == {}
    assert "pregnancy_review_on" in pregnancy_errors(
        expected_delivery=None, review_on=TODAY + timedelta(days=29), **kwargs
    )
    assert "expected_delivery_date" in pregnancy_errors(
        expected_delivery=TODAY + timedelta(days=300), review_on=None, **kwargs
    )


@pytest.mark.django_db
def test_the_api_reads_pregnant_as_false_once_the_pregnancy_has_ended(client_for, nurse):
    patient = PatientFactory(sex="female")
    api = client_for(nurse)
    refused = api.patch(f"/api/v1/patients/{patient.pk}/", {"pregnant": True}, format="json")
    assert refused.status_code == 400 and "expected_delivery_date" in refused.json()

    due = (timezone.localdate() + timedelta(days=100)).isoformat()
    recorded = api.patch(
        f"/api/v1/patients/{patient.pk}/", {"pregnant": True, "expected_delivery_date": due}, format="json"
    )
    assert recorded.json()["pregnant"] is True
    assert "pregnancy or the 6 weeks after it (hypercoagulable state)" in recorded.json()["risk_factors"]

    delivered = (timezone.localdate() - timedelta(days=2)).isoformat()
    ended = api.patch(f"/api/v1/patients/{patient.pk}/", {"pregnancy_ended_on": delivered}, format="json").json()
    assert ended["pregnant"] is False
    assert "pregnancy or the 6 weeks after it (hypercoagulable state)" in ended["risk_factors"]


@pytest.mark.django_db
def test_an_ended_pregnancy_no_longer_changes_the_dosing_weight(client_for, nurse):
    from infusions.services.orders import patient_facts

    patient = PatientFactory(
        sex="female", pregnant=True, expected_delivery_date=timezone.localdate() - timedelta(days=20)
    )
    facts = patient_facts(patient, patient.current_weight, timezone.localdate())
    assert facts.pregnant is False


@pytest.mark.django_db
def test_a_pregnancy_recorded_for_a_man_is_allowed_and_flagged_on_his_page(client, nurse):
    patient = PatientFactory(
        sex="male", pregnant=True, expected_delivery_date=timezone.localdate() + timedelta(days=90)
    )
    client.force_login(nurse)
    html = client.get(f"/patients/{patient.pk}/").content.decode()
    assert 'data-testid="pregnancy-male"' in html and "recorded as male: check" in html


@pytest.mark.django_db
def test_a_week_before_the_record_ends_the_page_asks_for_the_delivery_or_a_new_date(client, nurse):
    today = timezone.localdate()
    soon = PatientFactory(sex="female", pregnant=True, expected_delivery_date=today - timedelta(days=8))
    later = PatientFactory(sex="female", pregnant=True, expected_delivery_date=today + timedelta(days=30))
    client.force_login(nurse)
    assert 'data-testid="pregnancy-ends-soon"' in client.get(f"/patients/{soon.pk}/").content.decode()
    assert 'data-testid="pregnancy-ends-soon"' not in client.get(f"/patients/{later.pk}/").content.decode()
