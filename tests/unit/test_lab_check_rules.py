"""docs/clinical-rules.md §A13 "After the course", with plain values: which checks a course owes, which sample answers
them, and when a creatinine rise or a hemoglobin fall is a renal decline or a suspected haemolysis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from monitoring import lab_check_rules as rules
from monitoring.lab_check_rules import LabCheckLabel, LabCheckTest, LabReading

pytestmark = pytest.mark.unit

FIRST_START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LAST_END = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


def reading(value: str, at: datetime) -> LabReading:
    return LabReading(value_si=Decimal(value), collected_at=at)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


# --- Which checks -------------------------------------------------------------------------------------------


def test_a_renal_risk_patient_owes_a_creatinine_due_72_h_after_the_last_infusion_counting_from_48_to_96_h():
    (check,) = rules.post_course_checks(last_ended_at=LAST_END, renal_risk=True, hemoglobin_needed=False)
    assert (check.test, check.label) == (LabCheckTest.CREATININE, LabCheckLabel.POST_COURSE)
    assert check.due_at == LAST_END + hours(72)
    assert (check.window_opens_at, check.window_closes_at) == (LAST_END + hours(48), LAST_END + hours(96))
    assert check.overdue_at == LAST_END + hours(96)


def test_a_hemoglobin_check_counts_from_36_h():
    (check,) = rules.post_course_checks(last_ended_at=LAST_END, renal_risk=False, hemoglobin_needed=True)
    assert check.test == LabCheckTest.HEMOGLOBIN
    assert check.due_at == LAST_END + hours(72)
    assert check.window_opens_at == LAST_END + hours(36)


def test_a_patient_without_renal_risk_on_a_1_g_per_kg_course_of_group_o_owes_nothing():
    assert rules.post_course_checks(last_ended_at=LAST_END, renal_risk=False, hemoglobin_needed=False) == ()
    assert not rules.hemoglobin_check_needed(course_g_per_kg=Decimal("1"), blood_group="O+")


@pytest.mark.parametrize(
    ("course", "group", "needed"),
    [
        ("2", "O+", True),  # a high-dose course
        ("1", "A+", True),  # a group other than O
        ("1", "AB-", True),
        ("1", None, True),  # unknown group
        ("1", "", True),
        ("1", "O-", False),
        ("1.9", "O+", False),
    ],
)
def test_a_hemoglobin_after_the_course_is_owed_for_a_high_dose_or_a_group_other_than_o(course, group, needed):
    assert rules.hemoglobin_check_needed(course_g_per_kg=Decimal(course), blood_group=group) is needed


def test_a_longer_course_owes_a_creatinine_before_day_3_from_the_first_start_due_when_day_2_ends():
    day_2_end = FIRST_START + hours(30)
    check = rules.before_day_3_check(first_started_at=FIRST_START, day_2_ended_at=day_2_end)
    assert (check.test, check.label) == (LabCheckTest.CREATININE, LabCheckLabel.BEFORE_DAY_3)
    assert check.due_at == day_2_end
    assert check.window_opens_at == FIRST_START
    assert check.window_closes_at is None
    assert check.overdue_at == day_2_end + hours(24)


# --- Which sample answers a check -----------------------------------------------------------------------------


def test_a_sample_inside_the_window_answers_the_check_and_the_earliest_one_does():
    early, inside, later = (reading("80", LAST_END + hours(h)) for h in (40, 50, 70))
    found = rules.satisfying_reading(
        [later, early, inside], window_opens_at=LAST_END + hours(48), window_closes_at=LAST_END + hours(96)
    )
    assert found == inside


def test_a_sample_before_48_h_or_after_96_h_does_not_answer_a_creatinine_check():
    samples = [reading("80", LAST_END + hours(47.9)), reading("80", LAST_END + hours(96.1))]
    assert (
        rules.satisfying_reading(samples, window_opens_at=LAST_END + hours(48), window_closes_at=LAST_END + hours(96))
        is None
    )


def test_the_window_edges_count():
    edges = [reading("80", LAST_END + hours(48)), reading("80", LAST_END + hours(96))]
    opens, closes = LAST_END + hours(48), LAST_END + hours(96)
    assert rules.satisfying_reading(edges[1:], window_opens_at=opens, window_closes_at=closes) == edges[1]
    assert rules.satisfying_reading(edges[:1], window_opens_at=opens, window_closes_at=closes) == edges[0]


# --- Renal decline --------------------------------------------------------------------------------------------


def test_the_reference_is_the_lowest_creatinine_in_the_7_days_before_the_first_infusion():
    values = [
        reading("70", FIRST_START - timedelta(days=9)),  # older than 7 days: not the reference while a recent exists
        reading("95", FIRST_START - timedelta(days=6)),
        reading("88", FIRST_START - timedelta(days=1)),
    ]
    assert rules.creatinine_reference(values, first_started_at=FIRST_START) == values[2]


def test_without_a_creatinine_in_the_7_days_before_the_reference_is_the_latest_before_it():
    values = [reading("70", FIRST_START - timedelta(days=30)), reading("75", FIRST_START - timedelta(days=10))]
    assert rules.creatinine_reference(values, first_started_at=FIRST_START) == values[1]


def test_without_any_creatinine_before_the_course_there_is_no_reference_and_no_decline():
    after = [reading("300", LAST_END + hours(72))]
    assert rules.creatinine_reference(after, first_started_at=FIRST_START) is None
    assert rules.renal_decline(after, reference=None, first_started_at=FIRST_START, last_ended_at=LAST_END) is None


@pytest.mark.parametrize(
    ("reference", "after", "declined"),
    [
        ("80", "106.5", True),  # 26.5 µmol/L above (0.3 mg/dL): KDIGO stage 1
        ("80", "106.4", False),
        ("40", "60", True),  # 1.5 times a low reference, though only 20 µmol/L above
        ("40", "59.9", False),
        ("200", "226.5", True),
        ("80", "80", False),
    ],
)
def test_a_creatinine_26_5_above_or_1_5_times_the_reference_is_a_renal_decline(reference, after, declined):
    ref = reading(reference, FIRST_START - timedelta(days=1))
    later = reading(after, LAST_END + hours(72))
    found = rules.renal_decline([ref, later], reference=ref, first_started_at=FIRST_START, last_ended_at=LAST_END)
    assert (found == later) is declined


def test_a_rise_counts_from_the_first_start_to_7_days_after_the_last_infusion():
    ref = reading("80", FIRST_START - timedelta(days=1))
    during = reading("120", FIRST_START + hours(20))
    too_late = reading("200", LAST_END + timedelta(days=7, seconds=1))
    kwargs = {"reference": ref, "first_started_at": FIRST_START, "last_ended_at": LAST_END}
    assert rules.renal_decline([ref, during], **kwargs) == during
    assert rules.renal_decline([ref, too_late], **kwargs) is None
    # While the course runs there is no end yet: every value from the first start counts.
    assert rules.renal_decline([ref, too_late], reference=ref, first_started_at=FIRST_START, last_ended_at=None)


# --- Hemoglobin fall ------------------------------------------------------------------------------------------


def test_the_pre_course_hemoglobin_is_the_latest_before_the_first_infusion():
    values = [reading("140", FIRST_START - timedelta(days=5)), reading("130", FIRST_START - hours(3))]
    assert rules.hemoglobin_reference(values, first_started_at=FIRST_START) == values[1]


@pytest.mark.parametrize(("after", "suspected"), [("110", True), ("110.1", False), ("95", True), ("135", False)])
def test_a_fall_of_20_g_per_l_from_the_pre_course_value_suggests_haemolysis(after, suspected):
    pre = reading("130", FIRST_START - hours(3))
    later = reading(after, LAST_END + hours(72))
    found = rules.hemoglobin_fall([pre, later], reference=pre, first_started_at=FIRST_START, last_ended_at=LAST_END)
    assert (found == later) is suspected


def test_a_hemoglobin_fall_counts_up_to_10_days_after_the_last_infusion():
    pre = reading("130", FIRST_START - hours(3))
    day_10 = reading("100", LAST_END + timedelta(days=10))
    day_11 = reading("100", LAST_END + timedelta(days=10, hours=1))
    kwargs = {"reference": pre, "first_started_at": FIRST_START, "last_ended_at": LAST_END}
    assert rules.hemoglobin_fall([pre, day_10], **kwargs) == day_10
    assert rules.hemoglobin_fall([pre, day_11], **kwargs) is None
