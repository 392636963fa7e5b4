"""Unit tests for children's vital signs in infusions.vitals_rules: every number checked here comes from
docs/clinical-rules.md §A11 (and §A5, which applies from 12 years and to temperature and SpO2 at every age)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from infusions.vitals_rules import (
    A11_BANDS,
    ALERT_CODES,
    CHILD_ALERT_CODES,
    LOW_FOR_AGE_ADVICE,
    AgeAtSet,
    ChildVitalsBand,
    ChildVitalsThresholds,
    Severity,
    VitalSigns,
    alert_records,
    child_band,
    child_hypotension_limit_mmhg,
    evaluate_vitals,
)

pytestmark = pytest.mark.unit

D = Decimal
WARNING = Severity.WARNING
HIGH = Severity.HIGH
# What a finding is: its severity, and whether it is a low-for-age warning ("check asleep, recount").
LOW = (WARNING, True)
WARN = (WARNING, False)
STOP = (HIGH, False)

# A set with nothing remarkable in it at any age; each test changes the one reading it is about and looks at
# one alert code only.
CALM = VitalSigns(
    temperature_c=D("36.8"),
    heart_rate_bpm=110,
    systolic_bp_mmhg=100,
    diastolic_bp_mmhg=50,
    respiratory_rate_per_min=25,
    spo2_percent=98,
)


def child(**changes: Any) -> VitalSigns:
    return replace(CALM, **changes)


def age(years: int, months: int = 0) -> AgeAtSet:
    return AgeAtSet(years=years, months=months)


def finding(code: str, current: VitalSigns, at: AgeAtSet | None, baseline: VitalSigns | None = None) -> Any:
    """(severity, low_for_age) of the one alert with this code, or None."""
    found = [a for a in evaluate_vitals(current, baseline, age=at) if a.code == code]
    assert len(found) <= 1
    return (found[0].severity, found[0].low_for_age) if found else None


def codes(alerts: Any) -> dict[str, Severity]:
    return {a.code: a.severity for a in alerts}


# ---------------------------------------------------------------------------------------------------------
# The cases named in A11, as the ward would say them
# ---------------------------------------------------------------------------------------------------------

TODDLER_SET = VitalSigns(
    temperature_c=D("36.9"),
    heart_rate_bpm=130,
    systolic_bp_mmhg=96,
    diastolic_bp_mmhg=58,
    respiratory_rate_per_min=30,
    spo2_percent=98,
)


def test_a_calm_two_year_old_with_a_heart_rate_of_130_raises_no_alert() -> None:
    assert evaluate_vitals(TODDLER_SET, None, age=age(2)) == ()
    assert evaluate_vitals(TODDLER_SET, TODDLER_SET, age=age(2)) == ()


def test_the_same_toddler_set_in_an_adult_raises_tachycardia_and_tachypnea() -> None:
    assert codes(evaluate_vitals(TODDLER_SET, None)) == {"tachycardia": WARNING, "tachypnea": WARNING}
    assert codes(evaluate_vitals(TODDLER_SET, None, age=age(12))) == {"tachycardia": WARNING, "tachypnea": WARNING}


def test_a_heart_rate_of_59_in_an_18_month_old_is_high() -> None:
    (alert,) = [a for a in evaluate_vitals(child(heart_rate_bpm=59), None, age=age(1, 6)) if a.code == "bradycardia"]
    assert (alert.severity, alert.low_for_age, alert.suggested_action) == (HIGH, False, "stop")
    assert alert.message == "Heart rate 59 /min: slow heart rate - below 60 /min under 2 years."


def test_a_slow_breathing_rate_in_a_sleeping_six_year_old_is_only_a_warning_to_recount() -> None:
    (alert,) = evaluate_vitals(child(heart_rate_bpm=70, respiratory_rate_per_min=12), None, age=age(6))
    assert (alert.code, alert.severity, alert.low_for_age) == ("bradypnea", WARNING, True)
    assert alert.message == (
        "Respiratory rate 12 /min: slow breathing - below 18 /min for age 6 to under 10 years; "
        "low for age: check whether the child is asleep and recount."
    )


def test_a_slow_heart_rate_in_a_sleeping_five_year_old_is_only_a_warning_to_recount() -> None:
    (alert,) = evaluate_vitals(child(heart_rate_bpm=52), child(heart_rate_bpm=80), age=age(5))
    assert (alert.code, alert.severity, alert.low_for_age) == ("bradycardia", WARNING, True)
    assert alert.message == (
        "Heart rate 52 /min (baseline 80 /min): slow heart rate - below 60 /min for age 4 to under 6 years; "
        f"{LOW_FOR_AGE_ADVICE}."
    )


def test_a_heart_rate_of_39_is_high_at_any_age_as_in_a5() -> None:
    assert finding("bradycardia", child(heart_rate_bpm=39), age(11, 11)) == STOP
    assert finding("bradycardia", child(heart_rate_bpm=39), age(5)) == STOP


def test_a_crying_four_year_old_whose_heart_rate_rises_by_40_raises_nothing_for_the_rise() -> None:
    # A5's rise of 20 /min does not apply under 12; 120 is within 60-140.
    assert finding("tachycardia", child(heart_rate_bpm=120), age(4), child(heart_rate_bpm=80)) is None
    # The same rise in a 12-year-old is A5's tachycardia warning.
    assert finding("tachycardia", child(heart_rate_bpm=100), age(12), child(heart_rate_bpm=80)) == WARN


def test_a_systolic_of_150_in_an_eight_year_old_at_baseline_raises_no_hypertension() -> None:
    # No absolute adult thresholds under 12: only a rise from baseline counts.
    assert finding("hypertension", child(systolic_bp_mmhg=185), age(8)) is None
    assert finding("hypertension", child(systolic_bp_mmhg=185), age(8), child(systolic_bp_mmhg=150)) == WARN


def test_a_fever_in_a_child_is_judged_exactly_as_in_an_adult() -> None:
    for temperature, expected in (("37.9", None), ("38.0", WARN), ("38.9", WARN), ("39.0", STOP)):
        assert finding("fever", child(temperature_c=D(temperature)), age(3)) == expected


@pytest.mark.parametrize(("spo2", "expected"), [(95, None), (94, None), (93, WARN), (92, WARN), (91, STOP)])
def test_a_child_s_oxygen_saturation_is_judged_exactly_as_in_an_adult(spo2: int, expected: Any) -> None:
    assert finding("hypoxemia", child(spo2_percent=spo2), age(0, 4)) == expected


def test_a_fall_in_oxygen_saturation_of_3_points_in_a_child_is_a_warning_as_in_an_adult() -> None:
    assert finding("hypoxemia", child(spo2_percent=96), age(7), child(spo2_percent=99)) == WARN
    assert finding("hypoxemia", child(spo2_percent=97), age(7), child(spo2_percent=99)) is None


# ---------------------------------------------------------------------------------------------------------
# Age on the day of the set: the day before and the day of each band's birthday
# ---------------------------------------------------------------------------------------------------------

BORN = date(2020, 3, 15)

BIRTHDAY_CASES = [
    # (day of the set, exact age, band)
    (date(2020, 4, 14), age(0, 0), "under 3 months"),
    (date(2020, 4, 15), age(0, 1), "under 3 months"),
    (date(2020, 6, 14), age(0, 2), "under 3 months"),
    (date(2020, 6, 15), age(0, 3), "3 months to under 1 year"),
    (date(2021, 3, 14), age(0, 11), "3 months to under 1 year"),
    (date(2021, 3, 15), age(1, 0), "1 to under 2 years"),
    (date(2022, 3, 14), age(1, 11), "1 to under 2 years"),
    (date(2022, 3, 15), age(2, 0), "2 to under 4 years"),
    (date(2024, 3, 14), age(3, 11), "2 to under 4 years"),
    (date(2024, 3, 15), age(4, 0), "4 to under 6 years"),
    (date(2026, 3, 14), age(5, 11), "4 to under 6 years"),
    (date(2026, 3, 15), age(6, 0), "6 to under 10 years"),
    (date(2030, 3, 14), age(9, 11), "6 to under 10 years"),
    (date(2030, 3, 15), age(10, 0), "10 to under 12 years"),
    (date(2032, 3, 14), age(11, 11), "10 to under 12 years"),
    (date(2032, 3, 15), age(12, 0), None),
]


@pytest.mark.parametrize(("day", "expected_age", "band"), BIRTHDAY_CASES, ids=[str(c[0]) for c in BIRTHDAY_CASES])
def test_a_child_moves_to_the_next_band_on_the_day_of_the_birthday_not_the_day_before(
    day: date, expected_age: AgeAtSet, band: str | None
) -> None:
    at = AgeAtSet.on(BORN, day)
    assert at == expected_age
    found = child_band(at)
    assert (found.label if found else None) == band


@pytest.mark.parametrize(
    ("born", "day", "expected"),
    [
        (date(2020, 3, 15), date(2020, 3, 15), age(0, 0)),  # the day of birth
        # A day of birth the month lacks is reached on the first of the next month, as Patient.age_on does.
        (date(2024, 1, 31), date(2024, 2, 29), age(0, 0)),
        (date(2024, 1, 31), date(2024, 3, 1), age(0, 1)),
        (date(2024, 2, 29), date(2025, 2, 28), age(0, 11)),
        (date(2024, 2, 29), date(2025, 3, 1), age(1, 0)),
        (date(2024, 2, 29), date(2028, 2, 29), age(4, 0)),
        (date(2023, 11, 30), date(2024, 2, 29), age(0, 2)),
        (date(2023, 11, 30), date(2024, 3, 1), age(0, 3)),
        (date(2014, 12, 31), date(2026, 12, 30), age(11, 11)),
        (date(2014, 12, 31), date(2026, 12, 31), age(12, 0)),
    ],
)
def test_the_age_of_a_set_is_counted_in_calendar_months_and_years(born: date, day: date, expected: AgeAtSet) -> None:
    assert AgeAtSet.on(born, day) == expected


def test_a_set_dated_before_the_birth_date_is_refused() -> None:
    with pytest.raises(ValueError):
        AgeAtSet.on(BORN, BORN - timedelta(days=1))


def test_an_age_must_be_built_from_dates_not_datetimes_whose_day_depends_on_a_zone() -> None:
    with pytest.raises(TypeError):
        AgeAtSet.on(BORN, datetime(2024, 1, 1, 12, 0))


@pytest.mark.parametrize(("years", "months"), [(-1, 0), (0, -1), (0, 12), (1.0, 0), (True, 0)])
def test_an_impossible_age_is_refused(years: Any, months: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        AgeAtSet(years=years, months=months)


def test_an_age_in_months_counts_the_years() -> None:
    assert age(1, 6).in_months == 18
    assert age(0, 0).in_months == 0


# ---------------------------------------------------------------------------------------------------------
# Heart rate: value - 1, value, value + 1 at each limit of each band
# ---------------------------------------------------------------------------------------------------------


def test_the_default_bands_are_the_a11_table() -> None:
    table = [
        (
            b.label,
            b.heart_rate_min_bpm,
            b.heart_rate_max_bpm,
            b.respiratory_rate_min_per_min,
            b.respiratory_rate_max_per_min,
        )
        for b in ChildVitalsThresholds().bands
    ]
    assert table == [
        ("under 3 months", 85, 205, 30, 60),
        ("3 months to under 1 year", 100, 190, 30, 60),
        ("1 to under 2 years", 100, 190, 24, 40),
        ("2 to under 4 years", 60, 140, 24, 40),
        ("4 to under 6 years", 60, 140, 22, 34),
        ("6 to under 10 years", 60, 140, 18, 30),
        ("10 to under 12 years", 60, 100, 18, 30),
    ]
    assert ChildVitalsThresholds().bands is A11_BANDS


# The youngest and the oldest age of each band, so a band edge that is off by one month fails.
BAND_AGES = {
    "under 3 months": (age(0, 0), age(0, 2)),
    "3 months to under 1 year": (age(0, 3), age(0, 11)),
    "1 to under 2 years": (age(1, 0), age(1, 11)),
    "2 to under 4 years": (age(2, 0), age(3, 11)),
    "4 to under 6 years": (age(4, 0), age(5, 11)),
    "6 to under 10 years": (age(6, 0), age(9, 11)),
    "10 to under 12 years": (age(10, 0), age(11, 11)),
}

HEART_RATE_CASES = [
    # band, heart rate, (tachycardia, bradycardia)
    # under 3 months: 85-205; high above 246 (205 + 20 %)
    ("under 3 months", 84, (None, LOW)),
    ("under 3 months", 85, (None, None)),
    ("under 3 months", 86, (None, None)),
    ("under 3 months", 204, (None, None)),
    ("under 3 months", 205, (None, None)),
    ("under 3 months", 206, (WARN, None)),
    ("under 3 months", 245, (WARN, None)),
    ("under 3 months", 246, (WARN, None)),  # exactly 20 % above: not "more than"
    ("under 3 months", 247, (STOP, None)),
    # 3 months to under 1 year: 100-190; high above 228
    ("3 months to under 1 year", 99, (None, LOW)),
    ("3 months to under 1 year", 100, (None, None)),
    ("3 months to under 1 year", 101, (None, None)),
    ("3 months to under 1 year", 189, (None, None)),
    ("3 months to under 1 year", 190, (None, None)),
    ("3 months to under 1 year", 191, (WARN, None)),
    ("3 months to under 1 year", 227, (WARN, None)),
    ("3 months to under 1 year", 228, (WARN, None)),
    ("3 months to under 1 year", 229, (STOP, None)),
    # 1 to under 2 years: 100-190; high above 228
    ("1 to under 2 years", 99, (None, LOW)),
    ("1 to under 2 years", 100, (None, None)),
    ("1 to under 2 years", 101, (None, None)),
    ("1 to under 2 years", 189, (None, None)),
    ("1 to under 2 years", 190, (None, None)),
    ("1 to under 2 years", 191, (WARN, None)),
    ("1 to under 2 years", 228, (WARN, None)),
    ("1 to under 2 years", 229, (STOP, None)),
    # 2 to under 4 years: 60-140; high above 168
    ("2 to under 4 years", 59, (None, LOW)),
    ("2 to under 4 years", 60, (None, None)),
    ("2 to under 4 years", 61, (None, None)),
    ("2 to under 4 years", 139, (None, None)),
    ("2 to under 4 years", 140, (None, None)),
    ("2 to under 4 years", 141, (WARN, None)),
    ("2 to under 4 years", 167, (WARN, None)),
    ("2 to under 4 years", 168, (WARN, None)),
    ("2 to under 4 years", 169, (STOP, None)),
    # 4 to under 6 years: 60-140
    ("4 to under 6 years", 59, (None, LOW)),
    ("4 to under 6 years", 60, (None, None)),
    ("4 to under 6 years", 140, (None, None)),
    ("4 to under 6 years", 141, (WARN, None)),
    ("4 to under 6 years", 168, (WARN, None)),
    ("4 to under 6 years", 169, (STOP, None)),
    # 6 to under 10 years: 60-140
    ("6 to under 10 years", 59, (None, LOW)),
    ("6 to under 10 years", 60, (None, None)),
    ("6 to under 10 years", 140, (None, None)),
    ("6 to under 10 years", 141, (WARN, None)),
    ("6 to under 10 years", 168, (WARN, None)),
    ("6 to under 10 years", 169, (STOP, None)),
    # 10 to under 12 years: 60-100; high above 120
    ("10 to under 12 years", 59, (None, LOW)),
    ("10 to under 12 years", 60, (None, None)),
    ("10 to under 12 years", 61, (None, None)),
    ("10 to under 12 years", 99, (None, None)),
    ("10 to under 12 years", 100, (None, None)),
    ("10 to under 12 years", 101, (WARN, None)),
    ("10 to under 12 years", 119, (WARN, None)),
    ("10 to under 12 years", 120, (WARN, None)),
    ("10 to under 12 years", 121, (STOP, None)),
]


@pytest.mark.parametrize("oldest", [False, True], ids=["youngest-in-band", "oldest-in-band"])
@pytest.mark.parametrize(
    ("band", "heart_rate", "expected"), HEART_RATE_CASES, ids=[f"{c[0]}-{c[1]}" for c in HEART_RATE_CASES]
)
def test_a_child_s_heart_rate_alerts_exactly_as_the_a11_band_for_age_says(
    band: str, heart_rate: int, expected: tuple[Any, Any], oldest: bool
) -> None:
    at = BAND_AGES[band][oldest]
    current = child(heart_rate_bpm=heart_rate)
    assert (finding("tachycardia", current, at), finding("bradycardia", current, at)) == expected


BRADYCARDIA_EXCEPTION_CASES = [
    # Under 2 years a heart rate below 60 is high; from 2 years only below 40 (A5) is.
    (age(0, 0), 61, LOW),
    (age(0, 0), 60, LOW),
    (age(0, 0), 59, STOP),
    (age(1, 11), 61, LOW),
    (age(1, 11), 60, LOW),
    (age(1, 11), 59, STOP),
    (age(1, 11), 39, STOP),
    (age(2, 0), 59, LOW),  # the day of the second birthday: only a warning to recount
    (age(2, 0), 41, LOW),
    (age(2, 0), 40, LOW),
    (age(2, 0), 39, STOP),
    (age(11, 11), 41, LOW),
    (age(11, 11), 40, LOW),
    (age(11, 11), 39, STOP),
]


@pytest.mark.parametrize(("at", "heart_rate", "expected"), BRADYCARDIA_EXCEPTION_CASES)
def test_a_slow_heart_rate_is_high_below_60_under_2_years_and_below_40_at_any_age(
    at: AgeAtSet, heart_rate: int, expected: tuple[Any, Any]
) -> None:
    assert finding("bradycardia", child(heart_rate_bpm=heart_rate), at) == expected


def test_a_heart_rate_of_59_on_the_day_before_the_second_birthday_is_high_and_on_the_day_a_warning() -> None:
    born = date(2022, 6, 10)
    day_before = AgeAtSet.on(born, date(2024, 6, 9))
    birthday = AgeAtSet.on(born, date(2024, 6, 10))
    assert finding("bradycardia", child(heart_rate_bpm=59), day_before) == STOP
    assert finding("bradycardia", child(heart_rate_bpm=59), birthday) == LOW


# ---------------------------------------------------------------------------------------------------------
# Respiratory rate
# ---------------------------------------------------------------------------------------------------------

RESPIRATORY_RATE_CASES = [
    # band, respiratory rate, (tachypnea, bradypnea)
    # under 1 year: 30-60; high above 72
    ("under 3 months", 29, (None, LOW)),
    ("under 3 months", 30, (None, None)),
    ("under 3 months", 31, (None, None)),
    ("under 3 months", 59, (None, None)),
    ("under 3 months", 60, (None, None)),
    ("under 3 months", 61, (WARN, None)),
    ("under 3 months", 72, (WARN, None)),
    ("under 3 months", 73, (STOP, None)),
    ("3 months to under 1 year", 29, (None, LOW)),
    ("3 months to under 1 year", 30, (None, None)),
    ("3 months to under 1 year", 60, (None, None)),
    ("3 months to under 1 year", 61, (WARN, None)),
    ("3 months to under 1 year", 72, (WARN, None)),
    ("3 months to under 1 year", 73, (STOP, None)),
    # 1 to under 4 years: 24-40; high above 48
    ("1 to under 2 years", 23, (None, LOW)),
    ("1 to under 2 years", 24, (None, None)),
    ("1 to under 2 years", 25, (None, None)),
    ("1 to under 2 years", 39, (None, None)),
    ("1 to under 2 years", 40, (None, None)),
    ("1 to under 2 years", 41, (WARN, None)),
    ("1 to under 2 years", 48, (WARN, None)),
    ("1 to under 2 years", 49, (STOP, None)),
    ("2 to under 4 years", 23, (None, LOW)),
    ("2 to under 4 years", 24, (None, None)),
    ("2 to under 4 years", 40, (None, None)),
    ("2 to under 4 years", 41, (WARN, None)),
    ("2 to under 4 years", 48, (WARN, None)),
    ("2 to under 4 years", 49, (STOP, None)),
    # 4 to under 6 years: 22-34; high above 40.8
    ("4 to under 6 years", 21, (None, LOW)),
    ("4 to under 6 years", 22, (None, None)),
    ("4 to under 6 years", 23, (None, None)),
    ("4 to under 6 years", 33, (None, None)),
    ("4 to under 6 years", 34, (None, None)),
    ("4 to under 6 years", 35, (WARN, None)),
    ("4 to under 6 years", 40, (WARN, None)),
    ("4 to under 6 years", 41, (STOP, None)),
    # 6 to under 12 years: 18-30; high above 36
    ("6 to under 10 years", 17, (None, LOW)),
    ("6 to under 10 years", 18, (None, None)),
    ("6 to under 10 years", 19, (None, None)),
    ("6 to under 10 years", 29, (None, None)),
    ("6 to under 10 years", 30, (None, None)),
    ("6 to under 10 years", 31, (WARN, None)),
    ("6 to under 10 years", 36, (WARN, None)),
    ("6 to under 10 years", 37, (STOP, None)),
    ("10 to under 12 years", 17, (None, LOW)),
    ("10 to under 12 years", 18, (None, None)),
    ("10 to under 12 years", 30, (None, None)),
    ("10 to under 12 years", 31, (WARN, None)),
    ("10 to under 12 years", 36, (WARN, None)),
    ("10 to under 12 years", 37, (STOP, None)),
]


@pytest.mark.parametrize("oldest", [False, True], ids=["youngest-in-band", "oldest-in-band"])
@pytest.mark.parametrize(
    ("band", "rate", "expected"), RESPIRATORY_RATE_CASES, ids=[f"{c[0]}-{c[1]}" for c in RESPIRATORY_RATE_CASES]
)
def test_a_child_s_breathing_rate_alerts_exactly_as_the_a11_band_for_age_says(
    band: str, rate: int, expected: tuple[Any, Any], oldest: bool
) -> None:
    at = BAND_AGES[band][oldest]
    current = child(respiratory_rate_per_min=rate)
    assert (finding("tachypnea", current, at), finding("bradypnea", current, at)) == expected


def test_the_slowest_possible_breathing_rate_in_a_baby_is_still_only_a_warning_to_recount() -> None:
    assert finding("bradypnea", child(respiratory_rate_per_min=4), age(0, 1)) == LOW


def test_bradypnea_is_never_raised_from_12_years() -> None:
    assert finding("bradypnea", child(respiratory_rate_per_min=4), age(12)) is None
    assert finding("bradypnea", child(respiratory_rate_per_min=4), None) is None


def test_a_fast_heart_rate_more_than_20_percent_above_the_band_says_so() -> None:
    (alert,) = [a for a in evaluate_vitals(child(heart_rate_bpm=169), None, age=age(3)) if a.code == "tachycardia"]
    assert alert.message == (
        "Heart rate 169 /min: fast heart rate - above 168 /min, more than 20 % above 140 /min for age "
        "2 to under 4 years."
    )


def test_a_fractional_20_percent_limit_is_shown_exactly() -> None:
    (alert,) = [
        a for a in evaluate_vitals(child(respiratory_rate_per_min=41), None, age=age(5)) if a.code == "tachypnea"
    ]
    assert "above 40.8 /min, more than 20 % above 34 /min for age 4 to under 6 years" in alert.message


# ---------------------------------------------------------------------------------------------------------
# Systolic pressure
# ---------------------------------------------------------------------------------------------------------

HYPOTENSION_LIMIT_CASES = [
    # age, PALS limit (systolic below it is high)
    (age(0, 0), 60),
    (age(0, 1), 70),
    (age(0, 11), 70),
    (age(1, 0), 72),
    (age(1, 11), 72),
    (age(2, 0), 74),
    (age(4, 0), 78),
    (age(6, 0), 82),
    (age(9, 11), 88),
    (age(10, 0), 90),
    (age(11, 11), 90),
]


@pytest.mark.parametrize(("at", "limit"), HYPOTENSION_LIMIT_CASES)
def test_a_systolic_pressure_below_the_pals_limit_for_age_is_high_and_at_the_limit_it_is_not(
    at: AgeAtSet, limit: int
) -> None:
    assert child_hypotension_limit_mmhg(at)[0] == limit
    assert finding("hypotension", child(systolic_bp_mmhg=limit - 1, diastolic_bp_mmhg=40), at) == STOP
    assert finding("hypotension", child(systolic_bp_mmhg=limit, diastolic_bp_mmhg=40), at) is None
    assert finding("hypotension", child(systolic_bp_mmhg=limit + 1, diastolic_bp_mmhg=40), at) is None


@pytest.mark.parametrize(
    ("day", "limit"),
    [
        (date(2020, 4, 14), 60),  # the day before the 1-month birthday
        (date(2020, 4, 15), 70),  # the day of it
        (date(2021, 3, 14), 70),  # the day before the first birthday
        (date(2021, 3, 15), 72),  # the day of it: 70 + 2 x 1
        (date(2030, 3, 14), 88),  # the day before the tenth birthday: 70 + 2 x 9
        (date(2030, 3, 15), 90),
        (date(2032, 3, 14), 90),  # the day before the twelfth birthday
    ],
)
def test_the_hypotension_limit_changes_on_the_day_of_the_birthday(day: date, limit: int) -> None:
    at = AgeAtSet.on(BORN, day)
    assert finding("hypotension", child(systolic_bp_mmhg=limit - 1, diastolic_bp_mmhg=40), at) == STOP
    assert finding("hypotension", child(systolic_bp_mmhg=limit, diastolic_bp_mmhg=40), at) is None


def test_the_hypotension_message_names_the_pals_limit_for_age() -> None:
    (alert,) = evaluate_vitals(child(systolic_bp_mmhg=73, diastolic_bp_mmhg=40), None, age=age(2))
    assert alert.message == (
        "Systolic BP 73 mmHg: low blood pressure - below 74 mmHg (the limit at 2 years: 70 + 2 × age in years)."
    )


@pytest.mark.parametrize(
    ("baseline", "current", "expected"),
    [
        (120, 101, None),  # fall 19
        (120, 100, WARN),  # fall 20
        (120, 99, WARN),  # fall 21
        (120, 91, WARN),  # fall 29
        (120, 90, STOP),  # fall 30
        (120, 89, STOP),  # fall 31
    ],
)
def test_a5_s_systolic_falls_from_baseline_apply_to_a_six_year_old(baseline: int, current: int, expected: Any) -> None:
    # The six-year-old's PALS limit is 82 mmHg, so every reading here is above it: only the fall counts.
    at = age(6)
    result = finding("hypotension", child(systolic_bp_mmhg=current), at, child(systolic_bp_mmhg=baseline))
    assert result == expected


def test_a5_s_fall_of_more_than_30_percent_applies_to_a_baby() -> None:
    # 100 -> 69 in a 2-month-old: 31 mmHg and 31 %, and below the limit of 70.
    assert finding("hypotension", child(systolic_bp_mmhg=69, diastolic_bp_mmhg=40), age(0, 2), CALM) == STOP


@pytest.mark.parametrize(
    ("baseline", "current", "expected"),
    [
        (90, 119, None),  # rise 29
        (90, 120, None),  # rise 30
        (90, 121, WARN),  # rise 31
        (90, 139, WARN),  # rise 49
        (90, 140, WARN),  # rise 50
        (90, 141, STOP),  # rise 51
        (150, 181, WARN),  # rise 31: 181 mmHg is no absolute threshold under 12
    ],
)
def test_a_child_s_hypertension_is_a_rise_of_more_than_30_from_baseline_and_high_above_50(
    baseline: int, current: int, expected: Any
) -> None:
    result = finding("hypertension", child(systolic_bp_mmhg=current), age(7), child(systolic_bp_mmhg=baseline))
    assert result == expected


@pytest.mark.parametrize("systolic", [159, 160, 179, 180, 250])
def test_without_a_baseline_a_child_s_systolic_pressure_never_raises_hypertension(systolic: int) -> None:
    assert finding("hypertension", child(systolic_bp_mmhg=systolic), age(11, 11)) is None


# ---------------------------------------------------------------------------------------------------------
# From 12 years: A5 unchanged
# ---------------------------------------------------------------------------------------------------------

ADULT_RANGE_SETS = [
    child(heart_rate_bpm=101),
    child(heart_rate_bpm=45),
    child(respiratory_rate_per_min=12),
    child(respiratory_rate_per_min=25),
    child(systolic_bp_mmhg=89),
    child(systolic_bp_mmhg=165),
    child(temperature_c=D("39.0"), spo2_percent=91),
]


@pytest.mark.parametrize("current", ADULT_RANGE_SETS)
@pytest.mark.parametrize("baseline", [None, CALM])
def test_from_the_twelfth_birthday_the_alerts_are_exactly_a5_s(current: VitalSigns, baseline: Any) -> None:
    twelve = AgeAtSet.on(date(2014, 5, 1), date(2026, 5, 1))
    assert evaluate_vitals(current, baseline, age=twelve) == evaluate_vitals(current, baseline)
    assert evaluate_vitals(current, baseline, age=age(40)) == evaluate_vitals(current, baseline)


# ---------------------------------------------------------------------------------------------------------
# Stored and API shape
# ---------------------------------------------------------------------------------------------------------


def test_only_a_low_for_age_warning_carries_the_low_for_age_key_in_the_stored_alerts() -> None:
    alerts = evaluate_vitals(child(heart_rate_bpm=55, respiratory_rate_per_min=50), None, age=age(3))
    assert alert_records(alerts) == [
        {
            "code": "bradycardia",
            "severity": "warning",
            "message": (
                f"Heart rate 55 /min: slow heart rate - below 60 /min for age 2 to under 4 years; {LOW_FOR_AGE_ADVICE}."
            ),
            "suggested_action": "halve_rate",
            "low_for_age": True,
        },
        {
            "code": "tachypnea",
            "severity": "high",
            "message": (
                "Respiratory rate 50 /min: fast breathing - above 48 /min, more than 20 % above 40 /min for age "
                "2 to under 4 years."
            ),
            "suggested_action": "stop",
        },
    ]


def test_an_adult_s_stored_alerts_keep_exactly_the_four_keys_of_the_api() -> None:
    (record,) = alert_records(evaluate_vitals(child(heart_rate_bpm=45, respiratory_rate_per_min=16), None))
    assert set(record) == {"code", "severity", "message", "suggested_action"}


def test_the_child_codes_are_a5_s_with_bradypnea_after_tachypnea() -> None:
    assert CHILD_ALERT_CODES == (
        "fever",
        "hypotension",
        "hypertension",
        "tachycardia",
        "bradycardia",
        "tachypnea",
        "bradypnea",
        "hypoxemia",
    )
    assert set(ALERT_CODES) < set(CHILD_ALERT_CODES)


# ---------------------------------------------------------------------------------------------------------
# Configuration: a hospital's own PEWS chart
# ---------------------------------------------------------------------------------------------------------


def test_a_hospital_can_load_its_own_chart_and_apply_it_to_older_children() -> None:
    bands = (*A11_BANDS[:-1], ChildVitalsBand(120, 192, 60, 110, 16, 26))  # 10 to under 16 years
    chart = ChildVitalsThresholds(applies_below_years=16, bands=bands)
    thirteen, calm = age(13), child(respiratory_rate_per_min=20)
    assert evaluate_vitals(replace(calm, heart_rate_bpm=105), None, age=thirteen, child_thresholds=chart) == ()
    assert codes(evaluate_vitals(replace(calm, heart_rate_bpm=105), None, age=thirteen)) == {"tachycardia": WARNING}
    alerts = evaluate_vitals(replace(calm, heart_rate_bpm=111), None, age=thirteen, child_thresholds=chart)
    assert codes(alerts) == {"tachycardia": WARNING}


def _with_band(index: int, **changes: Any) -> tuple[ChildVitalsBand, ...]:
    bands = list(A11_BANDS)
    bands[index] = replace(bands[index], **changes)
    return tuple(bands)


@pytest.mark.parametrize(
    "changes",
    [
        {"bands": ()},
        {"bands": A11_BANDS[1:]},  # does not start at birth
        {"bands": A11_BANDS[:-1]},  # ends at 10 years, not 12
        {"bands": (A11_BANDS[0], *A11_BANDS[2:])},  # a gap from 3 to 12 months
        {"bands": _with_band(1, below_months=13)},  # overlaps the next band
        {"applies_below_years": 13},  # the bands end at 12
        {"hypertension_high_rise_above_mmhg": 29},
        {"hypotension_high_below_mmhg_under_1_month": 71},
        {"hypotension_high_below_mmhg_from_10_years": 87},  # below 70 + 2 x 9
        {"high_above_max_by_more_than_percent": D("0")},
        {"bradycardia_high_below_bpm_under_2_years": -1},
    ],
)
def test_an_inconsistent_children_s_chart_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ChildVitalsThresholds(**changes)


@pytest.mark.parametrize(
    "changes",
    [
        {"heart_rate_min_bpm": 205},  # lower not below upper
        {"respiratory_rate_min_per_min": 61},
        {"heart_rate_min_bpm": 0},
        {"below_months": 0},
        {"from_months": -1},
    ],
)
def test_a_band_whose_limits_are_not_in_order_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        replace(A11_BANDS[0], **changes)


@pytest.mark.parametrize(
    "changes",
    [
        {"high_above_max_by_more_than_percent": 20},
        {"hypertension_warning_rise_above_mmhg": 30.0},
        {"bands": list(A11_BANDS)},
        {"bands": (A11_BANDS[0], "3-12 months")},
    ],
)
def test_a_children_s_chart_of_the_wrong_types_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        ChildVitalsThresholds(**changes)


# ---------------------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------------------

NO_DB = settings(database=None, max_examples=300, deadline=None)


@st.composite
def plausible_vitals(draw: st.DrawFn) -> VitalSigns:
    systolic = draw(st.integers(50, 300))
    return VitalSigns(
        temperature_c=Decimal(draw(st.integers(300, 440))).scaleb(-1),
        heart_rate_bpm=draw(st.integers(20, 250)),
        systolic_bp_mmhg=systolic,
        diastolic_bp_mmhg=draw(st.integers(20, min(200, systolic - 1))),
        respiratory_rate_per_min=draw(st.integers(4, 80)),
        spo2_percent=draw(st.integers(50, 100)),
    )


children = st.builds(AgeAtSet, years=st.integers(0, 11), months=st.integers(0, 11))
twelve_and_over = st.builds(AgeAtSet, years=st.integers(12, 120), months=st.integers(0, 11))


@NO_DB
@given(current=plausible_vitals(), baseline=st.none() | plausible_vitals(), at=children)
def test_under_12_a_low_for_age_finding_is_only_ever_a_warning_and_only_the_named_exceptions_are_high(
    current: VitalSigns, baseline: VitalSigns | None, at: AgeAtSet
) -> None:
    alerts = evaluate_vitals(current, baseline, age=at)
    found = [a.code for a in alerts]
    assert found == [c for c in CHILD_ALERT_CODES if c in found]
    for alert in alerts:
        if alert.low_for_age:
            assert alert.severity == WARNING
            assert alert.code in ("bradycardia", "bradypnea")
            assert alert.message.endswith(f"{LOW_FOR_AGE_ADVICE}.")
        if alert.code == "bradypnea":
            assert (alert.severity, alert.low_for_age) == (WARNING, True)
        if alert.code == "bradycardia" and alert.severity == HIGH:
            hr = current.heart_rate_bpm
            assert hr < 40 or (hr < 60 and at.years < 2)
        if alert.code == "bradycardia" and alert.severity == WARNING:
            assert alert.low_for_age


@NO_DB
@given(current=plausible_vitals(), baseline=st.none() | plausible_vitals(), at=twelve_and_over)
def test_from_12_years_the_result_is_exactly_a5_s(
    current: VitalSigns, baseline: VitalSigns | None, at: AgeAtSet
) -> None:
    assert evaluate_vitals(current, baseline, age=at) == evaluate_vitals(current, baseline)


@st.composite
def calm_child(draw: st.DrawFn) -> tuple[AgeAtSet, VitalSigns]:
    at = draw(children)
    band = child_band(at)
    assert band is not None
    limit, _ = child_hypotension_limit_mmhg(at)
    systolic = draw(st.integers(limit, 140))
    return at, VitalSigns(
        temperature_c=Decimal(draw(st.integers(355, 379))).scaleb(-1),
        heart_rate_bpm=draw(st.integers(band.heart_rate_min_bpm, band.heart_rate_max_bpm)),
        systolic_bp_mmhg=systolic,
        diastolic_bp_mmhg=draw(st.integers(20, systolic - 1)),
        respiratory_rate_per_min=draw(
            st.integers(band.respiratory_rate_min_per_min, band.respiratory_rate_max_per_min)
        ),
        spo2_percent=draw(st.integers(94, 100)),
    )


@NO_DB
@given(case=calm_child())
def test_a_child_whose_readings_are_all_within_the_band_for_age_raises_nothing(
    case: tuple[AgeAtSet, VitalSigns],
) -> None:
    at, calm = case
    assert evaluate_vitals(calm, None, age=at) == ()
    assert evaluate_vitals(calm, calm, age=at) == ()


@NO_DB
@given(born=st.dates(date(1990, 1, 1), date(2030, 12, 31)), days=st.integers(0, 6000))
def test_age_in_months_never_goes_back_and_grows_by_at_most_one_a_day(born: date, days: int) -> None:
    day = born + timedelta(days=days)
    assume(day < date(2045, 1, 1))
    today, tomorrow = AgeAtSet.on(born, day), AgeAtSet.on(born, day + timedelta(days=1))
    assert tomorrow.in_months - today.in_months in (0, 1)
    # Whole years agree with the birthday rule of Patient.age_on.
    years = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
    assert today.years == years
