from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from infusions.models import Infusion, Order
from tests.browser.conftest import assert_no_horizontal_scroll
from tests.factories import PatientFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_hematologist_orders_with_live_working_and_a_pharmacist_verifies(
    tablet, login, screenshot, hematologist, pharmacist
):
    patient = PatientFactory(
        mrn="BR-1",
        family_name="Browser",
        sex="male",
        height_cm=Decimal("178"),
        weight_kg=Decimal("82"),
        birth_date=date(1981, 1, 1),
    )
    login(tablet, "haem1")
    tablet.goto(f"/patients/{patient.pk}/")
    tablet.click("text=New IVIG order")
    tablet.select_option("#id_product", label="Gamunex-C (Grifols, IgA average 46.0 µg/mL)")
    tablet.fill("#id_baseline_platelet_count", "12")
    # htmx recalculates as the prescriber changes the form: the working appears without a page load.
    tablet.wait_for_selector("[data-testid=rounded-dose]")
    assert "75 g per day" in tablet.inner_text("[data-testid=rounded-dose]")
    tablet.select_option("#id_regimen", value="five_days_0_4g_per_kg")
    expect(tablet.locator("[data-testid=rounded-dose]")).to_contain_text("30 g per day", timeout=10_000)
    assert_no_horizontal_scroll(tablet)
    screenshot(tablet, "order-form-working")
    tablet.click("text=Draft order for verification")
    tablet.wait_for_selector("[data-testid=order-status]")
    assert "Draft" in tablet.inner_text("[data-testid=order-status]")
    order = Order.objects.get()

    login(tablet, "pharm1")
    assert tablet.url.endswith("/pharmacy/")
    assert tablet.locator("[data-testid=queue-entry]").count() == 1
    screenshot(tablet, "pharmacist-queue")
    tablet.click(f"text=Verify order #{order.pk}")
    tablet.wait_for_selector("text=Order verified")
    assert tablet.locator("[data-testid=infusion-row]").count() == 5
    assert Infusion.objects.filter(order=order).count() == 5
