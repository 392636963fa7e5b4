"""The verification queue: one row per draft order with what verifying it would meet now, the working on demand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from infusions import services
from infusions.models import Order, Product
from patients.models import ReportedIvigReaction
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.db


def draft(prescriber, overrides=None, **patient_kwargs):
    patient = PatientFactory(**patient_kwargs)
    return services.create_order(
        data={
            "patient": patient,
            "regimen": "one_dose_1g_per_kg",
            "product": Product.objects.get(name="Gamunex-C"),
            "baseline_platelet_count": 12,
            "first_infusion_on": timezone.localdate(),
        },
        user=prescriber,
        overrides=overrides,
    )


def queries_for(client, url):
    client.get(url)  # warm: the pharmacy totals are cached after the first request
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def rows_of(html):
    return html.split('data-testid="queue-entry"')[1:]


def test_each_draft_is_one_row_with_its_dose_and_first_infusion_date_not_its_full_working(
    client, hematologist, pharmacist
):
    order = draft(hematologist)
    client.force_login(pharmacist)
    html = client.get("/orders/verify/").content.decode()
    (row,) = rows_of(html)
    assert f"Order #{order.pk}" in row and "75 g per day" in row and str(timezone.localdate()) in row
    assert "Dosing weight" not in html  # the working is opened on demand
    fragment = client.get(f"/orders/{order.pk}/working/").content.decode()
    assert "Dosing weight" in fragment and "75 g per day" in fragment


def test_a_hard_stop_is_a_red_badge_and_an_override_stop_an_amber_one(client, hematologist, pharmacist):
    missing_iga = draft(hematologist, serum_iga_mg_dl=None, iga_measured_on=None)
    reacted = draft(hematologist)
    ReportedIvigReaction.objects.create(
        patient=reacted.patient,
        occurred_on=date(2024, 5, 1),
        product="Octagam",
        ctcae_grade=3,
        where="St Elsewhere",
        recorded_by=hematologist,
    )
    client.force_login(pharmacist)
    html = client.get("/orders/verify/").content.decode()
    rows = {row.split('data-order="')[1].split('"')[0]: row for row in rows_of(html)}
    assert 'class="badge high" data-stop="iga_result_missing"' in rows[str(missing_iga.pk)]
    assert 'class="badge warn" data-stop="previous_severe_reaction"' in rows[str(reacted.pk)]
    assert f"Verify order #{reacted.pk}" not in html  # a row with stops sends the verifier to the order's form


def test_a_returned_order_is_marked_with_who_returned_it_and_why(client, hematologist, pharmacist):
    order = draft(hematologist)
    services.return_order(order_id=order.pk, user=pharmacist, reason="Weight is from last year")
    client.force_login(pharmacist)
    (row,) = rows_of(client.get("/pharmacy/").content.decode())
    assert "returned to the prescriber" in row and "Weight is from last year" in row


def test_the_queue_shows_the_overrides_given_at_creation_with_who_and_when(client, hematologist, pharmacist):
    reason = "No IgA-depleted product in stock; anti-IgA antibodies negative"
    draft(hematologist, overrides={"iga_conflict": reason}, serum_iga_mg_dl=Decimal("2"))
    client.force_login(pharmacist)
    (row,) = rows_of(client.get("/orders/verify/").content.decode())
    assert 'data-override="iga_conflict"' in row and reason in row
    assert hematologist.get_full_name() in row and "hematologist" in row


@pytest.mark.parametrize("url", ["/orders/verify/", "/pharmacy/"])
def test_the_queue_runs_the_same_number_of_queries_for_one_order_and_for_ten(client, hematologist, pharmacist, url):
    client.force_login(pharmacist)
    draft(hematologist)
    one = queries_for(client, url)
    for _ in range(9):
        draft(hematologist)
    ReportedIvigReaction.objects.create(
        patient=Order.objects.last().patient,
        occurred_on=date(2024, 5, 1),
        product="Octagam",
        anaphylaxis=True,
        where="St Elsewhere",
        recorded_by=hematologist,
    )
    assert queries_for(client, url) == one


def test_a_page_holds_twenty_five_orders(client, hematologist, pharmacist):
    prescriber = UserFactory(role="hematologist")
    for _ in range(26):
        draft(prescriber)
    client.force_login(pharmacist)
    html = client.get("/orders/verify/").content.decode()
    assert len(rows_of(html)) == 25 and "26 orders await verification" in html
    assert len(rows_of(client.get("/orders/verify/?page=2").content.decode())) == 1
