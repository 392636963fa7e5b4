"""docs/clinical-rules.md §A9 renal_labs_missing, hemolysis_labs_missing and blood_group_missing as plain values."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from core.stops import Kind, Overrider
from infusions.safety_rules import blood_group_missing, hemolysis_labs_missing, renal_labs_missing

pytestmark = pytest.mark.unit

FIRST = date(2026, 12, 10)
DAY_STARTS = datetime(2026, 12, 10, tzinfo=UTC)


def renal(latest, factors=(), emergency=False):
    return renal_labs_missing(
        latest_creatinine_on=latest, first_infusion_on=FIRST, renal_risk_factors=factors, emergency=emergency
    )


def test_a_creatinine_within_90_days_is_enough_without_a_renal_risk_factor():
    assert renal(FIRST - timedelta(days=90)) == []
    stop = renal(FIRST - timedelta(days=91))[0]
    assert (stop.code, stop.kind, stop.overrider) == ("renal_labs_missing", Kind.OVERRIDE, Overrider.VERIFIER)
    assert "within 90 days" in stop.message and "2026-09-10" in stop.message


def test_with_a_renal_risk_factor_it_must_be_within_7_days_and_the_factor_is_named():
    assert renal(FIRST - timedelta(days=7), ("diabetes",)) == []
    stop = renal(FIRST - timedelta(days=8), ("diabetes", "age over 65"))[0]
    assert "within 7 days before the first infusion (diabetes, age over 65)" in stop.message


def test_no_creatinine_at_all_is_said_and_an_emergency_is_only_warned():
    assert "none is recorded" in renal(None)[0].message
    assert renal(None, emergency=True)[0].kind is Kind.WARNING


def hemolysis(course, group, hb_at, emergency=False):
    return hemolysis_labs_missing(
        course_g_per_kg=Decimal(course),
        blood_group=group,
        latest_hemoglobin_at=hb_at,
        first_infusion_starts_from=DAY_STARTS,
        emergency=emergency,
    )


def test_a_1_g_per_kg_course_for_group_o_needs_no_hemoglobin():
    assert hemolysis("1", "O+", None) == []


@pytest.mark.parametrize(
    ("course", "group", "why"),
    [("2", "O-", "a course of 2 g/kg"), ("1", "A+", "blood group A+"), ("1", None, "blood group unknown")],
)
def test_a_high_dose_course_or_a_group_other_than_o_needs_a_hemoglobin_within_72_hours(course, group, why):
    assert hemolysis(course, group, DAY_STARTS - timedelta(hours=72)) == []
    stop = hemolysis(course, group, DAY_STARTS - timedelta(hours=73))[0]
    assert (stop.code, stop.kind) == ("hemolysis_labs_missing", Kind.OVERRIDE)
    assert why in stop.message


def test_a_missing_group_is_a_warning_only_for_a_course_of_2_g_per_kg():
    assert blood_group_missing(course_g_per_kg=Decimal("1"), blood_group=None) == []
    assert blood_group_missing(course_g_per_kg=Decimal("2"), blood_group="B+") == []
    stop = blood_group_missing(course_g_per_kg=Decimal("2"), blood_group=None)[0]
    assert (stop.code, stop.kind) == ("blood_group_missing", Kind.WARNING)
