"""After the course (docs/clinical-rules.md §A13): the creatinine and hemoglobin checks fall due 72 h after the last
infusion and are reminded like platelet checks; a typed or laboratory value answers them; a creatinine rise or a
hemoglobin fall notifies the ordering hematologist once and holds the days not yet started."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from infusions import services as infusion_services
from infusions.models import InfusionStatus
from monitoring import services
from monitoring.models import LabCheck, Notification
from patients import services as patient_services
from patients.models import CoTherapy, LabResult
from tests.factories import FULL_CHECKLIST, NORMAL_VITALS, PatientFactory, UserFactory, day_vials, given_order

pytestmark = pytest.mark.django_db


def lab(patient, test, value, unit, at, group=""):
    return LabResult.objects.create(
        patient=patient,
        test=test,
        value_sent=value,
        unit_sent=unit,
        value_si=Decimal(value) if test != "blood_group" else None,
        blood_group=group,
        collected_at=at,
    )


def patient_with_pre_course_labs(*, days_ago: float, by, group: str = "O+", **factors):
    """A patient of 50 whose creatinine (80 µmol/L), hemoglobin (130 g/L) and group were taken ``days_ago``."""
    today = timezone.localdate()
    patient = PatientFactory(birth_date=date(today.year - 50, 1, 1), labs=False, **factors)
    taken = timezone.now() - timedelta(days=days_ago)
    lab(patient, "creatinine", "80", "umol/L", taken)
    lab(patient, "hemoglobin", "130", "g/L", taken)
    lab(patient, "blood_group", group, "", taken, group=group)
    # A renal risk factor asks for pre-hydration before each start (§A13): maintenance fluids since admission.
    CoTherapy.objects.create(
        patient=patient,
        kind="prehydration",
        description="0.9% saline 1 L / 8 h",
        given_from=taken,
        given_until=timezone.now(),
        recorded_by=by,
    )
    return patient


def typed(patient, user, test, value, unit, at):
    return patient_services.record_lab_result(
        patient_id=patient.pk, user=user, test=test, value=value, unit=unit, collected_at=at
    )


def last_end(order):
    return max(i.ended_at for i in order.infusions.all() if i.ended_at)


def test_a_renal_risk_patients_course_owes_a_creatinine_due_72_h_after_its_last_infusion(nurse, hematologist):
    patient = patient_with_pre_course_labs(by=nurse, days_ago=4, renal_impairment=True)
    order = given_order(patient=patient, prescriber=hematologist, nurse=nurse, completed_hours_ago=74)

    (check,) = LabCheck.objects.filter(order=order)
    ended = last_end(order)
    assert (check.test, check.label) == ("creatinine", "post_course")
    assert check.due_at == ended + timedelta(hours=72)
    assert (check.window_opens_at, check.window_closes_at) == (ended + timedelta(hours=48), ended + timedelta(hours=96))

    swept = services.run_sweep()
    assert swept.lab_due == 1
    check.refresh_from_db()
    assert check.status == "due"
    reminded = Notification.objects.filter(kind="lab_check_due", lab_check=check)
    assert list(reminded.values_list("recipient", flat=True)) == [nurse.pk]
    assert "creatinine" in reminded.get().message
    assert services.run_sweep().notifications == 0  # never twice


def test_a_creatinine_in_the_window_answers_the_check_and_withdrawing_it_reopens_it(nurse, hematologist):
    patient = patient_with_pre_course_labs(by=nurse, days_ago=4, renal_impairment=True)
    order = given_order(patient=patient, prescriber=hematologist, nurse=nurse, completed_hours_ago=74)
    services.run_sweep()
    ended = last_end(order)

    too_early = typed(patient, nurse, "creatinine", "82", "umol/L", ended + timedelta(hours=30))
    check = LabCheck.objects.get(order=order)
    assert check.status == "due" and too_early.pk  # 30 h after is before the 48 h window

    answer = typed(patient, nurse, "creatinine", "0.95", "mg/dL", ended + timedelta(hours=50))
    check.refresh_from_db()
    assert (check.status, check.lab_result_id) == ("resulted", answer.pk)
    assert not Notification.objects.filter(kind="renal_decline").exists()  # 84 µmol/L: no rise

    patient_services.withdraw_lab_result(lab_id=answer.pk, user=nurse, reason="another patient's sample")
    check.refresh_from_db()
    assert (check.status, check.lab_result_id) == ("due", None)
    assert [row.status for row in check.history.order_by("history_date")] == ["scheduled", "due", "resulted", "due"]


def test_a_course_of_2_g_per_kg_owes_a_hemoglobin_even_for_group_o_and_a_fall_notifies_haemolysis(nurse, hematologist):
    patient = patient_with_pre_course_labs(by=nurse, days_ago=4)
    order = given_order(
        patient=patient,
        prescriber=hematologist,
        nurse=nurse,
        completed_hours_ago=60,
        regimen="two_days_1g_per_kg",
    )
    # Day 2 is not given yet: the course has not ended, so nothing is owed after it so far.
    assert not LabCheck.objects.filter(order=order).exists()

    first_end = order.infusions.get(day_number=1).ended_at
    fallen = typed(patient, nurse, "hemoglobin", "10.5", "g/dL", first_end + timedelta(hours=20))
    assert fallen.value_si == Decimal("105.0")

    (alert,) = Notification.objects.filter(kind="hemolysis_suspected")
    assert alert.recipient == hematologist
    assert "25 g/L below the pre-course 130 g/L" in alert.message
    assert "DAT, LDH, bilirubin, haptoglobin and reticulocytes" in alert.message
    order.refresh_from_db()
    assert order.on_hold and "hemolysis_suspected" in order.hold_reason
    assert Notification.objects.filter(kind="course_on_hold", order=order).exists()

    # Once per course: a lower value later notifies nothing more.
    typed(patient, nurse, "hemoglobin", "95", "g/L", first_end + timedelta(hours=30))
    assert Notification.objects.filter(kind="hemolysis_suspected").count() == 1


def test_a_creatinine_rise_of_26_5_after_the_course_notifies_a_renal_decline_with_its_reference(nurse, hematologist):
    patient = patient_with_pre_course_labs(by=nurse, days_ago=4, diabetes=True)
    order = given_order(patient=patient, prescriber=hematologist, nurse=nurse, completed_hours_ago=74)
    ended = last_end(order)

    typed(patient, nurse, "creatinine", "106", "umol/L", ended + timedelta(hours=60))
    assert not Notification.objects.filter(kind="renal_decline").exists()  # 26 above: below KDIGO stage 1
    typed(patient, nurse, "creatinine", "106.5", "umol/L", ended + timedelta(hours=70))

    (alert,) = Notification.objects.filter(kind="renal_decline")
    assert alert.recipient == hematologist and alert.order == order
    assert "26.5 µmol/L above" in alert.message and "the reference 80 µmol/L" in alert.message
    # The course has no day left: nothing to hold, only the notification (§A10 course_on_hold).
    order.refresh_from_db()
    assert not order.on_hold


def test_a_rise_while_days_remain_holds_them_until_a_hematologist_reviews(nurse, hematologist, second_hematologist):
    patient = patient_with_pre_course_labs(by=nurse, days_ago=2, renal_impairment=True)
    order = given_order(
        patient=patient, prescriber=hematologist, nurse=nurse, completed_hours_ago=20, regimen="two_days_1g_per_kg"
    )
    first_end = order.infusions.get(day_number=1).ended_at
    typed(patient, nurse, "creatinine", "1.5", "mg/dL", first_end + timedelta(hours=12))  # 132.6 µmol/L

    order.refresh_from_db()
    assert order.on_hold
    day_2 = order.infusions.get(day_number=2)
    dry_run = infusion_services.bedside_dry_run(
        infusion_id=day_2.pk, user=nurse, action="start", checklist=FULL_CHECKLIST, vials=day_vials(day_2)
    )
    assert "course_on_hold" in {stop["code"] for stop in dry_run["stops"]}

    infusion_services.review_hold(
        order_id=order.pk, user=hematologist, decision="cancel_remaining", reason="AKI: no more IVIG"
    )
    day_2.refresh_from_db()
    assert day_2.status == InfusionStatus.STOPPED and "AKI" in day_2.stop_reason
    # The course has ended now: it owes its creatinine 72 h after day 1, the last infusion given.
    check = LabCheck.objects.get(order=order, test="creatinine", label="post_course")
    assert check.due_at == first_end + timedelta(hours=72)


def test_a_patient_with_no_renal_risk_and_group_o_on_1_g_per_kg_owes_no_lab_check(nurse, hematologist):
    patient = patient_with_pre_course_labs(by=nurse, days_ago=4)
    order = given_order(patient=patient, prescriber=hematologist, nurse=nurse, completed_hours_ago=74)
    assert not LabCheck.objects.filter(order=order).exists()


def test_a_group_a_patient_owes_a_hemoglobin_and_its_overdue_reminder_reaches_the_hematologist_too(nurse, hematologist):
    patient = patient_with_pre_course_labs(by=nurse, days_ago=6, group="A+")
    order = given_order(patient=patient, prescriber=hematologist, nurse=nurse, completed_hours_ago=97)
    (check,) = LabCheck.objects.filter(order=order)
    assert check.test == "hemoglobin"
    services.run_sweep()
    check.refresh_from_db()
    assert check.status == "overdue"
    recipients = set(Notification.objects.filter(kind="lab_check_overdue").values_list("recipient", flat=True))
    assert recipients == {nurse.pk, hematologist.pk}


def test_a_five_day_course_owes_a_creatinine_before_day_3(nurse, hematologist):
    patient = patient_with_pre_course_labs(by=nurse, days_ago=2.5, renal_impairment=True)
    order = given_order(
        patient=patient, prescriber=hematologist, nurse=nurse, completed_hours_ago=40, regimen="five_days_0_4g_per_kg"
    )
    day_2 = order.infusions.get(day_number=2)
    started = order.infusions.get(day_number=1).ended_at + timedelta(hours=20)
    infusion_services.record_vitals(infusion_id=day_2.pk, user=nurse, values=NORMAL_VITALS, taken_at=started)
    infusion_services.start_infusion(
        infusion_id=day_2.pk, user=nurse, checklist=FULL_CHECKLIST, vials=day_vials(day_2), started_at=started
    )
    assert not LabCheck.objects.filter(order=order).exists()
    infusion_services.complete_infusion(
        infusion_id=day_2.pk, user=nurse, completed_at=started + timedelta(hours=2), volume_infused_ml=day_2.volume_ml
    )
    check = LabCheck.objects.get(order=order)
    assert (check.test, check.label, check.due_at) == ("creatinine", "before_day_3", started + timedelta(hours=2))
    # A creatinine since the first start answers it.
    typed(patient, UserFactory(role="nurse"), "creatinine", "85", "umol/L", started + timedelta(hours=3))
    check.refresh_from_db()
    assert check.status == "resulted"


def test_the_lab_checks_read_through_the_api(client_for, nurse, hematologist):
    patient = patient_with_pre_course_labs(by=nurse, days_ago=4, renal_impairment=True)
    order = given_order(patient=patient, prescriber=hematologist, nurse=nurse, completed_hours_ago=50)
    body = client_for(nurse).get(f"/api/v1/lab-checks/?order={order.pk}").json()
    (row,) = body["results"]
    assert (row["test"], row["label"], row["status"]) == ("creatinine", "post_course", "scheduled")
    assert timezone.now() < timezone.datetime.fromisoformat(row["due_at"])


def test_the_nurse_worklist_lists_a_lab_check_due_and_records_its_value_back_to_the_worklist(
    client, nurse, hematologist
):
    patient = patient_with_pre_course_labs(by=nurse, days_ago=4, renal_impairment=True)
    order = given_order(patient=patient, prescriber=hematologist, nurse=nurse, completed_hours_ago=74)
    services.run_sweep()
    client.force_login(nurse)
    html = client.get("/nurse/").content.decode()
    assert 'data-testid="lab-check-row"' in html and "Creatinine" in html

    collected = timezone.localtime(last_end(order) + timedelta(hours=60)).strftime("%Y-%m-%dT%H:%M")
    saved = client.post(
        f"/patients/{patient.pk}/labs/",
        {
            "test": "creatinine",
            "value": "90",
            "unit_creatinine": "µmol/L",
            "collected_at": collected,
            "return_to": "worklist",
        },
    )
    assert saved.status_code == 302
    assert LabCheck.objects.get(order=order).status == "resulted"
    refused = client.post(
        f"/patients/{patient.pk}/labs/",
        {
            "test": "creatinine",
            "value": "9000",
            "unit_creatinine": "µmol/L",
            "collected_at": collected,
            "return_to": "worklist",
        },
    )
    assert refused.status_code == 400
    assert 'value="9000"' in refused.content.decode()


def test_the_hematologists_dashboard_shows_a_renal_decline_with_the_course_on_hold(client, nurse, hematologist):
    patient = patient_with_pre_course_labs(by=nurse, days_ago=2, renal_impairment=True)
    order = given_order(
        patient=patient, prescriber=hematologist, nurse=nurse, completed_hours_ago=20, regimen="two_days_1g_per_kg"
    )
    typed(
        patient, nurse, "creatinine", "130", "umol/L", order.infusions.get(day_number=1).ended_at + timedelta(hours=12)
    )
    client.force_login(hematologist)
    html = client.get("/hematology/").content.decode()
    assert 'data-testid="lab-safety-alerts"' in html
    assert "Creatinine rise after IVIG" in html and "on hold" in html


def test_a_pre_course_creatinine_that_arrives_late_becomes_the_reference_and_shows_the_rise(nurse, hematologist):
    patient = patient_with_pre_course_labs(by=nurse, days_ago=10, renal_impairment=True)
    LabResult.objects.filter(patient=patient, test="creatinine").update(value_si=Decimal("120"))  # 10 days old
    order = given_order(patient=patient, prescriber=hematologist, nurse=nurse, completed_hours_ago=74)
    ended = last_end(order)
    first_start = order.infusions.get(day_number=1).started_at
    typed(patient, nurse, "creatinine", "140", "umol/L", ended + timedelta(hours=50))
    assert not Notification.objects.filter(kind="renal_decline").exists()  # 20 above the only reference, 120

    # The laboratory's pre-course value of the day before arrives late: the reference is now 80, and 140 a rise.
    typed(patient, nurse, "creatinine", "80", "umol/L", first_start - timedelta(days=1))
    (alert,) = Notification.objects.filter(kind="renal_decline")
    assert "60 µmol/L above" in alert.message and "the reference 80 µmol/L" in alert.message


def test_a_hold_after_a_creatinine_rise_and_its_review_show_on_the_order_and_the_running_bedside(
    client, nurse, hematologist
):
    patient = patient_with_pre_course_labs(by=nurse, days_ago=2, renal_impairment=True)
    order = given_order(
        patient=patient, prescriber=hematologist, nurse=nurse, completed_hours_ago=20, regimen="two_days_1g_per_kg"
    )
    typed(
        patient, nurse, "creatinine", "130", "umol/L", order.infusions.get(day_number=1).ended_at + timedelta(hours=2)
    )
    client.force_login(nurse)
    day_1 = order.infusions.get(day_number=1)
    bedside = client.get(f"/orders/infusions/{day_1.pk}/").content.decode()
    assert 'data-testid="banner-on-hold"' in bedside and "renal_decline: creatinine rise after IVIG" in bedside

    infusion_services.review_hold(
        order_id=order.pk, user=hematologist, decision="continue", reason="Creatinine back to 90 on repeat"
    )
    client.force_login(hematologist)
    page = client.get(f"/orders/{order.pk}/").content.decode()
    assert 'data-testid="hold-reviewed"' in page and "Creatinine back to 90 on repeat" in page
