from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from infusions import services
from infusions.models import Product
from monitoring.models import PlateletCheck
from tests.browser.conftest import assert_no_horizontal_scroll
from tests.factories import day_vials, verified_order

GS = "\x1d"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def fill_vitals(page, temperature="36.8", heart_rate="72", systolic="120", diastolic="75", rr="16", spo2="98"):
    form = page.locator("[data-testid=vitals-form]")
    form.locator("[name=temperature_c]").fill(temperature)
    form.locator("[name=heart_rate_bpm]").fill(heart_rate)
    form.locator("[name=systolic_bp_mmhg]").fill(systolic)
    form.locator("[name=diastolic_bp_mmhg]").fill(diastolic)
    form.locator("[name=respiratory_rate_per_min]").fill(rr)
    form.locator("[name=spo2_percent]").fill(spo2)
    form.locator("button[type=submit]").click()


def type_the_day_vials(page, infusion):
    """The typed fallback: each planned vial's product, size, lot and expiry, added one by one."""
    page.click("[data-vial-typed] summary")
    for number, vial in enumerate(day_vials(infusion, lots=["LOT-0042"]), start=1):
        page.select_option("[data-name=vial_product]", str(vial["product"]))
        page.fill("[data-name=vial_size_g]", vial["vial_size_g"])
        page.fill("[data-name=vial_lot]", vial["lot_number"])
        page.fill("[data-name=vial_expiry]", vial["expiry_date"])
        page.click("[data-vial-add]")
        expect(page.locator("[data-testid=vial-ok]")).to_have_count(number, timeout=10_000)


def test_a_nurse_runs_a_whole_infusion_on_a_tablet(tablet, login, screenshot, nurse):
    order = verified_order()
    infusion = order.infusions.get()
    login(tablet, "nurse1")
    assert tablet.url.endswith("/nurse/")
    tablet.click("text=Open")
    assert_no_horizontal_scroll(tablet)

    # Baseline vitals: one submit, no page load (htmx swaps the panel in place).
    tablet.evaluate("window.__noReload = true")
    fill_vitals(tablet)
    tablet.wait_for_selector("text=baseline taken")
    for checkbox in tablet.locator("[data-testid=start-form] input[type=checkbox]").all():
        checkbox.check()
    type_the_day_vials(tablet, infusion)
    tablet.click("[data-testid=start-form] button[type=submit]")
    tablet.wait_for_selector("[data-testid=current-rate]")
    assert "46.0 mL/h" in tablet.inner_text("[data-testid=current-rate]")

    # A second set with a fever: the alert is on the page at once.
    fill_vitals(tablet, temperature="38.4")
    tablet.wait_for_selector("[data-alert=fever]")
    assert "Slow to half rate" in tablet.inner_text("[data-alert=fever]")
    assert tablet.evaluate("window.__noReload") is True  # still the same document: no full reload
    screenshot(tablet, "bedside-fever-alert")

    # Stepping up straight after a fever (and within the product's step interval) needs the nurse's reasons.
    assert "Override" in tablet.inner_text("[data-testid=step-up]")
    for field in tablet.locator("[data-testid^=override-]").all():
        field.fill("fever settled with paracetamol; the prescriber agreed")
    tablet.click("[data-testid=step-up]")
    expect(tablet.locator("[data-testid=current-rate]")).to_contain_text("92.1", timeout=10_000)
    assert_no_horizontal_scroll(tablet)
    tablet.fill("#volume", str(infusion.volume_ml))  # the pump's total
    tablet.click("[data-testid=complete]")
    tablet.wait_for_selector("[data-testid=platelet-checks]")
    assert "Completed" in tablet.inner_text("[data-testid=infusion-status]")
    assert (
        tablet.locator("[data-testid=platelet-checks] li").count() == 6
    )  # the four of A6 and the follow-ups at 14 and 28 days (A12)
    screenshot(tablet, "bedside-completed")
    assert PlateletCheck.objects.filter(order=order).count() == 6
    assert infusion.vitals.count() == 2


def test_an_impossible_value_shows_an_error_and_stores_nothing(tablet, login, nurse):
    order = verified_order()
    infusion = order.infusions.get()
    login(tablet, "nurse1")
    tablet.goto(f"/orders/infusions/{infusion.pk}/")
    fill_vitals(tablet, spo2="120")
    tablet.wait_for_selector("[data-testid=field-error][data-field=spo2_percent]")
    assert "SpO2 120 % is not possible" in tablet.inner_text("[data-testid=field-error][data-field=spo2_percent]")
    assert infusion.vitals.count() == 0


def test_a_refused_set_keeps_all_six_readings_beside_its_error_and_a_comma_then_records_it(
    tablet, login, screenshot, nurse
):
    order = verified_order()
    infusion = order.infusions.get()
    login(tablet, "nurse1")
    tablet.goto(f"/orders/infusions/{infusion.pk}/")
    form = tablet.locator("[data-testid=vitals-form]")
    assert form.locator("[placeholder]").count() == 0  # no grey number that looks like a reading
    fill_vitals(tablet, temperature="36,8", heart_rate="7x")
    error = tablet.wait_for_selector("[data-testid=field-error][data-field=heart_rate_bpm]")
    assert "Heart rate must be a whole number between 20 and 250 /min." in error.inner_text()
    typed = {name: form.locator(f"[name={name}]").input_value() for name in ("temperature_c", "heart_rate_bpm")}
    assert typed == {"temperature_c": "36,8", "heart_rate_bpm": "7x"}
    assert form.locator("[name=spo2_percent]").input_value() == "98"
    screenshot(tablet, "bedside-vitals-error-beside-field")
    assert_no_horizontal_scroll(tablet)
    form.locator("[name=heart_rate_bpm]").fill("72")
    form.locator("button[type=submit]").click()
    tablet.wait_for_selector("text=Vital signs recorded.")
    assert str(infusion.vitals.get().temperature_c) == "36.8"


