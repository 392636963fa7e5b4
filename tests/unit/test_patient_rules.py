"""The IgA-deficiency rule of docs/clinical-rules.md §A4 and the body-size stops of §A9 (patients/rules.py, pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest

from core.stops import Kind, Overrider
from patients.rules import (
    birth_date_problem,
    hidden_character_problem,
    implausible_body_size,
    is_iga_deficient,
    previous_within_window,
    weight_change,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("serum_iga", "deficient"),
    [
        ("0", True),
        ("6.9", True),
        ("6.99", True),
        ("7", False),
        ("7.0", False),
        ("7.1", False),
        ("250", False),
    ],
)
def test_iga_deficiency_is_a_serum_iga_below_7_mg_per_dl(serum_iga: str, deficient: bool) -> None:
    assert is_iga_deficient(D(serum_iga)) is deficient


def test_an_unknown_serum_iga_gives_an_unknown_deficiency() -> None:
    assert is_iga_deficient(None) is None


def test_the_laboratory_can_set_its_own_iga_cut_off() -> None:
    assert is_iga_deficient(D(8), cutoff_mg_dl=D(10)) is True
    assert is_iga_deficient(D(10), cutoff_mg_dl=D(10)) is False


def test_a_negative_serum_iga_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        is_iga_deficient(D(-1))


# --- §A9 "Recording body size" ------------------------------------------------------------------------------

ADULT = 40


def changed(new: str, previous: str = "100", *, age: int = ADULT, within: bool = True) -> list[str]:
    stops = weight_change(D(new), D(previous), previous_within_90_days=within, age_years=age)
    return [stop.code for stop in stops]


@pytest.mark.parametrize(
    ("new_kg", "refused"),
    [
        ("89", True),
        ("89.9", True),
        ("90", False),
        ("91", False),
        ("109", False),
        ("110", False),
        ("110.1", True),
        ("111", True),
    ],
)
def test_a_weight_more_than_10_percent_from_the_previous_needs_a_reason(new_kg: str, refused: bool) -> None:
    assert changed(new_kg) == (["weight_change"] if refused else [])


@pytest.mark.parametrize(
    ("new_kg", "refused"),
    [("8.9", True), ("9", False), ("9.1", False), ("12.4", False), ("12.5", False), ("12.6", True)],
)
def test_under_2_years_a_loss_over_10_percent_or_a_gain_over_25_percent_needs_a_reason(new_kg: str, refused: bool):
    assert changed(new_kg, "10", age=1) == (["weight_change"] if refused else [])


@pytest.mark.parametrize(("age", "refused"), [(0, False), (1, False), (2, True), (3, True)])
def test_a_20_percent_gain_is_ordinary_under_2_years_and_needs_a_reason_from_2(age: int, refused: bool) -> None:
    assert changed("12", "10", age=age) == (["weight_change"] if refused else [])


@pytest.mark.parametrize(("age", "refused"), [(1, True), (2, True)])
def test_an_11_percent_loss_needs_a_reason_at_any_age(age: int, refused: bool) -> None:
    assert changed("8.9", "10", age=age) == (["weight_change"] if refused else [])


def test_a_previous_weight_outside_the_90_days_raises_nothing() -> None:
    assert changed("154", "70", within=False) == []


def test_a_first_weight_raises_nothing() -> None:
    assert weight_change(D("154"), None, previous_within_90_days=False, age_years=ADULT) == []


NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("before", "within"),
    [
        (timedelta(0), True),
        (timedelta(days=89), True),
        (timedelta(days=90), True),
        (timedelta(days=90, minutes=1), False),
        (timedelta(days=91), False),
    ],
)
def test_the_previous_weight_counts_when_measured_at_most_90_days_before(before: timedelta, within: bool) -> None:
    assert previous_within_window(NOON - before, NOON) is within


def test_a_previous_weight_measured_after_the_new_one_is_not_the_previous_one() -> None:
    assert previous_within_window(NOON + timedelta(minutes=1), NOON) is False


def test_154_kg_the_day_after_70_kg_asks_whether_it_was_typed_in_pounds() -> None:
    [stop] = weight_change(
        D("154"), D("70"), previous_within_90_days=True, age_years=ADULT, previous_on=date(2026, 11, 30)
    )
    assert stop.message == "154 kg is 120 % more than 70 kg on 2026-11-30: was it typed in pounds (154 lb is 69.9 kg)?"
    assert (stop.kind, stop.overrider, stop.field) == (Kind.OVERRIDE, Overrider.ANY, "weight_kg")


def test_32_kg_after_70_kg_asks_whether_the_earlier_weight_was_in_pounds() -> None:
    [stop] = weight_change(D("32"), D("70"), previous_within_90_days=True, age_years=ADULT)
    assert stop.message == ("32 kg is 54 % less than 70 kg: was the earlier weight typed in pounds (70 lb is 31.8 kg)?")


def test_a_change_that_is_no_unit_slip_asks_to_check_the_scale() -> None:
    [stop] = weight_change(D("85"), D("70"), previous_within_90_days=True, age_years=ADULT)
    assert stop.message.endswith("check the scale and the entry, and confirm with a reason.")


def bmi_codes(weight_kg: str, age: int, height_cm: str = "100") -> list[str]:
    # At 100 cm the BMI equals the weight in kg.
    return [stop.code for stop in implausible_body_size(D(weight_kg), D(height_cm), age)]


@pytest.mark.parametrize(
    ("bmi", "refused"),
    [
        ("12", True),
        ("12.9", True),
        ("13", False),
        ("14", False),
        ("59", False),
        ("60", False),
        ("60.1", True),
        ("61", True),
    ],
)
def test_an_adult_bmi_below_13_or_above_60_needs_a_reason(bmi: str, refused: bool) -> None:
    assert bmi_codes(bmi, ADULT) == (["implausible_body_size"] if refused else [])


@pytest.mark.parametrize(
    ("bmi", "refused"),
    [
        ("9", True),
        ("9.9", True),
        ("10", False),
        ("11", False),
        ("39", False),
        ("40", False),
        ("40.1", True),
        ("41", True),
    ],
)
def test_a_childs_bmi_below_10_or_above_40_needs_a_reason(bmi: str, refused: bool) -> None:
    assert bmi_codes(bmi, 10) == (["implausible_body_size"] if refused else [])


@pytest.mark.parametrize(
    ("age", "bmi", "refused"),
    [(17, "12", False), (18, "12", True), (19, "12", True), (17, "41", True), (18, "41", False), (19, "41", False)],
)
def test_the_adult_bmi_bounds_apply_from_the_18th_birthday(age: int, bmi: str, refused: bool) -> None:
    assert bmi_codes(bmi, age) == (["implausible_body_size"] if refused else [])


def test_a_65_cm_adult_is_asked_whether_the_height_was_in_inches() -> None:
    [stop] = implausible_body_size(D("70"), D("65"), ADULT, sent=frozenset({"height_cm"}))
    assert stop.field == "height_cm"
    assert stop.message == (
        "70 kg and 65 cm give a BMI of 165.7, outside 13–60 for an adult: "
        "was the height typed in inches (65 in is 165.1 cm)?"
    )


def test_a_weight_in_pounds_names_the_weight_field() -> None:
    [stop] = implausible_body_size(D("330"), D("160"), ADULT)
    assert stop.field == "weight_kg"
    assert "was the weight typed in pounds (330 lb is 149.7 kg)?" in stop.message


def test_a_150_kg_six_year_old_is_no_unit_slip_and_asks_to_check_both() -> None:
    [stop] = implausible_body_size(D("150"), D("115"), 6, sent=frozenset({"weight_kg"}))
    assert stop.field == "weight_kg"
    assert stop.message == (
        "150 kg and 115 cm give a BMI of 113.4, outside 10–40 for a 6-year-old: "
        "check the weight and the height, and confirm with a reason."
    )


def test_the_stop_names_a_value_the_request_sent() -> None:
    [stop] = implausible_body_size(D("70"), D("65"), ADULT, sent=frozenset({"weight_kg"}))
    assert stop.field == "weight_kg"


TODAY = date(2026, 12, 1)


@pytest.mark.parametrize(
    ("birth_date", "refused"),
    [
        (date(1906, 12, 2), False),  # 119 years
        (date(1906, 12, 1), False),  # 120 today
        (date(1905, 12, 2), False),  # 120, 121 tomorrow
        (date(1905, 12, 1), True),  # 121 today
        (TODAY, False),  # born today: 0 years
    ],
)
def test_a_birth_date_gives_an_age_of_0_to_120_years(birth_date: date, refused: bool) -> None:
    assert (birth_date_problem(birth_date, TODAY) is not None) is refused


def test_a_birth_date_in_the_future_is_refused() -> None:
    assert birth_date_problem(date(2026, 12, 2), TODAY) == "This date is in the future."


@pytest.mark.parametrize(
    "code_point",
    [0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2069, 0xFEFF, 0xAD]
    + [0x00, 0x09, 0x0A, 0x2028, 0xE000],
)
def test_an_invisible_direction_or_control_character_in_a_name_is_named_with_its_position(code_point) -> None:
    character = chr(code_point)
    problem = hidden_character_problem(f"Ab{character}c")
    assert problem is not None
    assert f"U+{code_point:04X}" in problem and "at character 3" in problem


@pytest.mark.parametrize("name", ["Zoë", "O'Brien-Núñez", "van der Berg", "Мария", "فاطمة", "美咲", "MRN-0042/7"])
def test_names_in_any_script_with_accents_spaces_and_punctuation_pass(name) -> None:
    assert hidden_character_problem(name) is None
