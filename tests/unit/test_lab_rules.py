"""docs/clinical-rules.md §A13 as plain values: laboratory units converted by the unit sent, plausibility, ABO/Rh
groups, and eGFR by CKD-EPI 2021 (adults) and bedside Schwartz (children). Each eGFR case shows its working from
the published equations, so a reviewer can check it by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from patients.lab_rules import (
    BloodGroupError,
    EgfrEquation,
    LabTest,
    LabValueError,
    blood_group,
    egfr,
    to_si,
)

pytestmark = pytest.mark.unit

ON = date(2026, 12, 1)


def born(years: int) -> date:
    return date(ON.year - years, 6, 1) if date(ON.year - years, 6, 1) <= ON else date(ON.year - years - 1, 6, 1)


# --- Units ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("test", "value", "unit", "si"),
    [
        (LabTest.CREATININE, "88", "umol/L", "88.0"),
        (LabTest.CREATININE, "88", "µmol/L", "88.0"),
        (LabTest.CREATININE, "0.088", "mmol/L", "88.0"),
        (LabTest.CREATININE, "1.0", "mg/dL", "88.4"),
        (LabTest.CREATININE, "1.13", "MG/DL", "99.9"),
        (LabTest.HEMOGLOBIN, "132", "g/L", "132.0"),
        (LabTest.HEMOGLOBIN, "13.2", "g/dL", "132.0"),
        (LabTest.HEMOGLOBIN, "8.2", "mmol/L", "132.1"),
    ],
)
def test_a_value_is_converted_by_the_unit_the_laboratory_sent(test, value, unit, si):
    assert to_si(test, Decimal(value), unit) == Decimal(si)


def test_mmol_per_litre_means_a_different_factor_for_each_test():
    assert to_si(LabTest.CREATININE, Decimal("0.1"), "mmol/L") == Decimal("100.0")
    assert to_si(LabTest.HEMOGLOBIN, Decimal("6"), "mmol/L") == Decimal("96.7")


@pytest.mark.parametrize("unit", ["mg/L", "umol", "g/dl/min", "", "10*9/L"])
def test_a_unit_this_system_does_not_convert_is_refused_in_words(unit):
    with pytest.raises(LabValueError) as refused:
        to_si(LabTest.CREATININE, Decimal(80), unit)
    assert refused.value.field == "unit"
    assert "is not one this system converts for creatinine" in refused.value.message


@pytest.mark.parametrize(
    ("test", "value", "unit"),
    [
        (LabTest.CREATININE, "9.9", "umol/L"),
        (LabTest.CREATININE, "2501", "umol/L"),
        (LabTest.CREATININE, "88", "mg/dL"),  # µmol/L typed as mg/dL: 7779 µmol/L
        (LabTest.HEMOGLOBIN, "13.2", "g/L"),  # g/dL typed as g/L
        (LabTest.HEMOGLOBIN, "251", "g/L"),
    ],
)
def test_an_implausible_value_is_refused_with_its_range(test, value, unit):
    with pytest.raises(LabValueError) as refused:
        to_si(test, Decimal(value), unit)
    assert refused.value.field == "value"
    assert "is not plausible" in refused.value.message and "check the value and its unit" in refused.value.message


def test_the_plausible_limits_themselves_are_accepted():
    assert to_si(LabTest.CREATININE, Decimal(10), "umol/L") == Decimal("10.0")
    assert to_si(LabTest.HEMOGLOBIN, Decimal(250), "g/L") == Decimal("250.0")


@pytest.mark.parametrize("value", ["0", "-5", "NaN", "Infinity"])
def test_zero_negative_or_not_a_number_is_refused(value):
    with pytest.raises(LabValueError):
        to_si(LabTest.HEMOGLOBIN, Decimal(value), "g/L")


# --- Blood groups --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("O+", "O+"),
        ("o pos", "O+"),
        ("0 Rh+", "O+"),
        ("A neg", "A-"),
        ("AB positive", "AB+"),
        ("B RhD negative", "B-"),
        (" ab- ", "AB-"),
        ("A Rh(D) positive", "A+"),
        ("Blood group O Rh(D) negative", "O-"),
    ],
)
def test_a_group_is_stored_as_abo_and_rh(written, stored):
    assert blood_group(written) == stored


@pytest.mark.parametrize("written", ["O", "A", "Rh+", "C+", "AB?", "", "positive"])
def test_a_group_without_both_parts_is_refused(written):
    with pytest.raises(BloodGroupError):
        blood_group(written)


# --- eGFR ----------------------------------------------------------------------------------------------------


def adult_egfr(years: int, creatinine_umol_l: str, *, female: bool, **extra):
    return egfr(
        creatinine_umol_l=Decimal(creatinine_umol_l), collected_on=ON, birth_date=born(years), female=female, **extra
    )


def test_ckd_epi_2021_for_a_man_of_50_with_a_creatinine_of_1_mg_dl():
    # 142 x (1.0/0.9)^-1.200 x 0.9938^50 = 142 x 0.8812 x 0.7327 = 91.7 -> 92
    result = adult_egfr(50, "88.4", female=False)
    assert (result.value, result.equation, result.not_reliable) == (Decimal(92), EgfrEquation.CKD_EPI_2021, "")


def test_ckd_epi_2021_for_a_woman_of_50_with_a_creatinine_of_1_mg_dl():
    # 142 x (1.0/0.7)^-1.200 x 0.9938^50 x 1.012 = 142 x 0.6518 x 0.7327 x 1.012 = 68.6 -> 69
    assert adult_egfr(50, "88.4", female=True).value == Decimal(69)


def test_ckd_epi_2021_below_kappa_uses_alpha():
    # A woman of 30 at 0.5 mg/dL (44.2 umol/L): 142 x (0.5/0.7)^-0.241 x 0.9938^30 x 1.012
    # = 142 x 1.0845 x 0.8297 x 1.012 = 129.3 -> 129
    assert adult_egfr(30, "44.2", female=True).value == Decimal(129)


def test_ckd_epi_2021_for_a_man_of_75_with_a_creatinine_of_2_mg_dl():
    # 142 x (2.0/0.9)^-1.200 x 0.9938^75 = 142 x 0.3835 x 0.6272 = 34.2 -> 34
    assert adult_egfr(75, "176.8", female=False).value == Decimal(34)


def test_bedside_schwartz_for_a_child_of_8():
    # 0.413 x 128 cm / (44.2 / 88.4 = 0.5 mg/dL) = 105.7 -> 106
    result = egfr(
        creatinine_umol_l=Decimal("44.2"), collected_on=ON, birth_date=born(8), female=False, height_cm=Decimal(128)
    )
    assert (result.value, result.equation) == (Decimal(106), EgfrEquation.BEDSIDE_SCHWARTZ)


def test_a_child_without_a_height_has_no_egfr_and_under_one_year_none_is_computed():
    child = egfr(creatinine_umol_l=Decimal(30), collected_on=ON, birth_date=born(5), female=True)
    assert (child.value, child.equation) == (None, EgfrEquation.BEDSIDE_SCHWARTZ)
    infant = egfr(
        creatinine_umol_l=Decimal(30),
        collected_on=ON,
        birth_date=ON - timedelta(days=200),
        female=True,
        height_cm=Decimal(65),
    )
    assert (infant.value, infant.equation) == (None, None)


def test_the_day_a_patient_turns_18_the_adult_equation_applies():
    birthday = date(ON.year - 18, ON.month, ON.day)
    result = egfr(
        creatinine_umol_l=Decimal(70), collected_on=ON, birth_date=birthday, female=False, height_cm=Decimal(175)
    )
    assert result.equation == EgfrEquation.CKD_EPI_2021
    day_before = egfr(
        creatinine_umol_l=Decimal(70),
        collected_on=ON - timedelta(days=1),
        birth_date=birthday,
        female=False,
        height_cm=Decimal(175),
    )
    assert day_before.equation == EgfrEquation.BEDSIDE_SCHWARTZ


def test_egfr_is_not_reliable_in_pregnancy():
    assert adult_egfr(30, "60", female=True, pregnant=True).not_reliable == "pregnancy"


def test_egfr_is_not_reliable_when_creatinine_moved_26_5_umol_l_in_48_hours():
    now = datetime(2026, 12, 1, 8, tzinfo=UTC)
    moved = adult_egfr(
        60, "120", female=False, collected_at=now, previous_creatinines=((now - timedelta(hours=30), Decimal("93.5")),)
    )
    assert "changed by 26.5" in moved.not_reliable
    stable = adult_egfr(
        60, "120", female=False, collected_at=now, previous_creatinines=((now - timedelta(hours=30), Decimal("93.6")),)
    )
    assert stable.not_reliable == ""
    older = adult_egfr(
        60, "120", female=False, collected_at=now, previous_creatinines=((now - timedelta(hours=49), Decimal(60)),)
    )
    assert older.not_reliable == ""


@pytest.mark.parametrize("value", ["9e999999", "1e9", "1e-9"])
def test_an_absurd_magnitude_is_refused_not_a_server_error(value):
    with pytest.raises(LabValueError) as refused:
        to_si(LabTest.CREATININE, Decimal(value), "mg/dL")
    assert refused.value.field == "value"


def test_the_refusal_lists_the_units_as_laboratories_write_them():
    with pytest.raises(LabValueError) as creatinine:
        to_si(LabTest.CREATININE, Decimal(80), "mg/L")
    assert creatinine.value.message.endswith("(µmol/L, mmol/L, mg/dL).")
    with pytest.raises(LabValueError) as hemoglobin:
        to_si(LabTest.HEMOGLOBIN, Decimal("12.5"), "g/mL")
    assert hemoglobin.value.message.endswith("(g/L, g/dL, mmol/L).")
