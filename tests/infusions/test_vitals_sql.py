"""The vitals POST's own statements (infusions/vitals_sql.py): the same rows as the ORM, and a remembered baseline
that is never used once it is out of date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework import serializers

from infusions import vitals_sql
from infusions.api.serializers import VitalsSerializer
from infusions.models import VitalSignsEntry
from tests.factories import NORMAL_VITALS, verified_order

pytestmark = pytest.mark.db


@pytest.fixture
def infusion(db, hematologist):
    return verified_order(prescriber=hematologist).infusions.get()


@pytest.fixture
def nurse_api(client_for, nurse):
    return client_for(nurse)


def post_vitals(api, infusion, minutes_ago=0, **values):
    body = {**NORMAL_VITALS, **values, "taken_at": (timezone.now() - timedelta(minutes=minutes_ago)).isoformat()}
    response = api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", body)
    assert response.status_code == 201, response.json()
    return response.json()


def alert_codes(body):
    return [alert["code"] for alert in body["alerts"]]


def test_a_late_entry_before_the_first_set_becomes_the_baseline(nurse_api, infusion):
    post_vitals(nurse_api, infusion, minutes_ago=30, systolic_bp_mmhg=120)
    # Taken before the first set: it is now the earliest, compared with nothing.
    assert alert_codes(post_vitals(nurse_api, infusion, minutes_ago=40, systolic_bp_mmhg=150)) == []
    # A fall of 25 mmHg from the new baseline (150) is a warning; from the old one (120) it would be nothing.
    later = post_vitals(nurse_api, infusion, minutes_ago=0, systolic_bp_mmhg=125)
    assert alert_codes(later) == ["hypotension"]
    assert "baseline 150" in later["alerts"][0]["message"]


def test_a_set_taken_at_the_same_moment_as_the_baseline_is_compared_with_it(nurse_api, infusion):
    moment = timezone.now() - timedelta(minutes=5)
    first = {**NORMAL_VITALS, "systolic_bp_mmhg": 150, "taken_at": moment.isoformat()}
    nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", first)
    # Same taken_at, recorded later: the earlier row (lower id) stays the baseline, as Meta.ordering says.
    same = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", {**first, "systolic_bp_mmhg": 125}).json()
    assert alert_codes(same) == ["hypotension"]


@pytest.mark.postgres
def test_the_first_set_reads_the_baseline_and_later_sets_write_in_one_statement(
    nurse_api, infusion, django_assert_num_queries
):
    nurse_api.get(f"/api/v1/infusions/{infusion.pk}/")  # the nurse's roles and permissions are cached from here on
    with django_assert_num_queries(3):  # the token, the baseline (none yet), the write
        post_vitals(nurse_api, infusion, minutes_ago=10)
    with django_assert_num_queries(3):  # that set is the baseline now: read it once
        post_vitals(nurse_api, infusion, minutes_ago=5)
    with django_assert_num_queries(2):  # remembered: the token and the write
        post_vitals(nurse_api, infusion)


@pytest.mark.postgres
def test_a_baseline_changed_by_another_process_is_read_again_before_the_alerts_are_worked_out(nurse_api, infusion):
    post_vitals(nurse_api, infusion, minutes_ago=30, systolic_bp_mmhg=150)
    post_vitals(nurse_api, infusion, minutes_ago=20, systolic_bp_mmhg=150)  # the 150 mmHg baseline is remembered
    remembered = vitals_sql.baseline_of(infusion.pk)
    # Another worker records a late entry taken before it; this process's memory still holds the old baseline.
    post_vitals(nurse_api, infusion, minutes_ago=45, systolic_bp_mmhg=125)
    vitals_sql._remember_baseline(infusion.pk, remembered)

    # Against the remembered 150 this would be a 25 mmHg fall (a warning). The write is refused because the
    # earliest set is no longer the remembered one; the real baseline, 125, is read and nothing has fallen.
    body = post_vitals(nurse_api, infusion, systolic_bp_mmhg=125)
    assert alert_codes(body) == []
    assert VitalSignsEntry.objects.get(pk=body["id"]).alerts == []
    assert VitalSignsEntry.objects.filter(infusion=infusion).count() == 4  # nothing written twice
    assert VitalSignsEntry.history.filter(infusion_id=infusion.pk).count() == 4
    assert vitals_sql.baseline_of(infusion.pk).vital_signs["systolic_bp_mmhg"] == 125


@pytest.mark.postgres
def test_the_single_statement_writes_the_same_entry_and_history_row_as_the_orm(nurse, infusion):
    taken_at = timezone.now() - timedelta(minutes=3)
    values = {
        "infusion_id": infusion.pk,
        "taken_at": taken_at,
        "temperature_c": Decimal("38.4"),
        "heart_rate_bpm": 104,
        "systolic_bp_mmhg": 131,
        "diastolic_bp_mmhg": 77,
        "respiratory_rate_per_min": 19,
        "spo2_percent": 96,
        "alerts": [{"code": "fever", "severity": "warning", "message": "T 38.4", "suggested_action": "halve"}],
        "highest_severity": "warning",
        "recorded_by": nurse,
    }
    by_statement = VitalSignsEntry(**values)
    assert vitals_sql.insert_entry_with_history(by_statement, nurse, baseline=vitals_sql.baseline_of(infusion.pk))
    by_orm = VitalSignsEntry(**values)
    by_orm._history_user = nurse
    by_orm.save()

    entry_fields = [f.attname for f in VitalSignsEntry._meta.concrete_fields if f.attname not in {"id", "created_at"}]
    rows = list(VitalSignsEntry.objects.filter(pk__in=[by_statement.pk, by_orm.pk]).order_by("pk").values())
    assert [{k: row[k] for k in entry_fields} for row in rows] == [{k: rows[1][k] for k in entry_fields}] * 2
    assert all(timezone.now() - row["created_at"] < timedelta(minutes=1) for row in rows)

    history_model = VitalSignsEntry.history.model
    skip = {"id", "created_at", "history_id", "history_date"}
    history_fields = [f.attname for f in history_model._meta.concrete_fields if f.attname not in skip]
    histories = [history_model.objects.values().get(id=pk) for pk in (by_statement.pk, by_orm.pk)]
    assert [{k: h[k] for k in history_fields} for h in histories] == [{k: histories[1][k] for k in history_fields}] * 2
    assert histories[0]["history_type"] == "+" and histories[0]["history_user_id"] == nurse.pk
    assert histories[0]["history_change_reason"] is None
    assert histories[0]["created_at"] == rows[0]["created_at"]  # copied from the entry, not stamped again


@pytest.mark.postgres
def test_the_write_statement_covers_every_column_of_the_entry_and_its_history():
    statement = vitals_sql._write_statement(connection.vendor)  # raises ImproperlyConfigured on any mismatch
    for model in (VitalSignsEntry, VitalSignsEntry.history.model):
        for field in model._meta.concrete_fields:
            if not (model is VitalSignsEntry.history.model and field.primary_key):
                assert connection.ops.quote_name(field.column) in statement


def test_the_response_is_what_the_declared_fields_would_give(nurse, infusion, settings):
    settings.TIME_ZONE = "Europe/London"  # the hospital's zone, British Summer Time on this date
    entry = VitalSignsEntry(
        pk=41,
        infusion_id=infusion.pk,
        taken_at=datetime(2026, 7, 1, 9, 30, 15, tzinfo=UTC),
        temperature_c=Decimal("39.1"),
        heart_rate_bpm=131,
        systolic_bp_mmhg=88,
        diastolic_bp_mmhg=50,
        respiratory_rate_per_min=24,
        spo2_percent=91,
        alerts=[{"code": "fever", "severity": "high", "message": "T 39.1 °C", "suggested_action": "stop"}],
        recorded_by=nurse,
    )
    for alerts in (entry.alerts, []):
        entry.alerts = alerts
        generic = serializers.Serializer.to_representation(VitalsSerializer(), entry)
        assert VitalsSerializer(entry).data == generic
    assert VitalsSerializer(entry).data["taken_at"] == "2026-07-01T10:30:15+01:00"


def test_a_baseline_that_keeps_changing_gives_409_and_writes_nothing(nurse_api, infusion, monkeypatch):
    # Unreachable by real traffic in practice (three late entries landing within one request's statements), so the
    # refusal is forced here: every guarded write reports that the baseline has moved.
    monkeypatch.setattr(vitals_sql, "insert_entry_with_history", lambda entry, user, *, baseline: False)
    response = nurse_api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    assert response.status_code == 409
    assert "submit again" in response.json()["detail"]
    assert not VitalSignsEntry.objects.filter(infusion=infusion).exists()
