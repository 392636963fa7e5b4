"""The hematologist's response page (docs/clinical-rules.md §A12): results shown with what they count toward,
corrections and withdrawals with their reason, the WHO grade of a lab result, co-therapies, and the loss of
response beside the best category here and on the review list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring import services
from monitoring.models import PlateletCheck, PlateletResult
from patients.models import CoTherapy
from tests.factories import given_order

pytestmark = pytest.mark.db


def local(moment):
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def course(nurse, hematologist):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=200)
    order.baseline_platelet_count = 10
    order.save(update_fields=["baseline_platelet_count"])
    return order


def record(order, label, count, hours, **extra):
    started = order.infusions.get().started_at
    return services.record_platelet_result(
        check_id=PlateletCheck.objects.get(order=order, label=label).pk,
        platelet_count=count,
        collected_at=started + timedelta(hours=hours),
        **({"bleeding": False} | extra),
    )


def page_of(client, order):
    return client.get(f"/hematology/patients/{order.patient_id}/", {"order": order.pk}).content.decode()


def test_a_typo_is_corrected_on_the_page_with_its_reason_and_both_values_stay(client, hematologist, course):
    typo = record(course, "24h", 250, 24)
    client.force_login(hematologist)
    url = f"/hematology/patients/{course.patient_id}/results/{typo.pk}/correct/"

    done = client.post(
        url,
        {
            "platelet_count": "25",
            "collected_at": local(typo.collected_at),
            "reason": "typed 250 for 25",
            "order": course.pk,
        },
    )

    assert done.status_code == 302
    html = page_of(client, course)
    assert "corrected: typed 250 for 25" in html and "superseded by a correction" in html
    assert [r.status for r in PlateletResult.objects.filter(order=course).order_by("pk")] == ["superseded", "corrected"]


def test_a_correction_without_a_reason_keeps_what_was_typed_beside_the_error(client, hematologist, course):
    typo = record(course, "24h", 250, 24)
    client.force_login(hematologist)
    url = f"/hematology/patients/{course.patient_id}/results/{typo.pk}/correct/"

    refused = client.post(
        url, {"platelet_count": "25", "collected_at": local(typo.collected_at), "reason": "", "order": course.pk}
    )

    assert refused.status_code == 400
    html = refused.content.decode()
    assert 'name="platelet_count" inputmode="numeric" value="25"' in html
    assert "Give the reason (what was wrong)." in html
    assert PlateletResult.objects.filter(order=course).count() == 1
    letters = client.post(url, {"platelet_count": "2x5", "reason": "typo", "order": course.pk})
    assert letters.status_code == 400 and "whole number" in letters.content.decode()


def test_a_lab_result_asks_for_the_bleeding_grade_and_the_response_follows_it(client, nurse, hematologist, course):
    lab = record(course, "24h", 150, 24, bleeding=None, source=PlateletResult.Source.HL7)
    client.force_login(hematologist)
    html = page_of(client, course)
    assert 'data-testid="bleeding-unassessed"' in html and 'data-testid="bleeding-form"' in html
    assert 'data-testid="correct-form"' not in html  # the laboratory corrects its own results

    client.post(
        f"/hematology/patients/{course.patient_id}/results/{lab.pk}/bleeding/", {"who_grade": "0", "order": course.pk}
    )

    html = page_of(client, course)
    assert 'data-testid="bleeding-unassessed"' not in html
    assert "Complete response" in html


def test_a_co_therapy_is_recorded_on_the_page_and_a_bad_one_keeps_what_was_typed(client, nurse, course):
    client.force_login(nurse)
    url = f"/hematology/patients/{course.patient_id}/co-therapies/"
    when = local(course.infusions.get().started_at - timedelta(hours=2))

    refused = client.post(
        url, {"kind": "corticosteroid", "drug": "dexamethasone", "dose": "", "given_from": when, "order": course.pk}
    )
    assert refused.status_code == 400
    html = refused.content.decode()
    assert 'value="dexamethasone"' in html and "Give the dose." in html
    assert not CoTherapy.objects.exists()

    client.post(
        url,
        {
            "kind": "corticosteroid",
            "drug": "dexamethasone",
            "dose": "40",
            "dose_unit": "mg",
            "given_from": when,
            "order": course.pk,
        },
    )
    record(course, "24h", 120, 24)
    html = page_of(client, course)
    assert "dexamethasone 40 mg" in html
    assert 'data-testid="with-corticosteroids"' in html


def test_a_loss_of_response_shows_beside_the_best_category_and_comes_first_on_the_review_list(
    client, nurse, hematologist, course
):
    other = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    record(other, "24h", 5, 24)
    for label, count, hours in [("24h", 130, 24), ("48h", 20, 48), ("72h", 15, 72)]:
        record(course, label, count, hours)
    client.force_login(hematologist)

    assert "loss of response: confirmed" in page_of(client, course)
    orders = client.get(f"/orders/for-patient/{course.patient_id}/").content.decode()
    assert 'Complete response</a> <span class="badge high">loss of response</span>' in orders
    review = client.get("/hematology/").content.decode()
    first_row = review[review.index('data-testid="course-row"') :]
    first_row = first_row[: first_row.index("</tr>")]
    assert course.patient.mrn in first_row and 'data-testid="loss-of-response"' in first_row
    only_losses = client.get("/hematology/", {"loss": "1"}).content.decode()
    assert course.patient.mrn in only_losses and other.patient.mrn not in only_losses
