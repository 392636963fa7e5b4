"""A1: the one withhold the product allows, the day-2 dose of the two-day 1 g/kg course after a counted response;
every other withhold is refused with a reason in clinical words."""

from __future__ import annotations

import pytest

from monitoring.response_rules import IwgCategory, withhold_refusal

pytestmark = pytest.mark.unit

TWO_DAY = "two_days_1g_per_kg"


@pytest.mark.parametrize("category", [IwgCategory.RESPONSE, IwgCategory.COMPLETE_RESPONSE])
def test_day_2_of_the_two_day_course_may_be_withheld_after_a_counted_response(category):
    assert withhold_refusal(regimen_code=TWO_DAY, day_number=2, latest_counted_category=category) is None


@pytest.mark.parametrize("category", [None, IwgCategory.PENDING, IwgCategory.NO_RESPONSE])
def test_day_2_without_a_counted_response_is_given_as_ordered(category):
    refusal = withhold_refusal(regimen_code=TWO_DAY, day_number=2, latest_counted_category=category)
    assert refusal is not None and "shows a response" in refusal


@pytest.mark.parametrize("regimen", ["one_dose_1g_per_kg", "one_dose_0_8g_per_kg", "repeat_1g_per_kg", TWO_DAY])
@pytest.mark.parametrize("category", [None, IwgCategory.COMPLETE_RESPONSE])
def test_day_1_is_never_withheld_whatever_the_regimen_or_count(regimen, category):
    refusal = withhold_refusal(regimen_code=regimen, day_number=1, latest_counted_category=category)
    assert refusal == "Day 1 is never withheld: cancel the order instead."


@pytest.mark.parametrize("day_number", [2, 3, 5])
def test_a_later_day_of_the_five_day_course_is_not_withheld_even_after_a_response(day_number):
    refusal = withhold_refusal(
        regimen_code="five_days_0_4g_per_kg",
        day_number=day_number,
        latest_counted_category=IwgCategory.COMPLETE_RESPONSE,
    )
    assert refusal is not None and "two-day 1 g/kg course" in refusal
