"""After the course: the creatinine and hemoglobin checks it owes, and the renal decline and haemolysis they may
show (docs/clinical-rules.md §A13 "After the course"). Pure: plain values in, plain values out.

Values are in SI units as stored (creatinine µmol/L, hemoglobin g/L); times are aware datetimes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from infusions.safety_rules import hemolysis_risk


class LabCheckTest(StrEnum):
    CREATININE = "creatinine"
    HEMOGLOBIN = "hemoglobin"


class LabCheckLabel(StrEnum):
    # Due 72 h after the end of the course's last infusion.
    POST_COURSE = "post_course"
    # A course longer than 2 days: a creatinine before day 3.
    BEFORE_DAY_3 = "before_day_3"


@dataclass(frozen=True)
class LabCheckConfig:
    # §A13: due 72 h after the end of the last infusion; creatinine counts from 48 h to 96 h, hemoglobin from 36 h.
    due_after_hours: int = 72
    creatinine_window_from_hours: int = 48
    hemoglobin_window_from_hours: int = 36
    window_until_hours: int = 96
    # Before day 3 of a longer course: due when day 2 ends, overdue a day later (the next day's start) [D].
    before_day_3_overdue_after_hours: int = 24
    # §A13 renal_decline (KDIGO stage 1): a rise of 26.5 µmol/L (0.3 mg/dL) or 1.5 × the reference, from the first
    # start to 7 days after the last infusion; the reference is the lowest creatinine in the 7 days before.
    creatinine_rise_umol_l: Decimal = Decimal("26.5")
    creatinine_ratio: Decimal = Decimal("1.5")
    renal_watch_days_after: int = 7
    reference_days_before: int = 7
    # §A13 hemolysis_suspected: a fall of 20 g/L from the pre-course value up to 10 days after the last infusion [D].
    hemoglobin_fall_g_l: Decimal = Decimal("20")
    hemolysis_watch_days_after: int = 10


DEFAULT_LAB_CHECK_CONFIG = LabCheckConfig()


@dataclass(frozen=True)
class LabCheckPlan:
    """When a check is due, which samples count for it, and when it is overdue."""

    test: LabCheckTest
    label: LabCheckLabel
    due_at: datetime
    window_opens_at: datetime
    window_closes_at: datetime | None  # None: open until answered
    overdue_at: datetime


@dataclass(frozen=True)
class LabReading:
    value_si: Decimal
    collected_at: datetime
    key: int = 0  # the caller's reference to the stored result


def hemoglobin_check_needed(*, course_g_per_kg: Decimal, blood_group: str | None) -> bool:
    """§A13: a course of 2 g/kg or more, or an ABO group not O or unknown, owes a hemoglobin after it: the same
    courses A9 asks a hemoglobin of before it (``safety_rules.hemolysis_risk``, whose configuration sets the dose)."""
    return hemolysis_risk(course_g_per_kg=course_g_per_kg, blood_group=blood_group)


def post_course_checks(
    *,
    last_ended_at: datetime,
    renal_risk: bool,
    hemoglobin_needed: bool,
    config: LabCheckConfig = DEFAULT_LAB_CHECK_CONFIG,
) -> tuple[LabCheckPlan, ...]:
    """The checks a course owes once its last infusion has ended: a creatinine with a renal risk factor, a
    hemoglobin for a high-dose course or a group other than O."""
    due = last_ended_at + timedelta(hours=config.due_after_hours)
    closes = last_ended_at + timedelta(hours=config.window_until_hours)
    plans = []
    if renal_risk:
        opens = last_ended_at + timedelta(hours=config.creatinine_window_from_hours)
        plans.append(LabCheckPlan(LabCheckTest.CREATININE, LabCheckLabel.POST_COURSE, due, opens, closes, closes))
    if hemoglobin_needed:
        opens = last_ended_at + timedelta(hours=config.hemoglobin_window_from_hours)
        plans.append(LabCheckPlan(LabCheckTest.HEMOGLOBIN, LabCheckLabel.POST_COURSE, due, opens, closes, closes))
    return tuple(plans)


def before_day_3_check(
    *,
    first_started_at: datetime,
    day_2_ended_at: datetime,
    config: LabCheckConfig = DEFAULT_LAB_CHECK_CONFIG,
) -> LabCheckPlan:
    """A course longer than 2 days with a renal risk factor: a creatinine from the first start, due when day 2 ends.
    The window stays open: the day-3 start is the moment it matters, and it may come later than planned."""
    overdue = day_2_ended_at + timedelta(hours=config.before_day_3_overdue_after_hours)
    return LabCheckPlan(
        LabCheckTest.CREATININE,
        LabCheckLabel.BEFORE_DAY_3,
        due_at=day_2_ended_at,
        window_opens_at=first_started_at,
        window_closes_at=None,
        overdue_at=overdue,
    )


def satisfying_reading(
    readings: Sequence[LabReading], *, window_opens_at: datetime, window_closes_at: datetime | None
) -> LabReading | None:
    """The first reading collected inside the check's window (the earliest answers the check)."""
    inside = [
        r
        for r in readings
        if window_opens_at <= r.collected_at and (window_closes_at is None or r.collected_at <= window_closes_at)
    ]
    return min(inside, key=lambda r: r.collected_at, default=None)


