"""Pharmacy records the GTINs of a product's vials on the catalogue page, typed or scanned, and removes them, each
change with its source and kept in the product's history; a bad entry keeps what was typed beside its error."""

from __future__ import annotations

import pytest

from infusions.models import Product

pytestmark = pytest.mark.django_db

GS = "\x1d"


@pytest.fixture
def gamunex():
    return Product.objects.get(name="Gamunex-C")


def test_a_pharmacist_scans_a_vial_into_the_gtin_field_and_the_gtin_is_recorded_with_its_size(
    client, pharmacist, gamunex
):
    client.force_login(pharmacist)
    scanned = f"]d20107612345000107172712311012345{GS}21S1"

    response = client.post(
        f"/orders/catalogue/{gamunex.pk}/gtins/", {"gtin": scanned, "vial_size_g": "10", "source": "vial label"}
    )

    assert response.status_code == 302
    gamunex.refresh_from_db()
    assert gamunex.gtins == [{"gtin": "07612345000107", "vial_size_g": 10.0, "demo": False}]
    assert gamunex.history.first().history_change_reason.startswith("GTINs (source: vial label)")
    page = client.get("/orders/catalogue/").content.decode()
    assert "07612345000107" in page


def test_a_gtin_is_removed_with_its_source_and_the_previous_list_stays_in_history(client, pharmacist, gamunex):
    client.force_login(pharmacist)
    url = f"/orders/catalogue/{gamunex.pk}/gtins/"
    client.post(url, {"gtin": "07612345000107", "vial_size_g": "10", "source": "vial label"})
    client.post(url, {"gtin": "07612345000114", "vial_size_g": "20", "source": "vial label"})

    client.post(url, {"remove": ["07612345000107"], "source": "pack discontinued by the supplier"})

    gamunex.refresh_from_db()
    assert [entry["gtin"] for entry in gamunex.gtins] == ["07612345000114"]
    assert [len(h.gtins) for h in gamunex.history.all()[:3]] == [1, 2, 1]


def test_a_wrong_gtin_is_refused_beside_its_field_keeping_what_was_typed(client, pharmacist, gamunex):
    client.force_login(pharmacist)

    response = client.post(
        f"/orders/catalogue/{gamunex.pk}/gtins/", {"gtin": "07612345000108", "vial_size_g": "10", "source": ""}
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert 'value="07612345000108"' in html
    assert "Name the source of these GTINs" in html
    assert html.count('data-testid="field-error"') == 2  # the GTIN's check digit, and the missing source
    gamunex.refresh_from_db()
    assert gamunex.gtins == []


def test_a_nurse_cannot_record_gtins(client, nurse, gamunex):
    client.force_login(nurse)
    response = client.post(f"/orders/catalogue/{gamunex.pk}/gtins/", {"gtin": "07612345000107", "source": "x"})
    assert response.status_code == 403
    gamunex.refresh_from_db()
    assert gamunex.gtins == []
