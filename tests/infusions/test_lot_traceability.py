"""Lot traceability a recall can use: which patients received a lot, and reactions grouped by product and lot."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from infusions import services
from infusions.selectors import LotReactions
from tests.factories import FULL_CHECKLIST, NORMAL_VITALS, PatientFactory, day_vials, verified_order

pytestmark = pytest.mark.django_db


def started_with_lots(nurse, lots, *, mrn, reaction_grade=None):
    """A patient's infusion started two hours ago with vials of ``lots`` (in turn), with a reaction if asked."""
    patient = PatientFactory(mrn=mrn)
    started_at = timezone.now() - timedelta(hours=2)
    order = verified_order(patient=patient, first_infusion_on=timezone.localtime(started_at).date())
    infusion = order.infusions.get(day_number=1)
    services.record_vitals(infusion_id=infusion.pk, user=nurse, values=NORMAL_VITALS, taken_at=started_at)
    services.start_infusion(
        infusion_id=infusion.pk,
        user=nurse,
        checklist=FULL_CHECKLIST,
        vials=day_vials(infusion, lots=lots),
        started_at=started_at,
    )
    if reaction_grade:
        services.record_reaction(
            infusion_id=infusion.pk, user=nurse, reaction="fever", ctcae_grade=reaction_grade, action_taken="Slowed"
        )
    return infusion


def test_a_recall_of_a_lot_lists_every_patient_who_received_it_with_its_vials_and_reactions(client_for, nurse):
    first = started_with_lots(nurse, ["P100234"], mrn="MRN-LOT-1", reaction_grade=2)
    second = started_with_lots(nurse, ["P100234", "Q555"], mrn="MRN-LOT-2")
    started_with_lots(nurse, ["Q555"], mrn="MRN-OTHER")

    # Typed in lower case with spaces, as a pharmacist reading a recall notice might.
    found = client_for(nurse).get("/api/v1/lots/", {"lot": "  p100234 "})

    assert found.status_code == 200
    body = found.json()
    assert body["count"] == 2
    assert [row["patient"]["mrn"] for row in body["results"]] == ["MRN-LOT-1", "MRN-LOT-2"]
    assert [row["infusion"] for row in body["results"]] == [first.pk, second.pk]
    # Only the recalled lot's vials, each with its expiry and size.
    second_vials = body["results"][1]["vials"]
    assert {vial["lot_number"] for vial in second_vials} == {"P100234"}
    assert all(vial["expiry_date"] and vial["vial_size_g"] for vial in second_vials)
    assert [(r["reaction"], r["ctcae_grade"]) for r in body["results"][0]["reactions"]] == [("fever", 2)]
    assert body["results"][1]["reactions"] == []


def test_a_recall_without_a_lot_number_is_refused_in_words(client_for, nurse):
    refused = client_for(nurse).get("/api/v1/lots/", {"lot": " "})
    assert refused.status_code == 400
    assert refused.json() == {"lot": ["Give the lot number to look up."]}
    assert client_for(nurse).get("/api/v1/lots/").json() == {"lot": ["Give the lot number to look up."]}


def test_a_lot_nobody_received_is_an_empty_list_not_an_error(client_for, pharmacist):
    assert client_for(pharmacist).get("/api/v1/lots/", {"lot": "NEVER-GIVEN"}).json()["count"] == 0


def test_the_recall_page_shows_the_patients_of_a_lot_and_keeps_what_was_typed(client, nurse, pharmacist):
    started_with_lots(nurse, ["P100234"], mrn="MRN-LOT-1")
    started_with_lots(nurse, ["Q555"], mrn="MRN-OTHER")
    client.force_login(pharmacist)
    page = client

    found = page.get("/pharmacy/lots/", {"lot": "p100234"})
    assert found.status_code == 200
    text = found.content.decode()
    assert "MRN-LOT-1" in text and "MRN-OTHER" not in text
    assert "1 infusion, 1 patient" in text

    empty = page.get("/pharmacy/lots/", {"lot": ""})
    assert empty.status_code == 400
    assert "Type the lot number to look up." in empty.content.decode()


def test_a_lot_with_more_reactions_than_its_product_usually_has_stands_out_on_the_pharmacy_page(
    client, nurse, pharmacist
):
    started_with_lots(nurse, ["BAD-LOT"], mrn="MRN-1", reaction_grade=2)
    started_with_lots(nurse, ["BAD-LOT"], mrn="MRN-2", reaction_grade=3)
    for index in range(3):
        started_with_lots(nurse, ["GOOD-LOT"], mrn=f"MRN-G{index}")

    client.force_login(pharmacist)
    page = client.get("/pharmacy/")

    rows = page.context["lot_reactions"]
    assert [(r.lot_number, r.infusions, r.infusions_with_reaction, r.stands_out) for r in rows] == [
        ("BAD-LOT", 2, 2, True),
        ("GOOD-LOT", 3, 0, False),
    ]
    assert rows[0].highest_grade == 3
    assert page.content.decode().count('data-testid="lot-stands-out"') == 1


def lot(infusions, reacted, product_infusions, product_reacted):
    return LotReactions("Gamunex-C", "L1", infusions, reacted, None, product_infusions, product_reacted)


def test_a_lot_stands_out_only_when_its_share_of_reactions_is_above_the_products():
    assert lot(2, 1, 10, 2).stands_out  # 50 % against 20 %
    assert not lot(5, 1, 10, 2).stands_out  # 20 % against 20 %: the product's usual share
    assert not lot(4, 0, 10, 0).stands_out  # no reaction, nothing to look at
    assert lot(2, 1, 10, 2).rate == Decimal("0.5")
    # A product's only lot is its usual share.
    assert not lot(3, 3, 3, 3).stands_out
