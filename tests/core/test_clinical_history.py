"""Every clinical record keeps its history: who wrote it, when, and each change of its state.

The list of models is read from the apps themselves, so a clinical model added without ``HistoricalRecords`` fails
here until it has history or is named below, with the reason it is not clinical.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from infusions import services as infusion_services
from monitoring import services as monitoring_services
from monitoring.models import CheckStatus, LabCheck, PlateletCheck
from monitoring.services.sweep import SWEEP_ACTOR
from patients import services as patient_services
from tests.factories import given_order, verified_order
from tests.monitoring.test_lab_checks import patient_with_pre_course_labs

CLINICAL_APPS = ("patients", "infusions", "monitoring", "interop")

# Models of the clinical apps that are not clinical records, and why.
NOT_CLINICAL = {
    "monitoring.Notification": "a message to a member of staff; the facts it announces (checks, results, flags) "
    "are clinical records with their own history",
    "monitoring.Delivery": "one sending of a notification through one channel: itself the log of what was sent when",
    "interop.HL7MessageResult": "write-once provenance (which OBX of which message made which platelet result), "
    "never changed by any service; the message and the result it links keep history",
    "interop.SMARTGrantPatient": "the patient an OAuth2 authorization code was issued for: lives and dies with the "
    "code (minutes), holds no clinical fact",
    "interop.SMARTTokenPatient": "the patient a SMART access token may read: an access-control record beside the "
    "token, deleted with it; the patient's record keeps its own history",
}


def _label(model) -> str:
    return f"{model._meta.app_label}.{model.__name__}"


def _clinical_models() -> list:
    return [
        model
        for app in CLINICAL_APPS
        for model in apps.get_app_config(app).get_models()
        if not model.__name__.startswith("Historical") and _label(model) not in NOT_CLINICAL
    ]


def test_every_clinical_model_keeps_history() -> None:
    without = [_label(model) for model in _clinical_models() if not hasattr(model, "history")]
    assert without == [], f"clinical models without HistoricalRecords (add it, or list them in NOT_CLINICAL): {without}"


def test_the_models_named_not_clinical_exist_and_really_have_no_history() -> None:
    # A name left here after its model gained history, was renamed or removed would silently widen the exception.
    for label in NOT_CLINICAL:
        model = apps.get_model(label)
        assert not hasattr(model, "history"), f"{label} has history now: take it off NOT_CLINICAL"


def test_the_list_covers_the_records_the_attack_found_without_history() -> None:
    labels = {_label(model) for model in _clinical_models()}
    assert {"monitoring.PlateletCheck", "monitoring.LabCheck", "monitoring.PlateletResult"} <= labels


@pytest.mark.db
def test_every_record_a_course_writes_through_the_services_has_a_creation_record(nurse, hematologist) -> None:
    existing = {model: set(model.objects.values_list("pk", flat=True)) for model in _clinical_models()}

    # A patient with a renal risk factor: the course also owes a creatinine after it (§A13), a LabCheck.
    patient = patient_with_pre_course_labs(by=nurse, days_ago=4, renal_impairment=True)
    order = given_order(patient=patient, nurse=nurse, prescriber=hematologist, completed_hours_ago=30)
    check_24h = PlateletCheck.objects.get(order=order, label="24h")
    monitoring_services.record_platelet_result(
        check_id=check_24h.pk,
        platelet_count=45,
        collected_at=check_24h.due_at,
        bleeding=False,
        user=nurse,
    )
    patient_services.record_lab_result(
        patient_id=order.patient_id,
        user=nurse,
        test="creatinine",
        value="80",
        unit="umol/L",
        collected_at=timezone.now() - timedelta(hours=1),
    )
    monitoring_services.record_co_therapy(
        patient_id=order.patient_id,
        user=nurse,
        data={"kind": "platelet_transfusion", "units": 1, "given_from": timezone.now() - timedelta(hours=2)},
    )
    patient_services.record_reported_ivig_reaction(
        patient_id=order.patient_id,
        user=nurse,
        occurred_on=timezone.localdate() - timedelta(days=400),
        product="Privigen",
        ctcae_grade=1,
        anaphylaxis=False,
        where="County Hospital",
    )
    monitoring_services.run_sweep()

    written = {
        _label(model): model.objects.exclude(pk__in=existing[model]).values_list("pk", flat=True)
        for model in _clinical_models()
    }
    reached = sorted(label for label, pks in written.items() if pks.exists())
    # The course reaches at least these; each one's every new row must have its creation ("+") history row.
    assert {
        "patients.Patient",
        "patients.WeightMeasurement",
        "patients.LabResult",
        "infusions.Order",
        "infusions.Infusion",
        "infusions.VitalSignsEntry",
        "infusions.VialLot",
        "monitoring.PlateletCheck",
        "monitoring.PlateletResult",
        "monitoring.OrderResponse",
        "monitoring.LabCheck",
        "patients.CoTherapy",
        "patients.ReportedIvigReaction",
    } <= set(reached)
    for label in reached:
        model = apps.get_model(label)
        pks = set(written[label])
        created = set(model.history.filter(id__in=pks, history_type="+").values_list("id", flat=True))
        assert created == pks, f"{label} rows written without a creation record: {sorted(pks - created)}"


@pytest.mark.db
def test_the_sweep_records_each_check_falling_due_and_overdue_as_the_system(nurse, hematologist) -> None:
    order = given_order(nurse=nurse, prescriber=hematologist, completed_hours_ago=25)
    now = timezone.now()
    monitoring_services.run_sweep(now=now)
    check = PlateletCheck.objects.get(order=order, label="24h")
    monitoring_services.run_sweep(now=check.due_at + timedelta(hours=13))

    rows = list(check.history.order_by("history_date", "history_id"))
    assert [(row.status, row.history_type) for row in rows] == [("scheduled", "+"), ("due", "~"), ("overdue", "~")]
    assert rows[0].history_user == nurse  # the nurse whose completion scheduled it
    assert [(row.history_user, row.history_change_reason) for row in rows[1:]] == [
        (None, f"{SWEEP_ACTOR}: due"),
        (None, f"{SWEEP_ACTOR}: overdue"),
    ]
    assert rows[1].history_date == now  # dated by the sweep's own clock, as updated_at is
    # A second sweep at the same time changes nothing and records nothing.
    monitoring_services.run_sweep(now=check.due_at + timedelta(hours=13))
    assert check.history.count() == 3


@pytest.mark.db
def test_a_check_moved_by_the_sweep_keeps_the_other_checks_of_the_course_untouched_in_history(nurse, hematologist):
    order = given_order(nurse=nurse, prescriber=hematologist, completed_hours_ago=25)
    monitoring_services.run_sweep()
    later = PlateletCheck.objects.get(order=order, label="48h")
    assert later.status == CheckStatus.SCHEDULED
    assert list(later.history.values_list("status", flat=True)) == ["scheduled"]


@pytest.mark.db
def test_cancelling_an_order_before_anything_was_given_records_each_check_cancelled_by_the_canceller(
    hematologist,
) -> None:
    order = verified_order(prescriber=hematologist)
    monitoring_services.create_platelet_checks(order=order, first_infusion_ended_at=timezone.now())
    infusion_services.cancel_order(order_id=order.pk, user=hematologist, reason="platelets recovered on their own")

    checks = PlateletCheck.objects.filter(order=order)
    assert checks.count() >= 4
    for check in checks:
        latest = check.history.order_by("-history_date", "-history_id").first()
        assert (latest.status, latest.history_type, latest.history_change_reason) == (
            CheckStatus.CANCELLED,
            "~",
            "Order cancelled",
        )
        assert latest.history_user == hematologist


@pytest.mark.db
def test_a_lab_check_is_recorded_when_owed_and_when_the_sweep_makes_it_due(nurse, hematologist) -> None:
    # A patient with a renal risk factor owes a creatinine 48 to 96 h after the course (docs/clinical-rules.md §A13).
    patient = patient_with_pre_course_labs(by=nurse, days_ago=4, renal_impairment=True)
    order = given_order(patient=patient, prescriber=hematologist, nurse=nurse, completed_hours_ago=74)
    check = LabCheck.objects.get(order=order)
    assert list(check.history.values_list("status", "history_type", "history_user_id")) == [
        ("scheduled", "+", nurse.pk)
    ]

    monitoring_services.run_sweep()

    check.refresh_from_db()
    assert check.status == CheckStatus.DUE
    latest = check.history.order_by("-history_date", "-history_id").first()
    assert (latest.status, latest.history_type, latest.history_user, latest.history_change_reason) == (
        CheckStatus.DUE,
        "~",
        None,
        f"{SWEEP_ACTOR}: due",
    )