def test_step_up_cannot_be_tapped_during_a_stop_alert_without_a_reason(tablet, login, screenshot, nurse):
    order = verified_order()
    login(tablet, "nurse1")
    infusion = order.infusions.get()
    tablet.goto(f"/orders/infusions/{infusion.pk}/")
    fill_vitals(tablet)
    tablet.wait_for_selector("text=baseline taken")
    for checkbox in tablet.locator("[data-testid=start-form] input[type=checkbox]").all():
        checkbox.check()
    type_the_day_vials(tablet, infusion)
    tablet.click("[data-testid=start-form] button[type=submit]")
    tablet.wait_for_selector("[data-testid=current-rate]")

    fill_vitals(tablet, systolic="85")  # hypotension: a high alert, STOP
    tablet.wait_for_selector("[data-alert=hypotension]")
    assert "STOP" in tablet.inner_text("[data-alert=hypotension]")
    step_up = tablet.locator("[data-testid=step-up]")
    # No longer the big blue button: it asks for the nurse's reasons, one field per stop.
    assert "primary" not in (step_up.get_attribute("class") or "")
    assert "Override" in step_up.inner_text()
    assert tablet.locator("[data-testid=override-step_during_alert]").count() == 1
    screenshot(tablet, "bedside-step-up-during-stop-alert")

    step_up.click()  # without a reason: refused, the rate stays
    tablet.wait_for_selector("[data-testid=bedside-error]")
    assert "46.0 mL/h" in tablet.inner_text("[data-testid=current-rate]")
    assert order.infusions.get().rate_segments.count() == 1

    for field in tablet.locator("[data-testid^=override-]").all():
        field.fill("manual BP 118/70 on repeat; the prescriber agreed")
    tablet.click("[data-testid=step-up]")
    expect(tablet.locator("[data-testid=current-rate]")).to_contain_text("92.1", timeout=10_000)
    infusion = order.infusions.get()
    assert infusion.safety_records.get(code="step_during_alert").reason == (
        "manual BP 118/70 on repeat; the prescriber agreed"
    )


def test_a_nurse_scans_three_vials_one_of_another_product_and_starts_with_the_two_right_ones(
    tablet, login, screenshot, nurse, pharmacist
):
    # 80 kg, below his ideal weight at 190 cm: 80 g a day, planned as 2 x 40 g vials of Gamunex-C.
    order = verified_order(sex="male", height_cm=Decimal("190"), weight_kg=Decimal("80"))
    infusion = order.infusions.get()
    assert order.vials_per_day == [{"size_g": 40.0, "count": 2}]
    size = 40
    other = Product.objects.exclude(pk=order.product_id).exclude(vial_sizes_g=[]).order_by("name").first()
    services.record_gtins(
        product_id=order.product_id,
        user=pharmacist,
        gtins=[{"gtin": "07612345000107", "vial_size_g": size, "demo": True}],
        source="test fixture: not a real GTIN",
    )
    services.record_gtins(
        product_id=other.pk,
        user=pharmacist,
        gtins=[{"gtin": "07612345000206", "vial_size_g": other.vial_sizes_g[0], "demo": True}],
        source="test fixture: not a real GTIN",
    )
    expiry = f"{timezone.localdate() + timedelta(days=200):%y%m%d}"
    login(tablet, "nurse1")
    tablet.goto(f"/orders/infusions/{infusion.pk}/")
    fill_vitals(tablet)
    tablet.wait_for_selector("text=baseline taken")
    for checkbox in tablet.locator("[data-testid=start-form] input[type=checkbox]").all():
        checkbox.check()
    scan = tablet.locator("[data-testid=vial-scan]")
    # A keyboard-wedge scanner types the code, GS (ASCII 29) as FNC1, and Enter.
    scan.fill(f"]d2010761234500020617{expiry}10WRONG1{GS}21S9")
    scan.press("Enter")
    tablet.wait_for_selector("[data-testid=vial-refused]")
    assert "is not the ordered product" in tablet.inner_text("[data-testid=vial-refused]")
    for n in (1, 2):
        scan.fill(f"]d2010761234500010717{expiry}10RIGHT{n}{GS}21S{n}")
        scan.press("Enter")
        expect(tablet.locator("[data-testid=vial-ok]")).to_have_count(n, timeout=10_000)
    screenshot(tablet, "bedside-vials-scanned")
    tablet.click("[data-testid=start-form] button[type=submit]")
    tablet.wait_for_selector("[data-testid=current-rate]")
    lots = sorted(infusion.vial_lots.values_list("lot_number", "serial", "gtin"))
    assert lots == [("RIGHT1", "S1", "07612345000107"), ("RIGHT2", "S2", "07612345000107")]
