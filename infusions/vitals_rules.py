"""Vital-sign rules for an IVIG infusion: alerts, plausibility, schedule and reaction helpers.

Pure functions over plain values. Every clinical number is a default taken from
docs/clinical-rules.md Part A, sections A5 and A11 (children under 12; where Part B 6.1-6.3 differs, Part A
wins); a hospital changes them by passing its own ``VitalsThresholds``, ``ChildVitalsThresholds``,
``PlausibilityBounds`` or ``VitalsSchedule``. Nothing here
reads the clock: the current time is always an argument. Not clinical advice: the defaults need sign-off
by the deploying hospital's haematology, pharmacy and nursing leads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

__all__ = [
    "A11_BANDS",
    "ALERT_CODES",
    "CHILD_ALERT_CODES",
    "LOW_FOR_AGE_ADVICE",
    "AgeAtSet",
    "ChildVitalsBand",
    "ChildVitalsThresholds",
    "CTCAE_GRADES",
    "REACTION_TYPES",
    "SUGGESTED_ACTION_TEXT",
    "PlausibilityBounds",
    "Severity",
    "SuggestedAction",
    "VITAL_SIGN_FIELDS",
    "VitalSigns",
    "VitalsAlert",
    "VitalsDue",
    "VitalsSchedule",
    "VitalsThresholds",
    "alert_records",
    "child_band",
    "child_hypotension_limit_mmhg",
    "evaluate_vitals",
    "extended_observation_required",
    "halved_rate_ml_per_h",
    "highest_severity",
    "implausible_fields",
    "next_vitals_due",
    "reaction_stops_infusion",
    "restart_rate_ml_per_h",
    "suggested_action",
]

_TENTH = Decimal("0.1")


# ----------------------------------------------------------------------------------------------------------
# Values
# ----------------------------------------------------------------------------------------------------------


class Severity(StrEnum):
    WARNING = "warning"
    HIGH = "high"


class SuggestedAction(StrEnum):
    # A5: "A warning suggests slowing to half the current rate; a high alert suggests stopping".
    HALVE_RATE = "halve_rate"
    STOP = "stop"


SUGGESTED_ACTION_TEXT: dict[str, str] = {
    SuggestedAction.HALVE_RATE: "Slow the infusion to half the current rate and recheck the vital signs.",
    # The notification itself is the caller's job (A5: a high alert "notifies the ordering hematologist").
    SuggestedAction.STOP: "Stop the infusion and tell the ordering hematologist now.",
}

# Order of the A5 alert table; evaluate_vitals returns alerts in this order.
ALERT_CODES: tuple[str, ...] = (
    "fever",
    "hypotension",
    "hypertension",
    "tachycardia",
    "bradycardia",
    "tachypnea",
    "hypoxemia",
)
# Under 12 (A11) a respiratory rate below the child's band is a finding A5 has no code for: ``bradypnea``
# (a design choice, A11 names no code), raised after ``tachypnea``.
CHILD_ALERT_CODES: tuple[str, ...] = (*ALERT_CODES[:6], "bradypnea", *ALERT_CODES[6:])

# A11: a heart or respiratory rate below the child's band is a warning only, with this advice.
LOW_FOR_AGE_ADVICE = "low for age: check whether the child is asleep and recount"


def _check_int(name: str, value: object) -> None:
    # bool is an int subclass; True as a heart rate is a programming error, not a reading.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")


def _check_decimal(name: str, value: object) -> None:
    # Floats would make boundary checks such as 38.0 inexact; only Decimal is accepted.
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{name} must be a finite number, got {value}")


def has_at_most_one_decimal(value: Decimal) -> bool:
    # normalize() drops trailing zeros (38.40 -> 38.4) and, unlike quantize(), cannot overflow on huge values.
    exponent = value.normalize().as_tuple().exponent
    return isinstance(exponent, int) and exponent >= -1


def _check_field_types(obj: Any) -> None:
    # Annotations are strings here (postponed evaluation), so the declared type is matched by name.
    for f in fields(obj):
        check = _check_decimal if f.type == "Decimal" else _check_int
        check(f.name, getattr(obj, f.name))


@dataclass(frozen=True)
class VitalSigns:
    """One set of bedside observations. Temperature in °C to 0.1; the rest whole numbers."""

    temperature_c: Decimal
    heart_rate_bpm: int
    systolic_bp_mmhg: int
    diastolic_bp_mmhg: int
    respiratory_rate_per_min: int
    spo2_percent: int

    def __post_init__(self) -> None:
        _check_field_types(self)
        # Recorded to 0.1 °C: a finer value could sit just under a boundary yet display as the boundary.
        if not has_at_most_one_decimal(self.temperature_c):
            raise ValueError(f"temperature_c must be recorded to 0.1 °C, got {self.temperature_c}")


@dataclass(frozen=True)
class VitalsAlert:
    code: str
    severity: Severity
    message: str
    suggested_action: str
    # A11: a warning raised only because a child's heart or respiratory rate is below the band for age (it may
    # be sleep). `step_during_alert` and `baseline_high_alert` must not count it; never set on a high alert.
    low_for_age: bool = False


# The names of a set's six observations, as the entry model and the API name them too.
VITAL_SIGN_FIELDS: tuple[str, ...] = tuple(field.name for field in fields(VitalSigns))


def alert_records(alerts: Iterable[VitalsAlert]) -> list[dict[str, str | bool]]:
    """Alerts as stored on a vitals entry and returned by the API: plain strings, in the order they were raised.

    A low-for-age warning (A11) carries ``"low_for_age": true`` as well; no other alert has the key, so an
    adult's alerts keep exactly the four keys of docs/api.md.
    """
    records: list[dict[str, str | bool]] = []
    for alert in alerts:
        record: dict[str, str | bool] = {
            "code": alert.code,
            "severity": str(alert.severity),
            "message": alert.message,
            "suggested_action": str(alert.suggested_action),
        }
        if alert.low_for_age:
            record["low_for_age"] = True
        records.append(record)
    return records


def highest_severity(alerts: Iterable[VitalsAlert]) -> str:
    """ "high", "warning", or "" when the set raised no alert."""
    severities = {alert.severity for alert in alerts}
    if Severity.HIGH in severities:
        return str(Severity.HIGH)
    return str(Severity.WARNING) if severities else ""


@dataclass(frozen=True)
class VitalsThresholds:
    """A5 alert table. Field names say whether a bound is inclusive ("at_or_above") or strict ("above")."""

    # fever: warning T >= 38.0; high T >= 39.0, or T >= 38.0 with a rise >= 2.0 from baseline (A5).
    fever_warning_at_or_above_c: Decimal = Decimal("38.0")
    fever_high_at_or_above_c: Decimal = Decimal("39.0")
    fever_high_rise_at_or_above_c: Decimal = Decimal("2.0")
    # hypotension: warning fall >= 20; high systolic < 90, or fall >= 30 mmHg, or fall > 30 % (A5).
    hypotension_warning_fall_at_or_above_mmhg: int = 20
    hypotension_high_systolic_below_mmhg: int = 90
    hypotension_high_fall_at_or_above_mmhg: int = 30
    hypotension_high_fall_above_percent: Decimal = Decimal("30")
    # hypertension: warning systolic >= 160 or rise > 30; high systolic >= 180 (A5).
    hypertension_warning_systolic_at_or_above_mmhg: int = 160
    hypertension_warning_rise_above_mmhg: int = 30
    hypertension_high_systolic_at_or_above_mmhg: int = 180
    # tachycardia: warning HR > 100 or rise >= 20; high HR > 130 (A5).
    tachycardia_warning_above_bpm: int = 100
    tachycardia_warning_rise_at_or_above_bpm: int = 20
    tachycardia_high_above_bpm: int = 130
    # bradycardia: warning HR < 50; high HR < 40 (A5).
    bradycardia_warning_below_bpm: int = 50
    bradycardia_high_below_bpm: int = 40
    # tachypnea: warning RR > 24; high RR > 30 (A5).
    tachypnea_warning_above_per_min: int = 24
    tachypnea_high_above_per_min: int = 30
    # hypoxemia: warning SpO2 < 94 or fall >= 3 points; high SpO2 < 92 (A5).
    hypoxemia_warning_below_percent: int = 94
    hypoxemia_warning_fall_at_or_above_points: int = 3
    hypoxemia_high_below_percent: int = 92

    def __post_init__(self) -> None:
        _check_field_types(self)
        for f in fields(self):
            value = getattr(self, f.name)
            if value <= 0:
                raise ValueError(f"{f.name} must be positive, got {value}")
        # A hospital's configuration must keep "high" at least as severe as "warning", or a worse reading
        # could produce the milder alert.
        pairs = (
            ("fever_high_at_or_above_c", ">=", "fever_warning_at_or_above_c"),
            ("hypotension_high_fall_at_or_above_mmhg", ">=", "hypotension_warning_fall_at_or_above_mmhg"),
            (
                "hypertension_high_systolic_at_or_above_mmhg",
                ">=",
                "hypertension_warning_systolic_at_or_above_mmhg",
            ),
            ("tachycardia_high_above_bpm", ">=", "tachycardia_warning_above_bpm"),
            ("bradycardia_high_below_bpm", "<=", "bradycardia_warning_below_bpm"),
            ("tachypnea_high_above_per_min", ">=", "tachypnea_warning_above_per_min"),
            ("hypoxemia_high_below_percent", "<=", "hypoxemia_warning_below_percent"),
        )
        for high, op, warning in pairs:
            h, w = getattr(self, high), getattr(self, warning)
            if (op == ">=" and h < w) or (op == "<=" and h > w):
                raise ValueError(f"{high} ({h}) must be {op} {warning} ({w})")
        if self.hypotension_high_fall_above_percent >= 100:
            raise ValueError("hypotension_high_fall_above_percent must be below 100")


@dataclass(frozen=True)
class PlausibilityBounds:
    """A5 impossible-value bounds; every bound is inclusive (a value on the bound is plausible)."""

    temperature_min_c: Decimal = Decimal("30")
    temperature_max_c: Decimal = Decimal("44")
    heart_rate_min_bpm: int = 20
    heart_rate_max_bpm: int = 250
    systolic_min_mmhg: int = 50
    systolic_max_mmhg: int = 300
    diastolic_min_mmhg: int = 20
    diastolic_max_mmhg: int = 200
    respiratory_rate_min_per_min: int = 4
    respiratory_rate_max_per_min: int = 80
    spo2_min_percent: int = 50
    spo2_max_percent: int = 100

    def __post_init__(self) -> None:
        _check_field_types(self)
        for low, high in (
            ("temperature_min_c", "temperature_max_c"),
            ("heart_rate_min_bpm", "heart_rate_max_bpm"),
            ("systolic_min_mmhg", "systolic_max_mmhg"),
            ("diastolic_min_mmhg", "diastolic_max_mmhg"),
            ("respiratory_rate_min_per_min", "respiratory_rate_max_per_min"),
            ("spo2_min_percent", "spo2_max_percent"),
        ):
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low} must not exceed {high}")


# ----------------------------------------------------------------------------------------------------------
# Children under 12 (A11)
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgeAtSet:
    """The patient's exact age on the hospital's date of a set: whole years, and whole months since the last
    birthday (0 to 11). Build it with ``AgeAtSet.on(birth_date, day)``.

    Calendar arithmetic, as ``Patient.age_on``: a month (or year) of age is complete on the day of the month of
    birth; a day of birth the month lacks (the 31st, 29 February) is reached on the first of the next month.
    """

    years: int
    months: int = 0

    def __post_init__(self) -> None:
        _check_int("years", self.years)
        _check_int("months", self.months)
        if self.years < 0:
            raise ValueError(f"years must not be negative, got {self.years}")
        if not 0 <= self.months <= 11:
            raise ValueError(f"months must be 0 to 11 (months since the last birthday), got {self.months}")

    @classmethod
    def on(cls, birth_date: date, day: date) -> AgeAtSet:
        """The age on ``day`` (the hospital's date of the set, not a UTC date) of someone born on ``birth_date``."""
        for name, value in (("birth_date", birth_date), ("day", day)):
            # A datetime is a date, but which day it is depends on a zone: the caller converts first.
            if isinstance(value, datetime) or not isinstance(value, date):
                raise TypeError(f"{name} must be a date, got {type(value).__name__}")
        if day < birth_date:
            raise ValueError(f"{day} is before the birth date {birth_date}")
        months = (day.year - birth_date.year) * 12 + day.month - birth_date.month
        if day.day < birth_date.day:
            months -= 1
        years, months = divmod(months, 12)
        return cls(years=years, months=months)

    @property
    def in_months(self) -> int:
        """Whole months of age: 1 year and 6 months is 18."""
        return self.years * 12 + self.months


def _age_text(months: int) -> str:
    if months % 12 == 0 and months > 0:
        years = months // 12
        return f"{years} year" if years == 1 else f"{years} years"
    return f"{months} month" if months == 1 else f"{months} months"


@dataclass(frozen=True)
class ChildVitalsBand:
    """One row of the A11 table: ages from ``from_months`` (included) to ``below_months`` (excluded), and the
    PALS awake ranges for them. The limits are inclusive: a rate on a limit is within the range."""

    from_months: int
    below_months: int
    heart_rate_min_bpm: int
    heart_rate_max_bpm: int
    respiratory_rate_min_per_min: int
    respiratory_rate_max_per_min: int

    def __post_init__(self) -> None:
        _check_field_types(self)
        if self.from_months < 0:
            raise ValueError(f"from_months must not be negative, got {self.from_months}")
        if self.below_months <= self.from_months:
            raise ValueError(f"below_months ({self.below_months}) must be above from_months ({self.from_months})")
        for low, high in (
            ("heart_rate_min_bpm", "heart_rate_max_bpm"),
            ("respiratory_rate_min_per_min", "respiratory_rate_max_per_min"),
        ):
            if getattr(self, low) <= 0:
                raise ValueError(f"{low} must be positive, got {getattr(self, low)}")
            if getattr(self, low) >= getattr(self, high):
                raise ValueError(f"{low} ({getattr(self, low)}) must be below {high} ({getattr(self, high)})")

    @property
    def label(self) -> str:
        """The band as A11 names it: "under 3 months", "3 months to under 1 year", "2 to under 4 years"."""
        if self.from_months == 0:
            return f"under {_age_text(self.below_months)}"
        if self.from_months % 12 == 0 and self.below_months % 12 == 0:
            return f"{self.from_months // 12} to under {_age_text(self.below_months)}"
        return f"{_age_text(self.from_months)} to under {_age_text(self.below_months)}"


# A11 table: PALS awake ranges as tabulated in Fleming et al. 2011, web appendix Box 1 [S65].
A11_BANDS: tuple[ChildVitalsBand, ...] = (
    ChildVitalsBand(0, 3, 85, 205, 30, 60),  # under 3 months
    ChildVitalsBand(3, 12, 100, 190, 30, 60),  # 3 months to under 1 y
    ChildVitalsBand(12, 24, 100, 190, 24, 40),  # 1 to under 2 y
    ChildVitalsBand(24, 48, 60, 140, 24, 40),  # 2 to under 4 y
    ChildVitalsBand(48, 72, 60, 140, 22, 34),  # 4 to under 6 y
    ChildVitalsBand(72, 120, 60, 140, 18, 30),  # 6 to under 10 y
    ChildVitalsBand(120, 144, 60, 100, 18, 30),  # 10 to under 12 y
)


@dataclass(frozen=True)
class ChildVitalsThresholds:
    """A11: the rules for children under ``applies_below_years``; from that age A5 applies unchanged.

    A hospital may load its own PEWS chart as ``bands``: contiguous, from birth to ``applies_below_years``.
    Temperature, SpO2, the systolic falls from baseline and bradycardia below 40 /min at any age stay A5's
    (``VitalsThresholds``).
    """

    applies_below_years: int = 12
    bands: tuple[ChildVitalsBand, ...] = A11_BANDS
    # Above a band's upper limit is a warning; more than 20 % above it is high [D].
    high_above_max_by_more_than_percent: Decimal = Decimal("20")
    # Below a band's lower limit is a warning only, except a heart rate < 60 /min under 2 years [D] (high).
    bradycardia_high_below_bpm_under_2_years: int = 60
    # PALS hypotension [S66]: systolic < 60 under 1 month, < 70 under 1 year, < 70 + 2 x age in years from 1 to
    # 10 years, < 90 from 10 years; each is high.
    hypotension_high_below_mmhg_under_1_month: int = 60
    hypotension_high_below_mmhg_under_1_year: int = 70
    hypotension_high_below_mmhg_at_1_year: int = 70
    hypotension_high_below_mmhg_added_per_year: int = 2
    hypotension_high_below_mmhg_from_10_years: int = 90
    # Hypertension: a warning on a systolic rise > 30 mmHg from baseline, high on a rise > 50 mmHg [D]; no
    # absolute threshold under 12.
    hypertension_warning_rise_above_mmhg: int = 30
    hypertension_high_rise_above_mmhg: int = 50

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name == "bands":
                continue
            value = getattr(self, f.name)
            (_check_decimal if f.type == "Decimal" else _check_int)(f.name, value)
            if value < 0 or (value == 0 and f.name != "hypotension_high_below_mmhg_added_per_year"):
                raise ValueError(f"{f.name} must be positive, got {value}")
        self._check_bands()
        if self.hypertension_high_rise_above_mmhg < self.hypertension_warning_rise_above_mmhg:
            raise ValueError("hypertension_high_rise_above_mmhg must be >= hypertension_warning_rise_above_mmhg")
        # The hypotension limit must never fall as a child grows, or a birthday could silence a high alert.
        limits = (
            self.hypotension_high_below_mmhg_under_1_month,
            self.hypotension_high_below_mmhg_under_1_year,
            self.hypotension_high_below_mmhg_at_1_year,
            self.hypotension_high_below_mmhg_at_1_year + 9 * self.hypotension_high_below_mmhg_added_per_year,
            self.hypotension_high_below_mmhg_from_10_years,
        )
        if any(older < younger for younger, older in zip(limits, limits[1:], strict=False)):
            raise ValueError(f"the hypotension limits must not fall with age, got {limits}")

    def _check_bands(self) -> None:
        if not isinstance(self.bands, tuple):
            raise TypeError(f"bands must be a tuple of ChildVitalsBand, got {type(self.bands).__name__}")
        if not self.bands:
            raise ValueError("bands must not be empty")
        for band in self.bands:
            if not isinstance(band, ChildVitalsBand):
                raise TypeError(f"bands must hold ChildVitalsBand, got {type(band).__name__}")
        if self.bands[0].from_months != 0:
            raise ValueError(f"the first band must start at birth, not at {self.bands[0].from_months} months")
        for younger, older in zip(self.bands, self.bands[1:], strict=False):
            if older.from_months != younger.below_months:
                raise ValueError(
                    f"bands must be contiguous: one ends below {younger.below_months} months, "
                    f"the next starts at {older.from_months}"
                )
        end = self.applies_below_years * 12
        if self.bands[-1].below_months != end:
            raise ValueError(
                f"the last band must end at {self.applies_below_years} years ({end} months), "
                f"not {self.bands[-1].below_months}"
            )


_DEFAULT_CHILD = ChildVitalsThresholds()


def child_band(age: AgeAtSet, child: ChildVitalsThresholds = _DEFAULT_CHILD) -> ChildVitalsBand | None:
    """The A11 band for this age, or None from ``applies_below_years`` (12), where A5 applies."""
    months = age.in_months
    for band in child.bands:
        if band.from_months <= months < band.below_months:
            return band
    return None


def child_hypotension_limit_mmhg(age: AgeAtSet, child: ChildVitalsThresholds = _DEFAULT_CHILD) -> tuple[int, str]:
    """The PALS systolic limit for this age (a systolic pressure below it is high) and how it was reached."""
    if age.in_months < 1:
        return child.hypotension_high_below_mmhg_under_1_month, "the limit under 1 month"
    if age.years < 1:
        return child.hypotension_high_below_mmhg_under_1_year, "the limit under 1 year"
    if age.years < 10:
        base, per_year = child.hypotension_high_below_mmhg_at_1_year, child.hypotension_high_below_mmhg_added_per_year
        limit = base + per_year * age.years
        return limit, f"the limit at {_age_text(age.years * 12)}: {base} + {per_year} × age in years"
    return child.hypotension_high_below_mmhg_from_10_years, "the limit from 10 years"


# ----------------------------------------------------------------------------------------------------------
# Plausibility
# ----------------------------------------------------------------------------------------------------------


_DEFAULT_BOUNDS = PlausibilityBounds()


def _fmt_c(value: Decimal) -> str:
    # Readings are to 0.1 °C and shown so; a finer configured threshold is shown in full rather than rounded.
    return f"{value:.1f}" if has_at_most_one_decimal(value) else f"{value.normalize():f}"


def implausible_fields(vitals: VitalSigns, bounds: PlausibilityBounds = _DEFAULT_BOUNDS) -> dict[str, str]:
    """Field name -> message for every impossible value (A5: such values are refused). Empty when plausible.

    One message per field: a diastolic value outside its range is reported as such even if it is also not
    below the systolic value. The diastolic-below-systolic rule is checked whatever the systolic value is.
    """
    errors: dict[str, str] = {}
    advice = "Check the reading and enter it again."

    t = vitals.temperature_c
    if not bounds.temperature_min_c <= t <= bounds.temperature_max_c:
        errors["temperature_c"] = (
            f"Temperature {_fmt_c(t)} °C is not possible: it must be between "
            f"{_fmt_c(bounds.temperature_min_c)} and {_fmt_c(bounds.temperature_max_c)} °C. {advice}"
        )

    int_checks = (
        ("heart_rate_bpm", "Heart rate", "/min", bounds.heart_rate_min_bpm, bounds.heart_rate_max_bpm),
        ("systolic_bp_mmhg", "Systolic BP", "mmHg", bounds.systolic_min_mmhg, bounds.systolic_max_mmhg),
        ("diastolic_bp_mmhg", "Diastolic BP", "mmHg", bounds.diastolic_min_mmhg, bounds.diastolic_max_mmhg),
        (
            "respiratory_rate_per_min",
            "Respiratory rate",
            "/min",
            bounds.respiratory_rate_min_per_min,
            bounds.respiratory_rate_max_per_min,
        ),
        ("spo2_percent", "SpO2", "%", bounds.spo2_min_percent, bounds.spo2_max_percent),
    )
    for name, label, unit, low, high in int_checks:
        value = getattr(vitals, name)
        if not low <= value <= high:
            allowed = f"it must be between {low} and {high} {unit}"
            errors[name] = f"{label} {value} {unit} is not possible: {allowed}. {advice}"

    # A5: diastolic must be "below systolic"; equal is refused too.
    if "diastolic_bp_mmhg" not in errors and vitals.diastolic_bp_mmhg >= vitals.systolic_bp_mmhg:
        errors["diastolic_bp_mmhg"] = (
            f"Diastolic BP {vitals.diastolic_bp_mmhg} mmHg must be below systolic BP "
            f"{vitals.systolic_bp_mmhg} mmHg. {advice}"
        )
    return errors


# ----------------------------------------------------------------------------------------------------------
# Alerts
# ----------------------------------------------------------------------------------------------------------


def _measure(label: str, value: str, unit: str, baseline: str | None) -> str:
    if baseline is None:
        return f"{label} {value} {unit}"
    return f"{label} {value} {unit} (baseline {baseline} {unit})"


def _alert(
    code: str, finding: str, measure: str, high: list[str], warning: list[str], *, low_for_age: bool = False
) -> VitalsAlert | None:
    # At most one alert per code: the highest severity whose criteria are met, listing those criteria.
    if high:
        severity, reasons, action = Severity.HIGH, high, SuggestedAction.STOP
    elif warning:
        severity, reasons, action = Severity.WARNING, warning, SuggestedAction.HALVE_RATE
    else:
        return None
    # low_for_age marks a warning whose only criterion is a child's rate below the band (A11); a high alert
    # raised on the same reading is never low for age.
    low_for_age = low_for_age and severity == Severity.WARNING
    if low_for_age:
        reasons = [*reasons, LOW_FOR_AGE_ADVICE]
    return VitalsAlert(
        code=code,
        severity=severity,
        message=f"{measure}: {finding} - {'; '.join(reasons)}.",
        suggested_action=action,
        low_for_age=low_for_age,
    )


def _fever(cur: VitalSigns, base: VitalSigns | None, th: VitalsThresholds) -> VitalsAlert | None:
    t = cur.temperature_c
    high: list[str] = []
    warning: list[str] = []
    if t >= th.fever_high_at_or_above_c:
        high.append(f"{_fmt_c(th.fever_high_at_or_above_c)} °C or above")
    if base is not None and t >= th.fever_warning_at_or_above_c:
        rise = t - base.temperature_c
        if rise >= th.fever_high_rise_at_or_above_c:
            limit = th.fever_high_rise_at_or_above_c
            high.append(_change("rise", f"{_fmt_c(rise)} °C", f"{_fmt_c(limit)} °C or more"))
    if t >= th.fever_warning_at_or_above_c:
        warning.append(f"{_fmt_c(th.fever_warning_at_or_above_c)} °C or above")
    measure = _measure("Temperature", _fmt_c(t), "°C", None if base is None else _fmt_c(base.temperature_c))
    return _alert("fever", "fever", measure, high, warning)


def _change(direction: str, amount: str, limit: str) -> str:
    return f"{direction} of {amount} from baseline ({limit})"


def _fall_percent_text(fall: int, baseline: int) -> str:
    # Rounded up so that a fall strictly above the threshold never displays as equal to it.
    percent = (Decimal(fall) * 100 / Decimal(baseline)).quantize(_TENTH, rounding=ROUND_CEILING)
    return f"{percent} %"


def _hypotension(cur: VitalSigns, base: VitalSigns | None, th: VitalsThresholds) -> VitalsAlert | None:
    limit = th.hypotension_high_systolic_below_mmhg
    return _hypotension_below(cur, base, th, limit, f"below {limit} mmHg")


def _hypotension_below(
    cur: VitalSigns, base: VitalSigns | None, th: VitalsThresholds, limit_mmhg: int, limit_text: str
) -> VitalsAlert | None:
    # High below an absolute limit (A5's 90 mmHg, or the child's PALS limit under A11), plus A5's falls from
    # baseline, which apply at every age.
    s = cur.systolic_bp_mmhg
    high: list[str] = []
    warning: list[str] = []
    if s < limit_mmhg:
        high.append(limit_text)
    if base is not None:
        fall = base.systolic_bp_mmhg - s
        if fall >= th.hypotension_high_fall_at_or_above_mmhg:
            limit = th.hypotension_high_fall_at_or_above_mmhg
            high.append(_change("fall", f"{fall} mmHg", f"{limit} mmHg or more"))
        # Exact integer/Decimal comparison: fall / baseline > percent / 100, without rounding.
        if fall > 0 and Decimal(fall) * 100 > th.hypotension_high_fall_above_percent * base.systolic_bp_mmhg:
            high.append(
                f"fall of {_fall_percent_text(fall, base.systolic_bp_mmhg)} from baseline "
                f"(more than {th.hypotension_high_fall_above_percent} %)"
            )
        if fall >= th.hypotension_warning_fall_at_or_above_mmhg:
            limit = th.hypotension_warning_fall_at_or_above_mmhg
            warning.append(_change("fall", f"{fall} mmHg", f"{limit} mmHg or more"))
    measure = _measure("Systolic BP", str(s), "mmHg", None if base is None else str(base.systolic_bp_mmhg))
    return _alert("hypotension", "low blood pressure", measure, high, warning)


def _hypertension(cur: VitalSigns, base: VitalSigns | None, th: VitalsThresholds) -> VitalsAlert | None:
    s = cur.systolic_bp_mmhg
    high: list[str] = []
    warning: list[str] = []
    if s >= th.hypertension_high_systolic_at_or_above_mmhg:
        high.append(f"{th.hypertension_high_systolic_at_or_above_mmhg} mmHg or above")
    if s >= th.hypertension_warning_systolic_at_or_above_mmhg:
        warning.append(f"{th.hypertension_warning_systolic_at_or_above_mmhg} mmHg or above")
    if base is not None:
        rise = s - base.systolic_bp_mmhg
        if rise > th.hypertension_warning_rise_above_mmhg:
            limit = th.hypertension_warning_rise_above_mmhg
            warning.append(_change("rise", f"{rise} mmHg", f"more than {limit} mmHg"))
    measure = _measure("Systolic BP", str(s), "mmHg", None if base is None else str(base.systolic_bp_mmhg))
    return _alert("hypertension", "high blood pressure", measure, high, warning)


def _tachycardia(cur: VitalSigns, base: VitalSigns | None, th: VitalsThresholds) -> VitalsAlert | None:
    hr = cur.heart_rate_bpm
    high: list[str] = []
    warning: list[str] = []
    if hr > th.tachycardia_high_above_bpm:
        high.append(f"above {th.tachycardia_high_above_bpm} /min")
    if hr > th.tachycardia_warning_above_bpm:
        warning.append(f"above {th.tachycardia_warning_above_bpm} /min")
    if base is not None:
        rise = hr - base.heart_rate_bpm
        if rise >= th.tachycardia_warning_rise_at_or_above_bpm:
            limit = th.tachycardia_warning_rise_at_or_above_bpm
            warning.append(_change("rise", f"{rise} /min", f"{limit} /min or more"))
    measure = _measure("Heart rate", str(hr), "/min", None if base is None else str(base.heart_rate_bpm))
    return _alert("tachycardia", "fast heart rate", measure, high, warning)


def _bradycardia(cur: VitalSigns, base: VitalSigns | None, th: VitalsThresholds) -> VitalsAlert | None:
    hr = cur.heart_rate_bpm
    high: list[str] = []
    warning: list[str] = []
    if hr < th.bradycardia_high_below_bpm:
        high.append(f"below {th.bradycardia_high_below_bpm} /min")
    if hr < th.bradycardia_warning_below_bpm:
        warning.append(f"below {th.bradycardia_warning_below_bpm} /min")
    measure = _measure("Heart rate", str(hr), "/min", None if base is None else str(base.heart_rate_bpm))
    return _alert("bradycardia", "slow heart rate", measure, high, warning)


def _tachypnea(cur: VitalSigns, base: VitalSigns | None, th: VitalsThresholds) -> VitalsAlert | None:
    rr = cur.respiratory_rate_per_min
    high: list[str] = []
    warning: list[str] = []
    if rr > th.tachypnea_high_above_per_min:
        high.append(f"above {th.tachypnea_high_above_per_min} /min")
    if rr > th.tachypnea_warning_above_per_min:
        warning.append(f"above {th.tachypnea_warning_above_per_min} /min")
    measure = _measure(
        "Respiratory rate", str(rr), "/min", None if base is None else str(base.respiratory_rate_per_min)
    )
    return _alert("tachypnea", "fast breathing", measure, high, warning)


def _hypoxemia(cur: VitalSigns, base: VitalSigns | None, th: VitalsThresholds) -> VitalsAlert | None:
    spo2 = cur.spo2_percent
    high: list[str] = []
    warning: list[str] = []
    if spo2 < th.hypoxemia_high_below_percent:
        high.append(f"below {th.hypoxemia_high_below_percent} %")
    if spo2 < th.hypoxemia_warning_below_percent:
        warning.append(f"below {th.hypoxemia_warning_below_percent} %")
    if base is not None:
        fall = base.spo2_percent - spo2
        if fall >= th.hypoxemia_warning_fall_at_or_above_points:
            limit = th.hypoxemia_warning_fall_at_or_above_points
            warning.append(_change("fall", f"{fall} points", f"{limit} points or more"))
    measure = _measure("SpO2", str(spo2), "%", None if base is None else str(base.spo2_percent))
    return _alert("hypoxemia", "low oxygen saturation", measure, high, warning)


_RULES = (_fever, _hypotension, _hypertension, _tachycardia, _bradycardia, _tachypnea, _hypoxemia)


# Children under 12 (A11). Each rule takes the band for the child's age; temperature and SpO2 keep A5's rules.


def _for_age(band: ChildVitalsBand) -> str:
    return f"for age {band.label}"


def _high_above(value: int, limit: int, percent: Decimal) -> bool:
    # "more than 20 % above" the upper limit, compared exactly: value > limit x (100 + percent) / 100.
    return Decimal(value) * 100 > Decimal(limit) * (100 + percent)


def _high_above_text(limit: int, unit: str, band: ChildVitalsBand, ch: ChildVitalsThresholds) -> str:
    percent = ch.high_above_max_by_more_than_percent
    bound = (Decimal(limit) * (100 + percent) / 100).normalize()
    return f"above {bound:f} {unit}, more than {percent.normalize():f} % above {limit} {unit} {_for_age(band)}"


def _child_hypotension(
    cur: VitalSigns, base: VitalSigns | None, th: VitalsThresholds, age: AgeAtSet, ch: ChildVitalsThresholds
) -> VitalsAlert | None:
    limit, how = child_hypotension_limit_mmhg(age, ch)
    return _hypotension_below(cur, base, th, limit, f"below {limit} mmHg ({how})")


def _child_hypertension(cur: VitalSigns, base: VitalSigns | None, ch: ChildVitalsThresholds) -> VitalsAlert | None:
    # A11: under 12 only a rise from baseline counts; A5's absolute 160 and 180 mmHg are adult numbers.
    if base is None:
        return None
    s = cur.systolic_bp_mmhg
    rise = s - base.systolic_bp_mmhg
    high: list[str] = []
    warning: list[str] = []
    if rise > ch.hypertension_high_rise_above_mmhg:
        limit = ch.hypertension_high_rise_above_mmhg
        high.append(_change("rise", f"{rise} mmHg", f"more than {limit} mmHg"))
    if rise > ch.hypertension_warning_rise_above_mmhg:
        limit = ch.hypertension_warning_rise_above_mmhg
        warning.append(_change("rise", f"{rise} mmHg", f"more than {limit} mmHg"))
    measure = _measure("Systolic BP", str(s), "mmHg", str(base.systolic_bp_mmhg))
    return _alert("hypertension", "high blood pressure", measure, high, warning)


def _child_tachycardia(
    cur: VitalSigns, base: VitalSigns | None, band: ChildVitalsBand, ch: ChildVitalsThresholds
) -> VitalsAlert | None:
    # A5's rise of 20 /min does not apply under 12 (A11): a child's rate swings with crying and play.
    hr, limit = cur.heart_rate_bpm, band.heart_rate_max_bpm
    high: list[str] = []
    warning: list[str] = []
    if _high_above(hr, limit, ch.high_above_max_by_more_than_percent):
        high.append(_high_above_text(limit, "/min", band, ch))
    if hr > limit:
        warning.append(f"above {limit} /min {_for_age(band)}")
    measure = _measure("Heart rate", str(hr), "/min", None if base is None else str(base.heart_rate_bpm))
    return _alert("tachycardia", "fast heart rate", measure, high, warning)


def _child_bradycardia(
    cur: VitalSigns,
    base: VitalSigns | None,
    th: VitalsThresholds,
    age: AgeAtSet,
    band: ChildVitalsBand,
    ch: ChildVitalsThresholds,
) -> VitalsAlert | None:
    hr = cur.heart_rate_bpm
    high: list[str] = []
    warning: list[str] = []
    if age.years < 2 and hr < ch.bradycardia_high_below_bpm_under_2_years:
        high.append(f"below {ch.bradycardia_high_below_bpm_under_2_years} /min under 2 years")
    if hr < th.bradycardia_high_below_bpm:
        high.append(f"below {th.bradycardia_high_below_bpm} /min")
    if hr < band.heart_rate_min_bpm:
        warning.append(f"below {band.heart_rate_min_bpm} /min {_for_age(band)}")
    measure = _measure("Heart rate", str(hr), "/min", None if base is None else str(base.heart_rate_bpm))
    return _alert("bradycardia", "slow heart rate", measure, high, warning, low_for_age=True)


def _respiratory_measure(cur: VitalSigns, base: VitalSigns | None) -> str:
    baseline = None if base is None else str(base.respiratory_rate_per_min)
    return _measure("Respiratory rate", str(cur.respiratory_rate_per_min), "/min", baseline)


def _child_tachypnea(
    cur: VitalSigns, base: VitalSigns | None, band: ChildVitalsBand, ch: ChildVitalsThresholds
) -> VitalsAlert | None:
    rr, limit = cur.respiratory_rate_per_min, band.respiratory_rate_max_per_min
    high: list[str] = []
    warning: list[str] = []
    if _high_above(rr, limit, ch.high_above_max_by_more_than_percent):
        high.append(_high_above_text(limit, "/min", band, ch))
    if rr > limit:
        warning.append(f"above {limit} /min {_for_age(band)}")
    return _alert("tachypnea", "fast breathing", _respiratory_measure(cur, base), high, warning)


def _child_bradypnea(cur: VitalSigns, base: VitalSigns | None, band: ChildVitalsBand) -> VitalsAlert | None:
    # A11: a slow breathing rate for age is never high (a sleeping child breathes slowly); A5 has no such rule.
    if cur.respiratory_rate_per_min >= band.respiratory_rate_min_per_min:
        return None
    warning = [f"below {band.respiratory_rate_min_per_min} /min {_for_age(band)}"]
    return _alert("bradypnea", "slow breathing", _respiratory_measure(cur, base), [], warning, low_for_age=True)


def _child_alerts(
    cur: VitalSigns,
    base: VitalSigns | None,
    th: VitalsThresholds,
    age: AgeAtSet,
    band: ChildVitalsBand,
    ch: ChildVitalsThresholds,
) -> tuple[VitalsAlert | None, ...]:
    # In CHILD_ALERT_CODES order.
    return (
        _fever(cur, base, th),
        _child_hypotension(cur, base, th, age, ch),
        _child_hypertension(cur, base, ch),
        _child_tachycardia(cur, base, band, ch),
        _child_bradycardia(cur, base, th, age, band, ch),
        _child_tachypnea(cur, base, band, ch),
        _child_bradypnea(cur, base, band),
        _hypoxemia(cur, base, th),
    )


def evaluate_vitals(
    current: VitalSigns,
    baseline: VitalSigns | None,
    thresholds: VitalsThresholds = VitalsThresholds(),
    *,
    age: AgeAtSet | None = None,
    child_thresholds: ChildVitalsThresholds = _DEFAULT_CHILD,
) -> tuple[VitalsAlert, ...]:
    """Alerts for one set of vital signs, in A5 table order, at most one per code (the highest severity met).

    ``baseline`` is the first set recorded for the infusion (A5); pass None when ``current`` is that first
    set, and only the absolute thresholds apply. Values are not checked for plausibility here: callers refuse
    impossible values with ``implausible_fields`` before storing or evaluating them.

    ``age`` is the patient's age on the hospital's date of ``current``. Under 12 years (``child_thresholds``)
    A11 applies: heart and respiratory rates against the band for age, the PALS hypotension limit, hypertension
    only as a rise from baseline, and ``bradypnea`` for a slow breathing rate (order ``CHILD_ALERT_CODES``).
    From 12 years, or with no age, the result is exactly A5's.
    """
    band = None if age is None else child_band(age, child_thresholds)
    if age is None or band is None:
        alerts = tuple(rule(current, baseline, thresholds) for rule in _RULES)
    else:
        alerts = _child_alerts(current, baseline, thresholds, age, band, child_thresholds)
    return tuple(alert for alert in alerts if alert is not None)


def suggested_action(alerts: Iterable[VitalsAlert]) -> str | None:
    """Return "stop" if any alert is high, "halve_rate" if any is a warning, else None (A5)."""
    severities = {alert.severity for alert in alerts}
    if Severity.HIGH in severities:
        return SuggestedAction.STOP
    if Severity.WARNING in severities:
        return SuggestedAction.HALVE_RATE
    return None


# ----------------------------------------------------------------------------------------------------------
# Schedule
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VitalsSchedule:
    """A5 vital-sign schedule, in minutes, plus the design defaults ([D]) the schedule needs."""

    # A5: "every 15 min until the maximum rate is reached".
    titration_interval_min: int = 15
    # A5: "hourly after that".
    max_rate_interval_min: int = 60
    # A5: observation "20 min after" completion ...
    observation_min: int = 20
    # ... "60 min after a first-ever infusion, a product switch or more than 8 weeks since the last IVIG".
    extended_observation_min: int = 60
    extended_observation_gap_weeks: int = 8
    # [D] design default, A5 is silent: a set taken up to 5 min before a planned rate increase counts as the
    # set "before each rate increase", so the nurse is not asked twice for the same increase.
    pre_increase_window_min: int = 5

    def __post_init__(self) -> None:
        _check_field_types(self)
        for f in fields(self):
            value = getattr(self, f.name)
            if value < 0 or (value == 0 and f.name != "pre_increase_window_min"):
                raise ValueError(f"{f.name} must be positive, got {value}")


@dataclass(frozen=True)
class VitalsDue:
    due_at: datetime
    reason: str
    overdue: bool


def extended_observation_required(
    *,
    first_ever_infusion: bool,
    product_switched: bool,
    weeks_since_last_ivig: float | None,
    schedule: VitalsSchedule = VitalsSchedule(),
) -> bool:
    """A5: observe 60 min instead of 20 after a first-ever infusion, a product switch or > 8 weeks' gap.

    ``weeks_since_last_ivig`` None (no date of a previous IVIG on record) is treated as requiring the
    extended observation: A5 is silent, and an unknown gap cannot be shown to be 8 weeks or less.
    """
    if weeks_since_last_ivig is not None and weeks_since_last_ivig < 0:
        raise ValueError(f"weeks_since_last_ivig must not be negative, got {weeks_since_last_ivig}")
    if first_ever_infusion or product_switched or weeks_since_last_ivig is None:
        return True
    # A5 says "more than 8 weeks": exactly 8 weeks is not extended.
    return weeks_since_last_ivig > schedule.extended_observation_gap_weeks


def _utc(name: str, value: datetime | None) -> datetime | None:
    return None if value is None else _to_utc(name, value)


def _to_utc(name: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")
    # Elapsed time is real time: arithmetic and comparison on two datetimes sharing a ZoneInfo are wall-clock
    # and would be off by an hour across a DST change, so everything is converted to UTC first.
    return value.astimezone(UTC)


def next_vitals_due(
    *,
    now: datetime,
    started_at: datetime | None,
    completed_at: datetime | None,
    last_vitals_at: datetime | None,
    at_max_rate_since: datetime | None,
    next_rate_increase_at: datetime | None,
    extended_observation: bool,
    post_completion_sets_taken: int,
    stopped: bool = False,
    overdue_grace_min: int = 5,
    schedule: VitalsSchedule = VitalsSchedule(),
) -> VitalsDue | None:
    """When the next set of vital signs is due (A5), or None when no further set is due.

    All datetimes must be aware. Intervals are elapsed (real) minutes, computed in UTC, and ``due_at`` is
    returned in UTC so that comparing it with any aware datetime is exact across DST changes.

    - Not started: a baseline set is due now if none was taken, else nothing until the start.
    - Running: every 15 min from the later of the last set and the start until the maximum rate is reached,
      and no later than ``next_rate_increase_at``; then hourly from the last set.
    - Ended (``completed_at`` set; for a stopped infusion ``completed_at`` is the time it was stopped, and the
      same rules apply): a set at completion, then one observation set 20 min after completion (60 min when
      ``extended_observation``), then nothing. ``post_completion_sets_taken`` counts sets recorded at or after
      ``completed_at``; a single late set taken at or after the observation time completes the schedule.
    """
    _check_int("post_completion_sets_taken", post_completion_sets_taken)
    _check_int("overdue_grace_min", overdue_grace_min)
    if post_completion_sets_taken < 0:
        raise ValueError("post_completion_sets_taken must not be negative")
    if overdue_grace_min < 0:
        raise ValueError("overdue_grace_min must not be negative")
    now_u = _to_utc("now", now)
    start = _utc("started_at", started_at)
    end = _utc("completed_at", completed_at)
    last = _utc("last_vitals_at", last_vitals_at)
    at_max = _utc("at_max_rate_since", at_max_rate_since)
    increase = _utc("next_rate_increase_at", next_rate_increase_at)

    # [D] design default, A5 is silent: a set counts as overdue only 5 min after its due time.
    grace = timedelta(minutes=overdue_grace_min)

    def due(at: datetime, reason: str) -> VitalsDue:
        return VitalsDue(due_at=at, reason=reason, overdue=now_u > at + grace)

    if start is None:
        if end is not None:
            raise ValueError("completed_at is set but started_at is not")
        if stopped:
            # Stopped before it started: no IVIG was given, so there is nothing to observe.
            return None
        if last is None:
            return due(now_u, "baseline before start")
        return None

    if end is None:
        if stopped:
            raise ValueError("a stopped infusion needs completed_at: the time it was stopped")
        if last is None:
            # Started without a baseline: it is owed from the moment the infusion started.
            return due(start, "baseline before start")
        anchor = max(last, start)
        if at_max is None:
            interval = schedule.titration_interval_min
            reason = f"every {interval} min until the maximum rate"
            candidate = due(anchor + timedelta(minutes=interval), reason)
        else:
            interval = schedule.max_rate_interval_min
            reason = "hourly at maximum rate" if interval == 60 else f"every {interval} min at maximum rate"
            candidate = due(anchor + timedelta(minutes=interval), reason)
        # "before each rate increase" (A5): due no later than the planned increase unless a set was taken
        # just before it; on a tie with the regular interval the more specific reason is shown.
        pre_increase_set_taken = increase is not None and last >= increase - timedelta(
            minutes=schedule.pre_increase_window_min
        )
        if increase is not None and not pre_increase_set_taken and increase <= candidate.due_at:
            return due(increase, "before the rate increase")
        return candidate

    if end < start:
        raise ValueError("completed_at is before started_at")
    observation = schedule.extended_observation_min if extended_observation else schedule.observation_min
    observation_at = end + timedelta(minutes=observation)
    if post_completion_sets_taken >= 2:
        return None
    if post_completion_sets_taken == 1 and last is not None and last >= observation_at:
        return None
    if post_completion_sets_taken == 0:
        return due(end, "at completion")
    if extended_observation:
        return due(
            observation_at,
            f"{observation} min after completion (first infusion / product switch / "
            f">{schedule.extended_observation_gap_weeks} weeks since last IVIG)",
        )
    return due(observation_at, f"{observation} min after completion")


# ----------------------------------------------------------------------------------------------------------
# Reactions
# ----------------------------------------------------------------------------------------------------------

# Pick-list: docs/clinical-rules.md reference §6.7 common effects (with the label-specific ones it lists), then the
# serious ones.
REACTION_TYPES: tuple[tuple[str, str], ...] = (
    ("headache", "Headache"),
    ("fever", "Fever"),
    ("chills", "Chills"),
    ("myalgia", "Muscle pain (myalgia)"),
    ("nausea_vomiting", "Nausea or vomiting"),
    ("flushing", "Flushing"),
    ("hypotension", "Low blood pressure"),
    ("hypertension", "Mild high blood pressure"),
    ("back_pain", "Back pain"),
    ("fatigue", "Fatigue"),
    ("tachycardia", "Fast heart rate (tachycardia)"),
    ("urticaria_pruritus", "Hives or itching (urticaria/pruritus)"),
    ("light_headedness", "Light-headedness"),
    ("abdominal_pain", "Abdominal pain"),
    ("diarrhoea", "Diarrhoea"),
    ("cough", "Cough"),
    ("anaphylaxis", "Anaphylaxis"),
    ("thrombosis", "Thrombosis"),
    ("renal_failure", "Renal failure"),
    ("aseptic_meningitis", "Aseptic meningitis"),
    ("haemolysis", "Haemolysis"),
    # Reference §6.6: the two look alike at the bedside; the descriptions tell them apart.
    (
        "trali",
        "TRALI (transfusion-related acute lung injury): respiratory distress, hypoxaemia, bilateral infiltrates, "
        "within 6 h",
    ),
    (
        "circulatory_overload",
        "Circulatory overload (TACO): respiratory distress, raised blood pressure, tachycardia, positive fluid "
        "balance, within about 12 h",
    ),
    ("hyperviscosity", "Hyperproteinaemia / raised viscosity / pseudo-hyponatraemia"),
    ("other", "Other"),
)
_REACTION_CODES = frozenset(code for code, _label in REACTION_TYPES)

# CTCAE v5.0 "Infusion related reaction", paraphrased in docs/clinical-rules.md reference §6.3 (A5 adopts this grading).
CTCAE_GRADES: dict[int, str] = {
    1: "Mild and transient; no need to interrupt the infusion or to treat",
    2: (
        "Infusion must be interrupted, but symptoms settle quickly with symptomatic treatment "
        "(antihistamine, NSAID, opioid, IV fluids); prophylactic medication needed for 24 h or less"
    ),
    3: (
        "Prolonged (not quickly responsive to symptomatic treatment and/or a brief pause), or symptoms "
        "return after initial improvement, or hospital admission needed for sequelae"
    ),
    4: "Life-threatening consequences; urgent intervention needed",
    5: "Death",
}


def reaction_stops_infusion(ctcae_grade: int, reaction_code: str) -> bool:
    """True when the reaction stops the infusion for good: CTCAE grade 3 or more, or anaphylaxis."""
    _check_int("ctcae_grade", ctcae_grade)
    if ctcae_grade not in CTCAE_GRADES:
        raise ValueError(f"ctcae_grade must be 1 to 5, got {ctcae_grade}")
    if reaction_code not in _REACTION_CODES:
        raise ValueError(f"unknown reaction code {reaction_code!r}")
    return ctcae_grade >= 3 or reaction_code == "anaphylaxis"


def halved_rate_ml_per_h(current: Decimal) -> Decimal:
    """Half the pump rate, rounded half-up to 0.1 mL/h (A5: a warning suggests half the current rate)."""
    _check_decimal("current", current)
    # Pump rates are set to 0.1 mL/h; below that there is nothing left to halve.
    if current < _TENTH:
        raise ValueError(f"rate must be at least 0.1 mL/h, got {current}")
    return (current / 2).quantize(_TENTH, rounding=ROUND_HALF_UP)


def restart_rate_ml_per_h(rate_at_reaction_ml_per_h: Decimal) -> Decimal:
    """A5: after a reaction settles, restart at half the rate at which it occurred (then re-titrate)."""
    return halved_rate_ml_per_h(rate_at_reaction_ml_per_h)
