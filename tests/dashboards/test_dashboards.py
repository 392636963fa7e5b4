from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitoring import services
from monitoring.models import PlateletCheck
from tests.factories import given_order, non_responding_order, verified_order

pytestmark = pytest.mark.db


def non_responder(hematologist, nurse):
    return non_responding_order(prescriber=hematologist, nurse=nurse)


def responder(hematologist, nurse):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    started = order.infusions.get().started_at
    services.record_platelet_result(
        check_id=PlateletCheck.objects.get(order=order, label="24h").pk,
        platelet_count=150,
        collected_at=started + timedelta(hours=26),
        bleeding=False,
    )
    return order


def queries_for(client, url):
    client.get(url)  # warm: the pharmacy totals are cached after the first request
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_non_responders_awaiting_a_decision_come_first_with_counts(client, hematologist, nurse):
    responder(hematologist, nurse)
    late = non_responder(hematologist, nurse)
    client.force_login(hematologist)
    html = client.get("/hematology/").content.decode()
    assert html.index(late.patient.mrn) < html.index("repeat dose: decide") + 400
    rows = html.split('data-testid="course-row"')[1:]
    assert 'data-category="no_response"' in rows[0].split(">")[0]
    assert "No response <strong>1</strong>" in html
    assert "Complete response <strong>1</strong>" in html


def test_filters_narrow_the_list(client, hematologist, nurse):
    responder(hematologist, nurse)
    late = non_responder(hematologist, nurse)
    client.force_login(hematologist)
    assert client.get("/hematology/?category=no_response").content.decode().count('data-testid="course-row"') == 1
    assert late.patient.mrn in client.get(f"/hematology/?q={late.patient.mrn}").content.decode()
    assert client.get("/hematology/?q=nobody-xyz").content.decode().count('data-testid="course-row"') == 0
    other = verified_order()  # another hematologist's patient
    mine = client.get("/hematology/?mine=1").content.decode()
    assert other.patient.mrn not in mine and late.patient.mrn in mine


def test_the_hematologist_dashboard_runs_a_constant_number_of_queries(client, hematologist, nurse):
    client.force_login(hematologist)
    responder(hematologist, nurse)
    small = queries_for(client, "/hematology/")
    for _ in range(5):
        responder(hematologist, nurse)
        non_responder(hematologist, nurse)
    assert queries_for(client, "/hematology/") == small


def test_the_nurse_worklist_runs_a_constant_number_of_queries(client, hematologist, nurse):
    client.force_login(nurse)
    verified_order(prescriber=hematologist)
    given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=25)
    services.run_sweep()
    small = queries_for(client, "/nurse/")
    for _ in range(5):
        verified_order(prescriber=hematologist)
        given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=25)
    services.run_sweep()
    assert queries_for(client, "/nurse/") == small


def test_the_worklist_shows_todays_infusions_checks_due_and_unread_notifications(client, hematologist, nurse):
    today = verified_order(prescriber=hematologist)
    given = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=25)
    services.run_sweep()
    client.force_login(nurse)
    html = client.get("/nurse/").content.decode()
    assert today.patient.mrn in html
    assert 'data-testid="checks-due"' in html and given.patient.mrn in html
    assert "is due" in html  # the unread reminder


def test_the_patient_response_page_draws_the_trend_and_offers_the_decision(client, hematologist, nurse):
    order = non_responder(hematologist, nurse)
    client.force_login(hematologist)
    html = client.get(f"/hematology/patients/{order.patient_id}/").content.decode()
    assert html.count('class="point"') == 3
    assert 'data-testid="repeat-pending"' in html
    assert "Accept: draft the repeat order" in html


def test_monthly_use_shows_grams_saved_by_dosing_weight_and_rounding(client, pharmacist, hematologist):
    # docs/clinical-rules.md reference §9.1 case 1: actual 82 g, dosing weight 76.7 g, dispensed 75 g.
    verified_order(prescriber=hematologist)
    client.force_login(pharmacist)
    html = client.get("/pharmacy/").content.decode()
    row = html.split('data-testid="monthly-use"')[1]
    assert "82 g" in row and "76.71 g" in row and "75 g" in row
    assert "5.29 g" in row and "1.71 g" in row and "7 g" in row


def test_the_csv_export_has_one_row_per_order_with_its_working(client, pharmacist, hematologist):
    verified_order(prescriber=hematologist)
    client.force_login(pharmacist)
    response = client.get("/pharmacy/orders.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1
    assert (rows[0]["dosing_weight_kg"], rows[0]["rounded_dose_per_day_g"], rows[0]["vials_per_day"]) == (
        "76.71",
        "75.00",
        "1 × 40 g + 1 × 20 g + 1 × 10 g + 1 × 5 g",
    )
    assert Decimal(rows[0]["total_dose_g"]) == Decimal("75")


def test_the_csv_export_writes_an_mrn_that_looks_like_a_formula_as_text(client, pharmacist, hematologist):
    # OWASP CSV injection: opened in a spreadsheet, this MRN would be a live link (or worse) in the pharmacist's sheet.
    formula = '=HYPERLINK("http://ev.il","x")'
    verified_order(prescriber=hematologist, mrn=formula)
    client.force_login(pharmacist)
    response = client.get("/pharmacy/orders.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["mrn"] for row in rows] == ["'" + formula]


@pytest.mark.parametrize("path", ["/hematology/", "/pharmacy/", "/nurse/"])
def test_each_dashboard_belongs_to_its_role(client, role_user, path):
    client.force_login(role_user("pharmacist" if path != "/pharmacy/" else "nurse", username="other"))
    assert client.get(path).status_code == 403
    assert timezone.now()
