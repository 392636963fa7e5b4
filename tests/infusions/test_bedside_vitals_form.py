"""The bedside vitals form at the tablet: a reading that is refused keeps every reading typed, the error sits beside
its own field in clinical words, and a decimal comma is a decimal point."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from tests.factories import NORMAL_VITALS, day_vials_form, verified_order

pytestmark = pytest.mark.db


def post_vitals(client, infusion, **values):
    return client.post(f"/orders/infusions/{infusion.pk}/vitals/", {**NORMAL_VITALS, **values}, HTTP_HX_REQUEST="true")


def value_of(page: str, name: str) -> str:
    match = re.search(rf'<input id="vital-{name}" name="{name}"[^>]*value="([^"]*)"', page)
    assert match, f"no input {name}"
    return match.group(1)


@pytest.fixture
def infusion(client, nurse):
    client.force_login(nurse)
    return verified_order().infusions.get()


def test_a_temperature_typed_with_a_decimal_comma_is_recorded_as_that_temperature(client, infusion):
    response = post_vitals(client, infusion, temperature_c="36,8")
    assert response.status_code == 200
    assert "Vital signs recorded." in response.content.decode()
    assert infusion.vitals.get().temperature_c == Decimal("36.8")


def test_a_temperature_that_is_not_a_number_is_refused_beside_the_temperature_and_every_reading_stays(client, infusion):
    page = post_vitals(client, infusion, temperature_c="36.8x", heart_rate_bpm="88").content.decode()
    assert 'data-field="temperature_c">Temperature must be a number between 30 and 44 °C.' in page
    assert value_of(page, "temperature_c") == "36.8x"
    assert value_of(page, "heart_rate_bpm") == "88"
    assert value_of(page, "systolic_bp_mmhg") == "120"
    assert value_of(page, "diastolic_bp_mmhg") == "75"
    assert value_of(page, "respiratory_rate_per_min") == "16"
    assert value_of(page, "spo2_percent") == "98"
    assert infusion.vitals.count() == 0


def test_no_page_shows_python_text_or_a_field_name_when_vitals_are_refused(client, infusion):
    page = post_vitals(client, infusion, temperature_c="36,8,1", spo2_percent="").content.decode()
    for python_text in ("ConversionSyntax", "class '", "non field errors", "temperature_c:", "spo2 percent"):
        assert python_text not in page
    assert 'data-field="spo2_percent">Enter the SpO₂.' in page


def test_an_impossible_reading_is_refused_beside_its_own_field_and_the_others_keep_their_values(client, infusion):
    page = post_vitals(client, infusion, spo2_percent="120").content.decode()
    assert 'data-field="spo2_percent">SpO2 120 % is not possible' in page
    assert value_of(page, "spo2_percent") == "120"
    assert value_of(page, "temperature_c") == "36.8"
    assert "Not recorded: correct the fields marked below." in page


def test_a_heart_rate_with_a_decimal_is_refused_as_a_whole_number_is_expected(client, infusion):
    page = post_vitals(client, infusion, heart_rate_bpm="72.5").content.decode()
    assert 'data-field="heart_rate_bpm">Heart rate must be a whole number between 20 and 250 /min.' in page


def test_a_temperature_to_two_decimals_is_refused_as_the_reading_is_to_a_tenth(client, infusion):
    page = post_vitals(client, infusion, temperature_c="36,85").content.decode()
    assert 'data-field="temperature_c">Temperature is recorded to 0.1 °C' in page


def test_the_empty_form_shows_hints_and_no_placeholder_that_could_be_read_as_a_reading(client, infusion):
    page = client.get(f"/orders/infusions/{infusion.pk}/").content.decode()
    form = page[page.index('data-testid="vitals-form"') : page.index("Record vital signs")]
    assert "placeholder" not in form
    assert "a comma is fine (36,8)" in form
    assert value_of(page, "temperature_c") == ""


def test_a_late_entry_time_that_does_not_exist_keeps_the_readings_and_the_time_typed(client, infusion):
    page = post_vitals(client, infusion, taken_at="2025-13-45T10:00").content.decode()
    assert 'data-field="taken_at">This date and time does not exist.' in page
    assert value_of(page, "heart_rate_bpm") == "72"


def test_a_bad_volume_on_complete_is_reported_beside_the_volume_not_under_the_rate(client, infusion):
    client.post(f"/orders/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    form = {code: "on" for code in ("patient_identity", "iga_reviewed", "cardiac_fluid_status", "hydration")}
    form |= {code: "on" for code in ("premedication", "emergency_drugs", "product_and_dose", "dedicated_line")}
    client.post(f"/orders/infusions/{infusion.pk}/start/", {**form, **day_vials_form(infusion)})
    page = client.post(
        f"/orders/infusions/{infusion.pk}/complete/", {"volume_infused_ml": "-5"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'data-field="volume_infused_ml">The volume cannot be negative.' in page
    assert 'data-field="rate_ml_per_h"' not in page
    assert 'value="-5"' in page
    assert "rate ml per h" not in page and "volume infused ml" not in page


@pytest.mark.parametrize(
    ("typed", "read"),
    [("36,8", "36.8"), ("120,5", "120.5"), (" 36.8 ", "36.8"), ("1,200", None), ("12 5", None), ("36,8,1", None)],
)
def test_a_decimal_comma_is_a_decimal_point_but_a_possible_thousands_separator_or_a_gap_is_refused(typed, read):
    from infusions.services.bedside import typed_number

    assert typed_number(typed) == (Decimal(read) if read else None)


def test_a_volume_written_with_a_thousands_separator_is_refused_not_read_as_1_2_ml(client, infusion):
    client.post(f"/orders/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    form = {code: "on" for code in ("patient_identity", "iga_reviewed", "cardiac_fluid_status", "hydration")}
    form |= {code: "on" for code in ("premedication", "emergency_drugs", "product_and_dose", "dedicated_line")}
    client.post(f"/orders/infusions/{infusion.pk}/start/", {**form, **day_vials_form(infusion)})
    page = client.post(
        f"/orders/infusions/{infusion.pk}/complete/", {"volume_infused_ml": "1,200"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'data-field="volume_infused_ml">Volume infused (mL) must be a number' in page
    assert "no thousands separator" in page
    infusion.refresh_from_db()
    assert infusion.status == "in_progress"
