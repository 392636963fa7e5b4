"""The bedside banner says who the patient is and what they are getting before anything is done: age, weights,
dose in g and g/kg, product and concentration, IgA, allergies, previous reactions, the order's warnings and the
product's label notes. Previous reactions also reach the prescriber on the order and on every new order."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.utils import timezone

from infusions import services
from tests.factories import given_order, verified_order

pytestmark = pytest.mark.django_db


def text_of(html: str, testid: str) -> str:
    """The visible text of the first element with ``data-testid``, up to its own closing tag."""
    start = html.index(f'data-testid="{testid}"')
    tag = html[html.rindex("<", 0, start) + 1 :].split(None, 1)[0]
    inner = html[html.index(">", start) + 1 : html.index(f"</{tag}>", start)]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", inner)).strip()


@pytest.fixture
def course_with_a_grade_2_fever(hematologist, nurse):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30, allergies="penicillin")
    infusion = order.infusions.get()
    services.record_reaction(
        infusion_id=infusion.pk,
        user=nurse,
        reaction="fever",
        ctcae_grade=2,
        action_taken="paracetamol; rate halved",
        noted_at=infusion.started_at + timedelta(minutes=50),
    )
    return order


def test_the_banner_shows_age_weights_dose_per_kg_product_concentration_and_label_notes(client, nurse):
    # 70 kg at 178 cm is below his ideal body weight: he is dosed on 70 kg, 70 g of Gamunex-C 10 % (700 mL).
    order = verified_order(weight_kg=70, birth_date=date(1980, 1, 1))
    infusion = order.infusions.get()
    client.force_login(nurse)

    html = client.get(f"/orders/infusions/{infusion.pk}/").content.decode()

    assert f"age {order.patient.age_years} years" in html
    assert text_of(html, "banner-weight") == "70 kg; dosing weight 70 kg (actual weight)"
    assert text_of(html, "banner-dose") == "Day 1 of 1: 70 g = 1 g/kg · 700 mL"
    assert text_of(html, "banner-product").startswith("Gamunex-C 10 % · vials")
    assert "Do not dilute with saline" in text_of(html, "banner-label-notes")
    assert text_of(html, "banner-allergies") == "none recorded"
    assert text_of(html, "previous-reactions-list") == "none recorded"


def test_the_banner_lists_allergies_and_a_previous_grade_2_fever(client, nurse, course_with_a_grade_2_fever):
    infusion = course_with_a_grade_2_fever.infusions.get()
    client.force_login(nurse)

    html = client.get(f"/orders/infusions/{infusion.pk}/").content.decode()

    assert text_of(html, "banner-allergies") == "penicillin"
    assert 'data-testid="previous-reaction"' in html
    reaction = html[html.index('data-testid="previous-reaction"') :]
    reaction = re.sub(r"<[^>]+>", "", reaction[: reaction.index("</li>")])
    assert "CTCAE grade 2" in reaction and "fever; paracetamol; rate halved" in reaction and "Gamunex-C" in reaction


def test_the_order_and_a_new_order_for_the_patient_show_the_previous_reaction(
    client, hematologist, course_with_a_grade_2_fever
):
    client.force_login(hematologist)
    patient_id = course_with_a_grade_2_fever.patient_id

    order_page = client.get(f"/orders/{course_with_a_grade_2_fever.pk}/").content.decode()
    new_order_page = client.get("/orders/new/", {"patient": patient_id}).content.decode()

    for html in (order_page, new_order_page):
        assert 'data-testid="previous-reaction"' in html
        assert "CTCAE grade 2" in html[html.index('data-testid="previous-reaction"') :][:200]


def test_a_patient_without_reactions_shows_none_recorded_on_the_new_order(client, hematologist, nurse):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    client.force_login(hematologist)
    html = client.get("/orders/new/", {"patient": order.patient_id}).content.decode()
    assert text_of(html, "previous-reactions-list") == "none recorded"


def test_the_banner_shows_the_co_therapies_of_the_last_7_days_with_who_gave_them(client, nurse):
    from monitoring import services as monitoring_services

    order = verified_order()
    now = timezone.now()
    for kind, data, days_ago in (
        ("platelet_transfusion", {"units": 2}, 1),
        ("corticosteroid", {"drug": "prednisolone", "dose": "60", "dose_unit": "mg"}, 10),
    ):
        monitoring_services.record_co_therapy(
            patient_id=order.patient_id,
            user=nurse,
            data={"kind": kind, "given_from": now - timedelta(days=days_ago), **data},
        )
    client.force_login(nurse)

    html = client.get(f"/orders/infusions/{order.infusions.get().pk}/").content.decode()

    shown = text_of(html, "banner-co-therapies")
    assert "Platelet transfusion 2 units" in shown and nurse.username in shown
    assert "prednisolone" not in shown  # ten days ago