def creatinine_reference(
    readings: Sequence[LabReading], *, first_started_at: datetime, config: LabCheckConfig = DEFAULT_LAB_CHECK_CONFIG
) -> LabReading | None:
    """§A13: the lowest creatinine in the 7 days before the first infusion, else the latest before it."""
    before = [r for r in readings if r.collected_at < first_started_at]
    since = first_started_at - timedelta(days=config.reference_days_before)
    recent = [r for r in before if r.collected_at >= since]
    if recent:
        return min(recent, key=lambda r: (r.value_si, -r.collected_at.timestamp()))
    return max(before, key=lambda r: r.collected_at, default=None)


def hemoglobin_reference(readings: Sequence[LabReading], *, first_started_at: datetime) -> LabReading | None:
    """§A13: the pre-course hemoglobin, the latest collected before the first infusion."""
    return max((r for r in readings if r.collected_at < first_started_at), key=lambda r: r.collected_at, default=None)


def _watched(reading: LabReading, first_started_at: datetime, last_ended_at: datetime | None, days_after: int) -> bool:
    if reading.collected_at < first_started_at:
        return False
    return last_ended_at is None or reading.collected_at <= last_ended_at + timedelta(days=days_after)


def renal_decline(
    readings: Sequence[LabReading],
    *,
    reference: LabReading | None,
    first_started_at: datetime,
    last_ended_at: datetime | None,
    config: LabCheckConfig = DEFAULT_LAB_CHECK_CONFIG,
) -> LabReading | None:
    """The first creatinine from the first start to 7 days after the last infusion (open while the course runs) that
    is 26.5 µmol/L above, or 1.5 times, the reference; None without a reference or without such a value."""
    if reference is None:
        return None
    risen = [
        r
        for r in readings
        if _watched(r, first_started_at, last_ended_at, config.renal_watch_days_after)
        and (
            r.value_si - reference.value_si >= config.creatinine_rise_umol_l
            or r.value_si >= reference.value_si * config.creatinine_ratio
        )
    ]
    return min(risen, key=lambda r: r.collected_at, default=None)


def hemoglobin_fall(
    readings: Sequence[LabReading],
    *,
    reference: LabReading | None,
    first_started_at: datetime,
    last_ended_at: datetime | None,
    config: LabCheckConfig = DEFAULT_LAB_CHECK_CONFIG,
) -> LabReading | None:
    """The first hemoglobin from the first start to 10 days after the last infusion that is 20 g/L or more below the
    pre-course value; None without a pre-course value or without such a fall."""
    if reference is None:
        return None
    fallen = [
        r
        for r in readings
        if _watched(r, first_started_at, last_ended_at, config.hemolysis_watch_days_after)
        and reference.value_si - r.value_si >= config.hemoglobin_fall_g_l
    ]
    return min(fallen, key=lambda r: r.collected_at, default=None)
