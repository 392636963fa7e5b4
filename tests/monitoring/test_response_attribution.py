"""docs/clinical-rules.md §A12 through the API: the scenarios a realistic course showed, each giving the clinically
right answer now."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from infusions import services as infusion_services
from monitoring import services
from monitoring.models import Notification, PlateletCheck, PlateletResult
from tests.factories import FULL_CHECKLIST, NORMAL_VITALS, day_vials, given_order, verified_order

pytestmark = pytest.mark.db


def iso(moment):
    return moment.isoformat()


def response(api, order):
    return api.get(f"/api/v1/orders/{order.pk}/response/").json()


def check_result(order, label, count, hours_after_start, **extra):
    started = order.infusions.order_by("day_number").first().started_at
    return services.record_platelet_result(
        check_id=PlateletCheck.objects.get(order=order, label=label).pk,
        platelet_count=count,
        collected_at=started + timedelta(hours=hours_after_start),
        **({"bleeding": False} | extra),
    )


@pytest.fixture
def running(nurse, hematologist):
    """A course whose only infusion started 40 minutes ago and is still running."""
    order = verified_order(prescriber=hematologist)
    infusion = order.infusions.get()
    started = timezone.now() - timedelta(minutes=40)
    infusion_services.record_vitals(infusion_id=infusion.pk, user=nurse, values=NORMAL_VITALS, taken_at=started)
    infusion_services.start_infusion(
        infusion_id=infusion.pk, user=nurse, checklist=FULL_CHECKLIST, vials=day_vials(infusion), started_at=started
    )
    return order


def test_a_count_20_minutes_into_the_infusion_after_a_platelet_transfusion_counts_toward_nothing(
    client_for, nurse, hematologist, running
):
    api = client_for(nurse)
    started = running.infusions.get().started_at
    transfused = api.post(
        f"/api/v1/patients/{running.patient_id}/co-therapies/",
        {"kind": "platelet_transfusion", "units": 1, "given_from": iso(started - timedelta(hours=1))},
    )
    assert transfused.status_code == 201, transfused.json()

    counted = api.post(
        "/api/v1/platelet-results/",
        {
            "patient": running.patient_id,
            "platelet_count": 60,
            "collected_at": iso(started + timedelta(minutes=20)),
            "bleeding_who_grade": 0,
        },
    )

    assert counted.status_code == 201, counted.json()
    body = counted.json()
    assert (body["order"], body["entered_for_order"], body["not_attributed_reason"]) == (
        None,
        running.pk,
        "during_infusion",
    )
    assert (
        response(client_for(hematologist), running)["category"],
        response(api, running)["time_to_response_hours"],
    ) == (
        "pending",
        None,
    )


def test_a_count_65_days_after_the_infusion_leaves_a_confirmed_non_responder_and_the_flag_alone(
    client_for, nurse, hematologist
):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=70 * 24)
    order.baseline_platelet_count = 5
    order.save(update_fields=["baseline_platelet_count"])
    for label, count, hours in [("24h", 9, 24), ("48h", 14, 48), ("72h", 22, 72)]:
        check_result(order, label, count, hours)
    assert response(client_for(hematologist), order)["repeat_dose_recommended"] is True
    started = order.infusions.get().started_at

    late = client_for(nurse).post(
        "/api/v1/platelet-results/",
        {
            "patient": order.patient_id,
            "platelet_count": 180,
            "collected_at": iso(started + timedelta(days=65)),
            "bleeding_who_grade": 0,
        },
    )

    assert late.json()["not_attributed_reason"] == "after_course_window"
    body = response(client_for(hematologist), order)
    assert (body["category"], body["best_platelet_count"], body["repeat_dose_recommended"]) == ("no_response", 22, True)


def test_a_10x_typo_in_an_ad_hoc_result_is_corrected_and_the_response_worked_out_again(client_for, nurse, hematologist):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    order.baseline_platelet_count = 10
    order.save(update_fields=["baseline_platelet_count"])
    api = client_for(nurse)
    started = order.infusions.get().started_at
    typo = api.post(
        "/api/v1/platelet-results/",
        {
            "patient": order.patient_id,
            "platelet_count": 250,
            "collected_at": iso(started + timedelta(hours=26)),
            "bleeding_who_grade": 0,
        },
    ).json()
    assert response(api, order)["category"] == "complete_response"

    fixed = api.post(
        f"/api/v1/platelet-results/{typo['id']}/correct/", {"platelet_count": 25, "reason": "typed 250 for 25"}
    )

    assert fixed.status_code == 201, fixed.json()
    assert (fixed.json()["status"], fixed.json()["supersedes"], fixed.json()["platelet_count"]) == (
        "corrected",
        typo["id"],
        25,
    )
    old = api.get(f"/api/v1/platelet-results/{typo['id']}/").json()
    assert (old["status"], old["superseded_by"], old["not_attributed_reason"]) == (
        "superseded",
        fixed.json()["id"],
        "superseded",
    )
    body = response(api, order)
    assert (body["category"], body["best_platelet_count"]) == ("no_response", 25)
    # A correction without a reason changes nothing.
    refused = api.post(f"/api/v1/platelet-results/{fixed.json()['id']}/correct/", {"platelet_count": 30, "reason": " "})
    assert refused.status_code == 400 and "reason" in refused.json()
    assert PlateletResult.objects.filter(order=order).count() == 2


def test_a_correction_after_the_non_response_notification_tells_the_hematologist(client_for, nurse, hematologist):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=100)
    order.baseline_platelet_count = 5
    order.save(update_fields=["baseline_platelet_count"])
    results = [check_result(order, label, count, hours) for label, count, hours in [("24h", 9, 24), ("72h", 22, 72)]]
    assert Notification.objects.filter(kind="non_response").count() == 1

    client_for(nurse).post(
        f"/api/v1/platelet-results/{results[1].pk}/correct/", {"platelet_count": 122, "reason": "wrong patient's label"}
    )

    told = Notification.objects.get(kind="result_corrected", recipient=hematologist)
    assert "corrected: wrong patient's label" in told.message and "complete response" in told.message
    assert response(client_for(hematologist), order)["repeat_dose_recommended"] is False


def test_a_check_result_entered_in_error_is_withdrawn_and_the_check_is_owed_again(client_for, nurse, hematologist):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    result = check_result(order, "24h", 40, 24)
    withdrawn = client_for(nurse).post(
        f"/api/v1/platelet-results/{result.pk}/entered-in-error/", {"reason": "another patient's sample"}
    )
    assert withdrawn.status_code == 200, withdrawn.json()
    assert (withdrawn.json()["status"], withdrawn.json()["change_reason"]) == (
        "entered_in_error",
        "another patient's sample",
    )
    check = PlateletCheck.objects.get(order=order, label="24h")
    assert (check.status, check.platelet_count) == ("due", None)
    assert PlateletResult.objects.filter(pk=result.pk).exists()


def test_a_lab_result_leaves_bleeding_not_assessed_until_staff_record_the_grade(client_for, nurse, hematologist):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    lab = check_result(order, "24h", 150, 24, bleeding=None, source=PlateletResult.Source.HL7)
    api = client_for(nurse)
    assert api.get(f"/api/v1/platelet-results/{lab.pk}/").json()["bleeding_assessed"] is False
    body = response(api, order)
    assert (body["category"], body["bleeding_unassessed"]) == ("complete_response", True)

    graded = api.post(f"/api/v1/platelet-results/{lab.pk}/bleeding/", {"who_grade": 2})

    assert (graded.json()["bleeding_assessed"], graded.json()["bleeding"]) == (True, True)
    body = response(api, order)
    assert (body["category"], body["bleeding_unassessed"]) == ("no_response", False)
    # The laboratory corrects its own results; staff record the bleeding.
    assert (
        api.post(f"/api/v1/platelet-results/{lab.pk}/correct/", {"platelet_count": 15, "reason": "x"}).status_code
        == 409
    )


def test_a_confirmed_loss_of_response_is_shown_and_told_once(client_for, nurse, hematologist):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=200)
    check_result(order, "24h", 130, 24)
    check_result(order, "48h", 40, 48)
    assert response(client_for(hematologist), order)["loss_of_response"] == "unconfirmed"
    assert not Notification.objects.filter(kind="loss_of_response").exists()
    check_result(order, "72h", 30, 72)
    check_result(order, "7d", 20, 168)

    body = response(client_for(hematologist), order)
    assert (body["category"], body["loss_of_response"]) == ("complete_response", "confirmed")
    assert Notification.objects.filter(kind="loss_of_response", recipient=hematologist).count() == 1


def test_an_unconfirmed_loss_with_bleeding_is_told_at_once(client_for, nurse, hematologist):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=200)
    check_result(order, "24h", 130, 24)
    check_result(order, "48h", 6, 48, bleeding=None, bleeding_who_grade=3)
    body = response(client_for(hematologist), order)
    assert body["loss_of_response"] == "unconfirmed"
    assert Notification.objects.filter(kind="loss_of_response", recipient=hematologist).count() == 1


def test_the_non_response_flag_waits_for_day_2_to_be_given(client_for, nurse, hematologist):
    order = given_order(regimen="two_days_1g_per_kg", prescriber=hematologist, nurse=nurse, completed_hours_ago=80)
    order.baseline_platelet_count = 5
    order.save(update_fields=["baseline_platelet_count"])
    check_result(order, "72h", 9, 76)
    assert response(client_for(hematologist), order)["repeat_dose_recommended"] is False

    # No response: A1 does not let day 2 be withheld, so the course ends when day 2 has been given.
    day2 = order.infusions.get(day_number=2)
    day2_started = order.infusions.get(day_number=1).ended_at + timedelta(hours=22)
    infusion_services.record_vitals(infusion_id=day2.pk, user=nurse, values=NORMAL_VITALS, taken_at=day2_started)
    infusion_services.start_infusion(
        infusion_id=day2.pk, user=nurse, checklist=FULL_CHECKLIST, vials=day_vials(day2), started_at=day2_started
    )
    infusion_services.complete_infusion(
        infusion_id=day2.pk,
        user=nurse,
        completed_at=day2_started + timedelta(hours=2),
        volume_infused_ml=day2.volume_ml,
    )
    assert response(client_for(hematologist), order)["repeat_dose_recommended"] is True


def test_a_corticosteroid_in_the_14_days_before_the_response_marks_it(client_for, nurse, hematologist):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    started = order.infusions.get().started_at
    steroid = client_for(hematologist).post(
        f"/api/v1/patients/{order.patient_id}/co-therapies/",
        {
            "kind": "corticosteroid",
            "drug": "prednisolone",
            "dose": "60",
            "dose_unit": "mg",
            "route": "oral",
            "given_from": iso(started - timedelta(days=3)),
            "given_until": iso(started),
        },
    )
    assert steroid.status_code == 201, steroid.json()
    check_result(order, "24h", 120, 24)
    assert response(client_for(hematologist), order)["with_corticosteroids"] is True
    shown = client_for(hematologist).get(f"/api/v1/orders/{order.pk}/").json()["co_therapies"]
    assert [(t["kind"], t["drug"], t["dose"]) for t in shown] == [("corticosteroid", "prednisolone", 60.0)]

    client_for(nurse).post(
        f"/api/v1/co-therapies/{steroid.json()['id']}/entered-in-error/", {"reason": "other patient"}
    )
    assert response(client_for(hematologist), order)["with_corticosteroids"] is False
    assert client_for(hematologist).get(f"/api/v1/orders/{order.pk}/").json()["co_therapies"] == []


def test_a_co_therapy_without_what_its_kind_needs_is_refused_in_words(client_for, nurse, pharmacist, running):
    api = client_for(nurse)
    url = f"/api/v1/patients/{running.patient_id}/co-therapies/"
    refused = api.post(url, {"kind": "corticosteroid", "given_from": iso(timezone.now())})
    assert refused.status_code == 400
    assert refused.json() == {"drug": ["Name the drug."], "dose": ["Give the dose."]}
    future = api.post(
        url, {"kind": "platelet_transfusion", "units": 1, "given_from": iso(timezone.now() + timedelta(hours=2))}
    )
    assert future.json() == {"given_from": ["A co-therapy is recorded once given, not in advance."]}
    assert (
        client_for(pharmacist)
        .post(url, {"kind": "diuretic", "drug": "furosemide", "given_from": iso(timezone.now())})
        .status_code
        == 403
    )
    assert api.get(url).json()["count"] == 0


def test_follow_up_checks_remind_the_prescriber_not_the_nurses_and_fall_overdue_72_hours_later(nurse, hematologist):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=15 * 24)
    follow_up = PlateletCheck.objects.get(order=order, label="14d")
    services.run_sweep(now=follow_up.due_at + timedelta(hours=1))
    follow_up.refresh_from_db()
    assert follow_up.status == "due"
    told = Notification.objects.filter(platelet_check=follow_up)
    assert [n.recipient for n in told] == [hematologist]
    services.run_sweep(now=follow_up.due_at + timedelta(hours=71))
    follow_up.refresh_from_db()
    assert follow_up.status == "due"
    services.run_sweep(now=follow_up.due_at + timedelta(hours=72))
    follow_up.refresh_from_db()
    assert follow_up.status == "overdue"


def test_a_new_course_supersedes_the_earlier_courses_open_follow_ups(nurse, hematologist, pharmacist):
    first = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=10 * 24)
    second = verified_order(patient=first.patient, prescriber=hematologist, verifier=pharmacist)
    infusion = second.infusions.get()
    infusion_services.record_vitals(infusion_id=infusion.pk, user=nurse, values=NORMAL_VITALS)
    infusion_services.start_infusion(
        infusion_id=infusion.pk, user=nurse, checklist=FULL_CHECKLIST, vials=day_vials(infusion)
    )

    follow_ups = PlateletCheck.objects.filter(order=first, label__in=["14d", "28d"])
    assert {(c.status, c.cancel_reason) for c in follow_ups} == {("cancelled", f"Superseded by order #{second.pk}")}
    assert PlateletCheck.objects.get(order=first, label="7d").status != "cancelled"


def test_follow_up_checks_can_be_turned_off(settings, nurse, hematologist):
    settings.IVIG_FOLLOW_UP_CHECKS = False
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=2)
    assert sorted(PlateletCheck.objects.filter(order=order).values_list("label", flat=True)) == [
        "24h",
        "48h",
        "72h",
        "7d",
    ]


def test_a_withdrawn_result_is_entered_in_error_in_fhir_and_no_longer_closes_its_task(client_for, nurse, hematologist):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    result = check_result(order, "24h", 40, 24)
    api = client_for(nurse)
    api.post(f"/api/v1/platelet-results/{result.pk}/entered-in-error/", {"reason": "another patient's sample"})

    observation = api.get(f"/fhir/R4/Observation/plt-{result.pk}").json()
    assert observation["status"] == "entered-in-error"
    check = PlateletCheck.objects.get(order=order, label="24h")
    task = api.get(f"/fhir/R4/Task/{check.pk}").json()
    assert task["status"] != "completed"


def test_the_day_2_prompt_reads_the_latest_count_that_counts_and_not_one_after_a_transfusion(
    client, client_for, nurse, hematologist
):
    order = given_order(regimen="two_days_1g_per_kg", prescriber=hematologist, nurse=nurse, completed_hours_ago=22)
    order.baseline_platelet_count = 10
    order.save(update_fields=["baseline_platelet_count"])
    day1, day2 = order.infusions.get(day_number=1), order.infusions.get(day_number=2)
    client.force_login(nurse)
    prompt = f"/monitoring/infusions/{day2.pk}/day2/"
    assert 'data-testid="day2-prompt"' not in client.get(prompt).content.decode()

    services.record_platelet_result(
        order_id=order.pk, platelet_count=45, collected_at=day1.ended_at + timedelta(hours=18), bleeding=False
    )
    shown = client.get(prompt).content.decode()
    assert 'data-testid="day2-prompt"' in shown and "45 ×10⁹/L" in shown

    # A transfusion two hours before that count: it measures the transfusion, and the prompt goes.
    client_for(nurse).post(
        f"/api/v1/patients/{order.patient_id}/co-therapies/",
        {"kind": "platelet_transfusion", "units": 2, "given_from": iso(day1.ended_at + timedelta(hours=16))},
    )
    assert 'data-testid="day2-prompt"' not in client.get(prompt).content.decode()


def test_the_worklist_asks_for_the_bleeding_grade_of_a_lab_count_and_keeps_the_choice_on_error(
    client, nurse, hematologist
):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    lab = check_result(order, "24h", 150, 24, bleeding=None, source=PlateletResult.Source.HL7)
    client.force_login(nurse)
    worklist = client.get("/nurse/").content.decode()
    assert 'data-testid="bleeding-to-grade"' in worklist and f'id="bleeding-{lab.pk}"' in worklist

    url = f"/monitoring/results/{lab.pk}/worklist-bleeding/"
    too_high = client.post(url, {"who_grade": "9"}, HTTP_HX_REQUEST="true").content.decode()
    assert "The WHO bleeding grade is 0 to 4." in too_high
    assert (
        "Choose the WHO bleeding grade" in client.post(url, {"who_grade": ""}, HTTP_HX_REQUEST="true").content.decode()
    )
    recorded = client.post(url, {"who_grade": "3"}, HTTP_HX_REQUEST="true").content.decode()
    assert "WHO bleeding grade 3 recorded — No response." in recorded
    assert 'data-testid="bleeding-to-grade"' not in client.get("/nurse/").content.decode()


def test_a_new_course_supersedes_the_earlier_courses_checks_still_to_come(nurse, hematologist, pharmacist):
    first = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=4 * 24)
    second = verified_order(patient=first.patient, prescriber=hematologist, verifier=pharmacist)
    infusion = second.infusions.get()
    infusion_services.record_vitals(infusion_id=infusion.pk, user=nurse, values=NORMAL_VITALS)
    infusion_services.start_infusion(
        infusion_id=infusion.pk, user=nurse, checklist=FULL_CHECKLIST, vials=day_vials(infusion)
    )

    statuses = dict(PlateletCheck.objects.filter(order=first).values_list("label", "status"))
    # The 7-day check falls after the new start: a count then belongs to the new course.
    assert statuses["7d"] == "cancelled" and statuses["14d"] == "cancelled"
    assert statuses["72h"] != "cancelled"


def test_a_recorded_bleeding_grade_is_changed_by_a_correction_not_overwritten(client_for, nurse, hematologist):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    lab = check_result(order, "24h", 150, 24, bleeding=None, source=PlateletResult.Source.HL7)
    api = client_for(nurse)
    assert api.post(f"/api/v1/platelet-results/{lab.pk}/bleeding/", {"who_grade": 3}).status_code == 200
    assert api.post(f"/api/v1/platelet-results/{lab.pk}/bleeding/", {"who_grade": 0}).status_code == 409

    regraded = api.post(
        f"/api/v1/platelet-results/{lab.pk}/correct/", {"bleeding_who_grade": 0, "reason": "bruise only"}
    )

    assert regraded.status_code == 201, regraded.json()
    assert (regraded.json()["bleeding"], regraded.json()["platelet_count"]) == (False, 150)
    assert response(api, order)["category"] == "complete_response"


def test_a_laboratory_result_from_another_patients_sample_is_withdrawn_with_the_reason(client_for, nurse, hematologist):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    lab = check_result(order, "24h", 150, 24, bleeding=None, source=PlateletResult.Source.HL7)
    withdrawn = client_for(nurse).post(
        f"/api/v1/platelet-results/{lab.pk}/entered-in-error/", {"reason": "sample of another patient, lab informed"}
    )
    assert withdrawn.json()["status"] == "entered_in_error"
    assert response(client_for(nurse), order)["category"] == "pending"


def test_staff_cannot_overwrite_a_laboratory_result_by_entering_the_check_again(client_for, nurse, hematologist):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    check_result(order, "24h", 150, 24, bleeding=None, source=PlateletResult.Source.HL7)
    check_id = PlateletCheck.objects.get(order=order, label="24h").pk
    started = order.infusions.get().started_at
    again = client_for(nurse).post(
        f"/api/v1/platelet-checks/{check_id}/result/",
        {"platelet_count": 15, "collected_at": iso(started + timedelta(hours=24)), "bleeding": False},
    )
    assert again.status_code == 409
    assert PlateletResult.objects.filter(order=order).count() == 1


@pytest.mark.parametrize("superscript", ["²", "٣"])
def test_digits_of_other_scripts_are_refused_not_a_server_error(client, nurse, hematologist, superscript):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=60)
    typed = check_result(order, "24h", 40, 24)
    lab = check_result(order, "48h", 45, 48, bleeding=None, source=PlateletResult.Source.HL7)
    client.force_login(nurse)
    patient = order.patient_id
    corrected = client.post(
        f"/hematology/patients/{patient}/results/{typed.pk}/correct/", {"platelet_count": superscript, "reason": "x"}
    )
    assert corrected.status_code == 400
    graded = client.post(f"/monitoring/results/{lab.pk}/worklist-bleeding/", {"who_grade": superscript})
    assert graded.status_code == 200 and "Choose the WHO bleeding grade" in graded.content.decode()
    units = client.post(
        f"/hematology/patients/{patient}/co-therapies/",
        {"kind": "platelet_transfusion", "units": superscript, "given_from": "2026-01-01T10:00"},
    )
    assert units.status_code == 400 and "Enter a whole number from 1 to 20." in units.content.decode()
    withdraw = client.post(f"/hematology/patients/{patient}/co-therapies/", {"withdraw": superscript, "reason": "x"})
    assert withdraw.status_code == 404
