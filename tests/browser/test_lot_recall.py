"""A pharmacist answers a recall on the tablet: from the pharmacy page to the patients who received a lot."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import override_settings

from infusions.models import VialLot
from tests.browser.test_accessibility import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_pharmacist_finds_the_patients_of_a_lot_from_the_pharmacy_page(tablet, screenshot, db):
    with override_settings(DEBUG=True):  # the demo loads in development only
        call_command("load_demo_data", stdout=io.StringIO())
    lot = VialLot.objects.select_related("infusion__order__patient").order_by("pk").first()
    patients = set(
        VialLot.objects.filter(lot_number=lot.lot_number).values_list("infusion__order__patient__mrn", flat=True)
    )
    sign_in(tablet, "pharmacist")

    tablet.goto("/pharmacy/")
    assert tablet.locator("[data-testid=lot-reactions] tbody tr").count() >= 1
    tablet.click("[data-testid=lot-recall-link]")
    tablet.fill("#id_lot", lot.lot_number.lower())
    tablet.click("text=Find patients")
    tablet.wait_for_selector("[data-testid=lot-patients]")

    rows = tablet.locator("[data-testid=lot-patients] tbody tr")
    shown = {rows.nth(i).locator("td").nth(1).inner_text() for i in range(rows.count())}
    assert shown == patients
    assert tablet.input_value("#id_lot") == lot.lot_number.lower()
    screenshot(tablet, "pharmacy-lot-recall")
