"""Unit tests for infusions.vitals_rules: every number checked here comes from docs/clinical-rules.md §A5."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infusions.vitals_rules import (
    ALERT_CODES,
    CTCAE_GRADES,
    REACTION_TYPES,
    SUGGESTED_ACTION_TEXT,
    PlausibilityBounds,
    Severity,
    SuggestedAction,
    VitalsAlert,
    VitalsDue,
    VitalSigns,
    VitalsSchedule,
    VitalsThresholds,
    evaluate_vitals,
    extended_observation_required,
    halved_rate_ml_per_h,
    implausible_fields,
    next_vitals_due,
    reaction_stops_infusion,
    restart_rate_ml_per_h,
    suggested_action,
)

pytestmark = pytest.mark.unit

D = Decimal
WARNING = Severity.WARNING
HIGH = Severity.HIGH
LONDON = ZoneInfo("Europe/London")

# A normal set of observations, used as the baseline unless a test says otherwise.
NORMAL = VitalSigns(
    temperature_c=D("36.8"),
    heart_rate_bpm=72,
    systolic_bp_mmhg=120,
    diastolic_bp_mmhg=75,
    respiratory_rate_per_min=16,
    spo2_percent=98,
)


def vitals(**changes: Any) -> VitalSigns:
    return replace(NORMAL, **changes)


def alert_for(code: str, current: VitalSigns, baseline: VitalSigns | None, **thresholds: Any) -> Any:
    """The severity of the one alert with this code, or None."""
    found = [a for a in evaluate_vitals(current, baseline, VitalsThresholds(**thresholds)) if a.code == code]
    assert len(found) <= 1
    return found[0].severity if found else None


def message_for(code: str, current: VitalSigns, baseline: VitalSigns | None) -> str:
    (alert,) = [a for a in evaluate_vitals(current, baseline) if a.code == code]
    return alert.message


# ---------------------------------------------------------------------------------------------------------
# Absolute thresholds (apply with or without a baseline)
# ---------------------------------------------------------------------------------------------------------

ABSOLUTE_CASES = [
    # fever: warning T >= 38.0; high T >= 39.0
    ("fever", {"temperature_c": D("37.9")}, None),
    ("fever", {"temperature_c": D("38.0")}, WARNING),
    ("fever", {"temperature_c": D("38.1")}, WARNING),
    ("fever", {"temperature_c": D("38.9")}, WARNING),
    ("fever", {"temperature_c": D("39.0")}, HIGH),
    ("fever", {"temperature_c": D("39.1")}, HIGH),
    # hypotension: high systolic < 90
    ("hypotension", {"systolic_bp_mmhg": 91, "diastolic_bp_mmhg": 60}, None),
    ("hypotension", {"systolic_bp_mmhg": 90, "diastolic_bp_mmhg": 60}, None),
    ("hypotension", {"systolic_bp_mmhg": 89, "diastolic_bp_mmhg": 60}, HIGH),
    # hypertension: warning systolic >= 160; high >= 180
    ("hypertension", {"systolic_bp_mmhg": 159}, None),
    ("hypertension", {"systolic_bp_mmhg": 160}, WARNING),
    ("hypertension", {"systolic_bp_mmhg": 161}, WARNING),
    ("hypertension", {"systolic_bp_mmhg": 179}, WARNING),
    ("hypertension", {"systolic_bp_mmhg": 180}, HIGH),
    ("hypertension", {"systolic_bp_mmhg": 181}, HIGH),
    # tachycardia: warning HR > 100; high HR > 130
    ("tachycardia", {"heart_rate_bpm": 99}, None),
    ("tachycardia", {"heart_rate_bpm": 100}, None),
    ("tachycardia", {"heart_rate_bpm": 101}, WARNING),
    ("tachycardia", {"heart_rate_bpm": 129}, WARNING),
    ("tachycardia", {"heart_rate_bpm": 130}, WARNING),
    ("tachycardia", {"heart_rate_bpm": 131}, HIGH),
    # bradycardia: warning HR < 50; high HR < 40
    ("bradycardia", {"heart_rate_bpm": 51}, None),
    ("bradycardia", {"heart_rate_bpm": 50}, None),
    ("bradycardia", {"heart_rate_bpm": 49}, WARNING),
    ("bradycardia", {"heart_rate_bpm": 41}, WARNING),
    ("bradycardia", {"heart_rate_bpm": 40}, WARNING),
    ("bradycardia", {"heart_rate_bpm": 39}, HIGH),
    # tachypnea: warning RR > 24; high RR > 30
    ("tachypnea", {"respiratory_rate_per_min": 23}, None),
    ("tachypnea", {"respiratory_rate_per_min": 24}, None),
    ("tachypnea", {"respiratory_rate_per_min": 25}, WARNING),
    ("tachypnea", {"respiratory_rate_per_min": 29}, WARNING),
    ("tachypnea", {"respiratory_rate_per_min": 30}, WARNING),
    ("tachypnea", {"respiratory_rate_per_min": 31}, HIGH),
    # hypoxemia: warning SpO2 < 94; high SpO2 < 92
    ("hypoxemia", {"spo2_percent": 95}, None),
    ("hypoxemia", {"spo2_percent": 94}, None),
    ("hypoxemia", {"spo2_percent": 93}, WARNING),
    ("hypoxemia", {"spo2_percent": 92}, WARNING),
    ("hypoxemia", {"spo2_percent": 91}, HIGH),
]


def _case_id(case: tuple[str, dict[str, Any], Any]) -> str:
    code, changes, expected = case
    values = ",".join(f"{k}={v}" for k, v in changes.items())
    return f"{code}-{values}-{expected or 'none'}"


@pytest.mark.parametrize(("code", "changes", "expected"), ABSOLUTE_CASES, ids=map(_case_id, ABSOLUTE_CASES))
def test_an_absolute_threshold_alerts_exactly_as_the_a5_table_says_when_there_is_no_baseline(
    code: str, changes: dict[str, Any], expected: Severity | None
) -> None:
    assert alert_for(code, vitals(**changes), None) == expected


@pytest.mark.parametrize(("code", "changes", "expected"), ABSOLUTE_CASES, ids=map(_case_id, ABSOLUTE_CASES))
def test_an_absolute_threshold_alerts_the_same_way_against_an_identical_baseline(
    code: str, changes: dict[str, Any], expected: Severity | None
) -> None:
    current = vitals(**changes)
    assert alert_for(code, current, current) == expected


# ---------------------------------------------------------------------------------------------------------
# Thresholds relative to the baseline
# ---------------------------------------------------------------------------------------------------------

RELATIVE_CASES = [
    # fever high: T >= 38.0 with a rise >= 2.0 °C
    ("fever", {"temperature_c": D("36.8")}, {"temperature_c": D("38.0")}, WARNING),  # rise 1.2
    ("fever", {"temperature_c": D("36.1")}, {"temperature_c": D("38.0")}, WARNING),  # rise 1.9
    ("fever", {"temperature_c": D("36.0")}, {"temperature_c": D("38.0")}, HIGH),  # rise 2.0
    ("fever", {"temperature_c": D("35.9")}, {"temperature_c": D("38.0")}, HIGH),  # rise 2.1
    ("fever", {"temperature_c": D("36.6")}, {"temperature_c": D("38.5")}, WARNING),  # rise 1.9
    ("fever", {"temperature_c": D("36.5")}, {"temperature_c": D("38.5")}, HIGH),  # rise 2.0
    ("fever", {"temperature_c": D("35.5")}, {"temperature_c": D("37.9")}, None),  # rise 2.4, T < 38.0
    # hypotension warning: fall >= 20 mmHg; high: fall >= 30 mmHg
    ("hypotension", {"systolic_bp_mmhg": 130}, {"systolic_bp_mmhg": 111}, None),  # fall 19
    ("hypotension", {"systolic_bp_mmhg": 130}, {"systolic_bp_mmhg": 110}, WARNING),  # fall 20
    ("hypotension", {"systolic_bp_mmhg": 130}, {"systolic_bp_mmhg": 109}, WARNING),  # fall 21
    ("hypotension", {"systolic_bp_mmhg": 130}, {"systolic_bp_mmhg": 101}, WARNING),  # fall 29
    ("hypotension", {"systolic_bp_mmhg": 130}, {"systolic_bp_mmhg": 100}, HIGH),  # fall 30
    ("hypotension", {"systolic_bp_mmhg": 130}, {"systolic_bp_mmhg": 99}, HIGH),  # fall 31
    ("hypotension", {"systolic_bp_mmhg": 200}, {"systolic_bp_mmhg": 170}, HIGH),  # fall 30 (15 %)
    # hypertension warning: rise > 30 mmHg
    ("hypertension", {"systolic_bp_mmhg": 100}, {"systolic_bp_mmhg": 129}, None),  # rise 29
    ("hypertension", {"systolic_bp_mmhg": 100}, {"systolic_bp_mmhg": 130}, None),  # rise 30
    ("hypertension", {"systolic_bp_mmhg": 100}, {"systolic_bp_mmhg": 131}, WARNING),  # rise 31
    ("hypertension", {"systolic_bp_mmhg": 150}, {"systolic_bp_mmhg": 180}, HIGH),  # rise 30, >= 180
    ("hypertension", {"systolic_bp_mmhg": 140}, {"systolic_bp_mmhg": 179}, WARNING),  # rise 39, < 180
    # tachycardia warning: rise >= 20 /min
    ("tachycardia", {"heart_rate_bpm": 60}, {"heart_rate_bpm": 79}, None),  # rise 19
    ("tachycardia", {"heart_rate_bpm": 60}, {"heart_rate_bpm": 80}, WARNING),  # rise 20
    ("tachycardia", {"heart_rate_bpm": 60}, {"heart_rate_bpm": 81}, WARNING),  # rise 21
    ("tachycardia", {"heart_rate_bpm": 100}, {"heart_rate_bpm": 131}, HIGH),  # rise 31, > 130
    # hypoxemia warning: fall >= 3 points
    ("hypoxemia", {"spo2_percent": 99}, {"spo2_percent": 97}, None),  # fall 2
    ("hypoxemia", {"spo2_percent": 99}, {"spo2_percent": 96}, WARNING),  # fall 3
    ("hypoxemia", {"spo2_percent": 99}, {"spo2_percent": 95}, WARNING),  # fall 4
    ("hypoxemia", {"spo2_percent": 100}, {"spo2_percent": 97}, WARNING),  # fall 3
    ("hypoxemia", {"spo2_percent": 100}, {"spo2_percent": 91}, HIGH),  # fall 9, < 92
]


def _relative_id(case: tuple[str, dict[str, Any], dict[str, Any], Any]) -> str:
    code, base, cur, expected = case
    (field,) = base
    return f"{code}-{base[field]}->{cur[field]}-{expected or 'none'}"


@pytest.mark.parametrize(
    ("code", "baseline_changes", "current_changes", "expected"),
    RELATIVE_CASES,
    ids=map(_relative_id, RELATIVE_CASES),
)
def test_a_change_from_baseline_alerts_exactly_as_the_a5_table_says(
    code: str, baseline_changes: dict[str, Any], current_changes: dict[str, Any], expected: Severity | None
) -> None:
    assert alert_for(code, vitals(**current_changes), vitals(**baseline_changes)) == expected


NO_BASELINE_CASES = [
    # The same readings as relative alerts above, but they are the first set: only absolute thresholds apply.
    ("fever", {"temperature_c": D("38.0")}, WARNING),
    ("hypotension", {"systolic_bp_mmhg": 100}, None),
    ("hypertension", {"systolic_bp_mmhg": 131}, None),
    ("tachycardia", {"heart_rate_bpm": 81}, None),
    ("hypoxemia", {"spo2_percent": 96}, None),
]


@pytest.mark.parametrize(("code", "changes", "expected"), NO_BASELINE_CASES)
def test_without_a_baseline_changes_from_baseline_are_not_assessed(
    code: str, changes: dict[str, Any], expected: Severity | None
) -> None:
    assert alert_for(code, vitals(**changes), None) == expected


OPPOSITE_DIRECTION_CASES = [
    # A change in the harmless direction never raises the relative alert.
    ("fever", {"temperature_c": D("37.9")}, {"temperature_c": D("35.0")}),
    ("hypotension", {"systolic_bp_mmhg": 100}, {"systolic_bp_mmhg": 159}),
    ("hypertension", {"systolic_bp_mmhg": 158}, {"systolic_bp_mmhg": 100}),
    ("tachycardia", {"heart_rate_bpm": 99}, {"heart_rate_bpm": 60}),
    ("hypoxemia", {"spo2_percent": 94}, {"spo2_percent": 100}),
]


@pytest.mark.parametrize(("code", "baseline_changes", "current_changes"), OPPOSITE_DIRECTION_CASES)
def test_a_change_in_the_opposite_direction_raises_no_relative_alert(
    code: str, baseline_changes: dict[str, Any], current_changes: dict[str, Any]
) -> None:
    assert alert_for(code, vitals(**current_changes), vitals(**baseline_changes)) is None


def test_a_baseline_below_90_still_gives_a_high_hypotension_alert_when_the_reading_stays_below_90() -> None:
    baseline = vitals(systolic_bp_mmhg=85, diastolic_bp_mmhg=50)
    assert alert_for("hypotension", baseline, baseline) == HIGH


# The "fall > 30 %" criterion only bites alone when the mmHg criteria are configured out of the way: with the
# A5 defaults any fall above 30 % that leaves systolic >= 90 is also a fall of 30 mmHg or more.
PERCENT_ONLY = {"hypotension_high_systolic_below_mmhg": 50, "hypotension_high_fall_at_or_above_mmhg": 200}


@pytest.mark.parametrize(
    ("baseline_sbp", "current_sbp", "expected"),
    [
        (100, 71, WARNING),  # 29 %
        (100, 70, WARNING),  # exactly 30 %: not "more than"
        (100, 69, HIGH),  # 31 %
        (200, 140, WARNING),  # exactly 30 %
        (200, 139, HIGH),  # 30.5 %
        (203, 142, HIGH),  # 61/203 = 30.05 %: compared exactly, no rounding
        (150, 105, WARNING),  # exactly 30 %
    ],
)
def test_a_systolic_fall_of_more_than_30_percent_is_high_and_exactly_30_percent_is_not(
    baseline_sbp: int, current_sbp: int, expected: Severity
) -> None:
    baseline = vitals(systolic_bp_mmhg=baseline_sbp, diastolic_bp_mmhg=40)
    current = vitals(systolic_bp_mmhg=current_sbp, diastolic_bp_mmhg=40)
    assert alert_for("hypotension", current, baseline, **PERCENT_ONLY) == expected


def test_the_percent_fall_is_shown_rounded_up_so_it_never_reads_as_equal_to_the_threshold() -> None:
    baseline = vitals(systolic_bp_mmhg=203, diastolic_bp_mmhg=40)
    current = vitals(systolic_bp_mmhg=142, diastolic_bp_mmhg=40)
    (alert,) = evaluate_vitals(current, baseline, VitalsThresholds(**PERCENT_ONLY))
    assert "fall of 30.1 % from baseline (more than 30 %)" in alert.message


# ---------------------------------------------------------------------------------------------------------
# One alert per code, highest severity, combinations
# ---------------------------------------------------------------------------------------------------------


def test_a_normal_set_identical_to_its_baseline_raises_nothing() -> None:
    assert evaluate_vitals(NORMAL, NORMAL) == ()
    assert evaluate_vitals(NORMAL, None) == ()


def test_when_warning_and_high_criteria_both_apply_only_the_high_alert_is_returned() -> None:
    # 39.5 °C meets the warning (>= 38.0) and both high criteria (>= 39.0, rise >= 2.0).
    alerts = evaluate_vitals(vitals(temperature_c=D("39.5")), NORMAL)
    assert [(a.code, a.severity) for a in alerts] == [("fever", HIGH)]


def test_a_high_alert_lists_every_high_criterion_that_was_met() -> None:
    baseline = vitals(systolic_bp_mmhg=140)
    current = vitals(systolic_bp_mmhg=85, diastolic_bp_mmhg=50)
    message = message_for("hypotension", current, baseline)
    assert "below 90 mmHg" in message
    assert "fall of 55 mmHg from baseline (30 mmHg or more)" in message
    assert "fall of 39.3 % from baseline (more than 30 %)" in message
    assert "20 mmHg or more" not in message


def test_a_warning_lists_both_the_absolute_and_the_relative_criterion_when_both_are_met() -> None:
    message = message_for("tachycardia", vitals(heart_rate_bpm=105), NORMAL)
    assert message == (
        "Heart rate 105 /min (baseline 72 /min): fast heart rate - above 100 /min; "
        "rise of 33 /min from baseline (20 /min or more)."
    )


def test_a_deteriorating_set_raises_one_alert_per_code_in_the_order_of_the_a5_table() -> None:
    current = VitalSigns(
        temperature_c=D("39.2"),
        heart_rate_bpm=135,
        systolic_bp_mmhg=85,
        diastolic_bp_mmhg=50,
        respiratory_rate_per_min=32,
        spo2_percent=90,
    )
    alerts = evaluate_vitals(current, NORMAL)
    assert [(a.code, a.severity) for a in alerts] == [
        ("fever", HIGH),
        ("hypotension", HIGH),
        ("tachycardia", HIGH),
        ("tachypnea", HIGH),
        ("hypoxemia", HIGH),
    ]
    assert suggested_action(alerts) == "stop"


def test_mixed_warnings_and_high_alerts_keep_their_own_severities() -> None:
    current = vitals(temperature_c=D("38.2"), heart_rate_bpm=45, respiratory_rate_per_min=31, spo2_percent=93)
    alerts = evaluate_vitals(current, NORMAL)
    assert {a.code: a.severity for a in alerts} == {
        "fever": WARNING,
        "bradycardia": WARNING,
        "tachypnea": HIGH,
        "hypoxemia": WARNING,
    }


def test_very_low_baseline_can_give_hypotension_and_hypertension_alerts_together() -> None:
    # 55 -> 89: still below 90 (high hypotension) and a rise of 34 (> 30, hypertension warning).
    baseline = vitals(systolic_bp_mmhg=55, diastolic_bp_mmhg=30)
    current = vitals(systolic_bp_mmhg=89, diastolic_bp_mmhg=50)
    alerts = {a.code: a.severity for a in evaluate_vitals(current, baseline)}
    assert alerts == {"hypotension": HIGH, "hypertension": WARNING}


# ---------------------------------------------------------------------------------------------------------
# Messages and suggested actions
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "changes", "with_baseline", "without_baseline"),
    [
        (
            "fever",
            {"temperature_c": D("38.4")},
            "Temperature 38.4 °C (baseline 36.8 °C): fever - 38.0 °C or above.",
            "Temperature 38.4 °C: fever - 38.0 °C or above.",
        ),
        (
            "hypotension",
            {"systolic_bp_mmhg": 98, "diastolic_bp_mmhg": 60},
            "Systolic BP 98 mmHg (baseline 120 mmHg): low blood pressure - "
            "fall of 22 mmHg from baseline (20 mmHg or more).",
            None,
        ),
        (
            "hypertension",
            {"systolic_bp_mmhg": 165},
            "Systolic BP 165 mmHg (baseline 120 mmHg): high blood pressure - 160 mmHg or above; "
            "rise of 45 mmHg from baseline (more than 30 mmHg).",
            "Systolic BP 165 mmHg: high blood pressure - 160 mmHg or above.",
        ),
        (
            "bradycardia",
            {"heart_rate_bpm": 38},
            "Heart rate 38 /min (baseline 72 /min): slow heart rate - below 40 /min.",
            "Heart rate 38 /min: slow heart rate - below 40 /min.",
        ),
        (
            "tachypnea",
            {"respiratory_rate_per_min": 26},
            "Respiratory rate 26 /min (baseline 16 /min): fast breathing - above 24 /min.",
            "Respiratory rate 26 /min: fast breathing - above 24 /min.",
        ),
        (
            "hypoxemia",
            {"spo2_percent": 95},
            "SpO2 95 % (baseline 98 %): low oxygen saturation - "  # relative criterion only
            "fall of 3 points from baseline (3 points or more).",
            None,
        ),
    ],
)
def test_a_message_names_the_reading_its_baseline_and_the_criterion_met(
    code: str, changes: dict[str, Any], with_baseline: str, without_baseline: str | None
) -> None:
    current = vitals(**changes)
    assert message_for(code, current, NORMAL) == with_baseline
    if without_baseline is not None:
        assert message_for(code, current, None) == without_baseline
        assert "baseline" not in without_baseline


def test_a_high_fever_from_a_rise_says_how_much_the_temperature_rose() -> None:
    message = message_for("fever", vitals(temperature_c=D("38.1")), vitals(temperature_c=D("36.0")))
    assert message == (
        "Temperature 38.1 °C (baseline 36.0 °C): fever - "  # 38.1 < 39.0, so only the rise makes it high
        "rise of 2.1 °C from baseline (2.0 °C or more)."
    )


def test_a_temperature_entered_with_a_trailing_zero_is_shown_to_one_decimal() -> None:
    message = message_for("fever", vitals(temperature_c=D("38.40")), vitals(temperature_c=D("37")))
    assert message.startswith("Temperature 38.4 °C (baseline 37.0 °C)")


def test_every_warning_suggests_halving_the_rate_and_every_high_alert_suggests_stopping() -> None:
    current = vitals(temperature_c=D("39.0"), heart_rate_bpm=105, spo2_percent=93)
    for alert in evaluate_vitals(current, NORMAL):
        expected = "stop" if alert.severity == HIGH else "halve_rate"
        assert alert.suggested_action == expected
        assert alert.suggested_action in SUGGESTED_ACTION_TEXT


def _alert(severity: Severity) -> VitalsAlert:
    return VitalsAlert(code="fever", severity=severity, message="", suggested_action="")


@pytest.mark.parametrize(
    ("severities", "expected"),
    [
        ((), None),
        ((WARNING,), "halve_rate"),
        ((WARNING, WARNING), "halve_rate"),
        ((HIGH,), "stop"),
        ((WARNING, HIGH), "stop"),
        ((HIGH, WARNING), "stop"),
    ],
)
def test_the_suggested_action_is_stop_for_any_high_alert_halve_rate_for_warnings_and_none_otherwise(
    severities: tuple[Severity, ...], expected: str | None
) -> None:
    alerts = [_alert(s) for s in severities]
    assert suggested_action(alerts) == expected
    assert suggested_action(iter(alerts)) == expected


def test_suggested_actions_compare_equal_to_their_plain_string_codes() -> None:
    assert SuggestedAction.STOP == "stop"
    assert SuggestedAction.HALVE_RATE == "halve_rate"
    assert Severity.WARNING == "warning"
    assert Severity.HIGH == "high"


def test_the_alert_codes_are_exactly_those_of_the_a5_table() -> None:
    assert ALERT_CODES == (
        "fever",
        "hypotension",
        "hypertension",
        "tachycardia",
        "bradycardia",
        "tachypnea",
        "hypoxemia",
    )


# ---------------------------------------------------------------------------------------------------------
# Configurable thresholds
# ---------------------------------------------------------------------------------------------------------


def test_the_default_thresholds_are_the_a5_numbers() -> None:
    th = VitalsThresholds()
    assert (th.fever_warning_at_or_above_c, th.fever_high_at_or_above_c) == (D("38.0"), D("39.0"))
    assert th.fever_high_rise_at_or_above_c == D("2.0")
    assert th.hypotension_warning_fall_at_or_above_mmhg == 20
    assert th.hypotension_high_systolic_below_mmhg == 90
    assert th.hypotension_high_fall_at_or_above_mmhg == 30
    assert th.hypotension_high_fall_above_percent == D("30")
    assert th.hypertension_warning_systolic_at_or_above_mmhg == 160
    assert th.hypertension_warning_rise_above_mmhg == 30
    assert th.hypertension_high_systolic_at_or_above_mmhg == 180
    assert th.tachycardia_warning_above_bpm == 100
    assert th.tachycardia_warning_rise_at_or_above_bpm == 20
    assert th.tachycardia_high_above_bpm == 130
    assert (th.bradycardia_warning_below_bpm, th.bradycardia_high_below_bpm) == (50, 40)
    assert (th.tachypnea_warning_above_per_min, th.tachypnea_high_above_per_min) == (24, 30)
    assert th.hypoxemia_warning_below_percent == 94
    assert th.hypoxemia_warning_fall_at_or_above_points == 3
    assert th.hypoxemia_high_below_percent == 92


def test_a_hospital_can_configure_its_own_thresholds() -> None:
    current = vitals(temperature_c=D("37.8"), heart_rate_bpm=95)
    assert evaluate_vitals(current, None) == ()
    custom = VitalsThresholds(fever_warning_at_or_above_c=D("37.8"), tachycardia_warning_above_bpm=90)
    alerts = evaluate_vitals(current, None, custom)
    assert {a.code: a.severity for a in alerts} == {"fever": WARNING, "tachycardia": WARNING}
    assert "37.8 °C or above" in alerts[0].message


@pytest.mark.parametrize(
    "changes",
    [
        {"fever_high_at_or_above_c": D("37.5")},
        {"hypotension_high_fall_at_or_above_mmhg": 10},
        {"hypertension_high_systolic_at_or_above_mmhg": 150},
        {"tachycardia_high_above_bpm": 90},
        {"bradycardia_high_below_bpm": 60},
        {"tachypnea_high_above_per_min": 20},
        {"hypoxemia_high_below_percent": 95},
        {"hypotension_high_fall_above_percent": D("100")},
        {"tachypnea_warning_above_per_min": 0},
    ],
)
def test_a_configuration_whose_high_threshold_is_milder_than_its_warning_is_refused(
    changes: dict[str, Any],
) -> None:
    with pytest.raises(ValueError):
        VitalsThresholds(**changes)


@pytest.mark.parametrize(
    ("make", "changes"),
    [
        (vitals, {"temperature_c": 38.0}),
        (vitals, {"heart_rate_bpm": 72.0}),
        (vitals, {"spo2_percent": True}),
        (VitalsThresholds, {"fever_warning_at_or_above_c": 38.0}),
        (VitalsThresholds, {"tachycardia_high_above_bpm": 130.0}),
        (PlausibilityBounds, {"temperature_max_c": 44}),
        (VitalsSchedule, {"observation_min": 20.0}),
    ],
)
def test_floats_and_booleans_are_refused_where_decimals_or_ints_are_expected(
    make: Any, changes: dict[str, Any]
) -> None:
    with pytest.raises(TypeError):
        make(**changes)


@pytest.mark.parametrize("value", ["38.45", "NaN", "Infinity", "-Infinity"])
def test_a_temperature_that_is_not_a_finite_reading_to_one_decimal_is_refused(value: str) -> None:
    with pytest.raises(ValueError):
        vitals(temperature_c=D(value))


@pytest.mark.parametrize("value", ["38", "38.0", "38.40", "1E+30"])
def test_a_temperature_with_at_most_one_significant_decimal_is_accepted(value: str) -> None:
    assert vitals(temperature_c=D(value)).temperature_c == D(value)


# ---------------------------------------------------------------------------------------------------------
# Plausibility (A5: values outside these bounds are impossible and refused; bounds inclusive)
# ---------------------------------------------------------------------------------------------------------

BOUND_CASES = [
    ("temperature_c", D("29.9"), D("30.0"), D("44.0"), D("44.1")),
    ("heart_rate_bpm", 19, 20, 250, 251),
    ("systolic_bp_mmhg", 49, 50, 300, 301),
    ("diastolic_bp_mmhg", 19, 20, 200, 201),
    ("respiratory_rate_per_min", 3, 4, 80, 81),
    ("spo2_percent", 49, 50, 100, 101),
]


def _with(field: str, value: Any) -> VitalSigns:
    # Keep the blood pressure pair consistent so only the field under test can be implausible.
    if field == "systolic_bp_mmhg":
        return vitals(systolic_bp_mmhg=value, diastolic_bp_mmhg=min(40, value - 1))
    if field == "diastolic_bp_mmhg":
        return vitals(diastolic_bp_mmhg=value, systolic_bp_mmhg=max(value + 1, 50))
    return vitals(**{field: value})


@pytest.mark.parametrize(("field", "below", "low", "high", "above"), BOUND_CASES)
def test_a_value_on_either_bound_is_plausible(
    field: str,
    below: Any,
    low: Any,
    high: Any,
    above: Any,
) -> None:
    assert implausible_fields(_with(field, low)) == {}
    assert implausible_fields(_with(field, high)) == {}


@pytest.mark.parametrize(("field", "below", "low", "high", "above"), BOUND_CASES)
def test_a_value_just_outside_either_bound_is_reported_on_that_field_only(
    field: str, below: Any, low: Any, high: Any, above: Any
) -> None:
    for value in (below, above):
        errors = implausible_fields(_with(field, value))
        assert list(errors) == [field]
        assert str(value) in errors[field]
        assert "not possible" in errors[field]


def test_an_implausible_message_gives_the_value_and_the_allowed_range() -> None:
    assert implausible_fields(vitals(heart_rate_bpm=300)) == {
        "heart_rate_bpm": "Heart rate 300 /min is not possible: it must be between 20 and 250 /min. "
        "Check the reading and enter it again."
    }
    assert implausible_fields(vitals(temperature_c=D("45"))) == {
        "temperature_c": "Temperature 45.0 °C is not possible: it must be between 30.0 and 44.0 °C. "
        "Check the reading and enter it again."
    }


@pytest.mark.parametrize(
    ("systolic", "diastolic", "plausible"),
    [(120, 119, True), (120, 120, False), (120, 121, False), (50, 49, True), (50, 50, False)],
)
def test_diastolic_must_be_below_systolic_and_the_error_is_on_the_diastolic_field(
    systolic: int, diastolic: int, plausible: bool
) -> None:
    errors = implausible_fields(vitals(systolic_bp_mmhg=systolic, diastolic_bp_mmhg=diastolic))
    if plausible:
        assert errors == {}
    else:
        assert list(errors) == ["diastolic_bp_mmhg"]
        assert errors["diastolic_bp_mmhg"].startswith(
            f"Diastolic BP {diastolic} mmHg must be below systolic BP {systolic} mmHg."
        )


def test_a_diastolic_out_of_range_gets_one_message_about_its_range() -> None:
    errors = implausible_fields(vitals(systolic_bp_mmhg=250, diastolic_bp_mmhg=260))
    assert list(errors) == ["diastolic_bp_mmhg"]
    assert "between 20 and 200 mmHg" in errors["diastolic_bp_mmhg"]


def test_every_impossible_field_is_reported_at_once() -> None:
    impossible = VitalSigns(
        temperature_c=D("50.0"),
        heart_rate_bpm=0,
        systolic_bp_mmhg=20,
        diastolic_bp_mmhg=30,
        respiratory_rate_per_min=100,
        spo2_percent=30,
    )
    assert set(implausible_fields(impossible)) == {
        "temperature_c",
        "heart_rate_bpm",
        "systolic_bp_mmhg",
        "diastolic_bp_mmhg",
        "respiratory_rate_per_min",
        "spo2_percent",
    }


def test_a_hospital_can_configure_its_own_plausibility_bounds() -> None:
    bounds = PlausibilityBounds(spo2_min_percent=70)
    assert implausible_fields(vitals(spo2_percent=69), bounds) == {
        "spo2_percent": "SpO2 69 % is not possible: it must be between 70 and 100 %. "
        "Check the reading and enter it again."
    }


def test_plausibility_bounds_with_a_minimum_above_the_maximum_are_refused() -> None:
    with pytest.raises(ValueError):
        PlausibilityBounds(heart_rate_min_bpm=300)


# ---------------------------------------------------------------------------------------------------------
# Vitals schedule
# ---------------------------------------------------------------------------------------------------------

START = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)


def minutes(n: float) -> datetime:
    return START + timedelta(minutes=n)


def due(**facts: Any) -> VitalsDue | None:
    params: dict[str, Any] = {
        "now": START,
        "started_at": START,
        "completed_at": None,
        "last_vitals_at": minutes(-5),
        "at_max_rate_since": None,
        "next_rate_increase_at": None,
        "extended_observation": False,
        "post_completion_sets_taken": 0,
    }
    params.update(facts)
    return next_vitals_due(**params)


def test_before_the_start_a_baseline_set_is_due_now_if_none_exists() -> None:
    now = minutes(-10)
    assert due(now=now, started_at=None, last_vitals_at=None) == VitalsDue(
        due_at=now, reason="baseline before start", overdue=False
    )


def test_before_the_start_nothing_more_is_due_once_the_baseline_is_taken() -> None:
    assert due(now=minutes(-3), started_at=None, last_vitals_at=minutes(-5)) is None


def test_an_infusion_started_without_a_baseline_owes_it_from_the_start() -> None:
    assert due(now=minutes(6), last_vitals_at=None) == VitalsDue(
        due_at=START, reason="baseline before start", overdue=True
    )


SCHEDULE_CASES = [
    # (description, facts, due minute after start, reason)
    ("first set 15 min after start", {}, 15, "every 15 min until the maximum rate"),
    (
        "baseline taken long before start still counts from the start",
        {"last_vitals_at": minutes(-90)},
        15,
        "every 15 min until the maximum rate",
    ),
    (
        "15 min from the last set",
        {"now": minutes(25), "last_vitals_at": minutes(20)},
        35,
        "every 15 min until the maximum rate",
    ),
    (
        "rate increase before the next 15-min set",
        {"last_vitals_at": minutes(20), "next_rate_increase_at": minutes(30)},
        30,
        "before the rate increase",
    ),
    (
        "rate increase at the same time as the 15-min set",
        {"last_vitals_at": minutes(15), "next_rate_increase_at": minutes(30)},
        30,
        "before the rate increase",
    ),
    (
        "rate increase after the next 15-min set",
        {"last_vitals_at": minutes(15), "next_rate_increase_at": minutes(45)},
        30,
        "every 15 min until the maximum rate",
    ),
    (
        "set taken 6 min before the increase does not count for it",
        {"last_vitals_at": minutes(24), "next_rate_increase_at": minutes(30)},
        30,
        "before the rate increase",
    ),
    (
        "set taken 5 min before the increase counts for it",
        {"last_vitals_at": minutes(25), "next_rate_increase_at": minutes(30)},
        40,
        "every 15 min until the maximum rate",
    ),
    (
        "set taken after the planned increase time counts for it",
        {"now": minutes(33), "last_vitals_at": minutes(32), "next_rate_increase_at": minutes(30)},
        47,
        "every 15 min until the maximum rate",
    ),
    (
        "hourly once at maximum rate",
        {"now": minutes(70), "last_vitals_at": minutes(60), "at_max_rate_since": minutes(60)},
        120,
        "hourly at maximum rate",
    ),
    (
        "hourly counts from the last set taken before the final increase",
        {"now": minutes(70), "last_vitals_at": minutes(58), "at_max_rate_since": minutes(60)},
        118,
        "hourly at maximum rate",
    ),
    (
        "a planned increase still asks for a set at maximum rate",
        {
            "last_vitals_at": minutes(60),
            "at_max_rate_since": minutes(60),
            "next_rate_increase_at": minutes(90),
        },
        90,
        "before the rate increase",
    ),
]


@pytest.mark.parametrize(
    ("facts", "due_minute", "reason"),
    [case[1:] for case in SCHEDULE_CASES],
    ids=[case[0] for case in SCHEDULE_CASES],
)
def test_during_the_infusion_the_next_set_follows_the_a5_schedule(
    facts: dict[str, Any], due_minute: int, reason: str
) -> None:
    result = due(**facts)
    assert result is not None
    assert (result.due_at, result.reason) == (minutes(due_minute), reason)


@pytest.mark.parametrize(
    ("now_minute", "grace", "overdue"),
    [
        (15, 5, False),
        (20, 5, False),  # exactly at the end of the grace period
        (20 + 1 / 60, 5, True),  # one second later
        (15, 0, False),
        (15 + 1 / 60, 0, True),
        (29, 15, False),
        (31, 15, True),
    ],
)
def test_a_set_is_overdue_only_after_the_grace_period(now_minute: float, grace: int, overdue: bool) -> None:
    result = due(now=minutes(now_minute), overdue_grace_min=grace)
    assert result is not None
    assert result.due_at == minutes(15)
    assert result.overdue is overdue


COMPLETION_CASES = [
    # (description, facts, due minute after completion or None, reason)
    ("a set at completion", {}, 0, "at completion"),
    ("then 20 min after completion", {"post_completion_sets_taken": 1}, 20, "20 min after completion"),
    (
        "60 min after completion when extended observation is needed",
        {"post_completion_sets_taken": 1, "extended_observation": True},
        60,
        "60 min after completion (first infusion / product switch / >8 weeks since last IVIG)",
    ),
    ("nothing after the observation set", {"post_completion_sets_taken": 2}, None, None),
    ("nothing after further sets", {"post_completion_sets_taken": 3}, None, None),
    (
        "a single late set at 20 min completes the schedule",
        {"post_completion_sets_taken": 1, "last_at": 20},
        None,
        None,
    ),
    (
        "a single set at 19 min leaves the observation set due",
        {"post_completion_sets_taken": 1, "last_at": 19},
        20,
        "20 min after completion",
    ),
    (
        "a single set at 30 min does not complete a 60-min observation",
        {"post_completion_sets_taken": 1, "last_at": 30, "extended_observation": True},
        60,
        "60 min after completion (first infusion / product switch / >8 weeks since last IVIG)",
    ),
    (
        "a missed completion set stays due at completion",
        {"now_at": 45},
        0,
        "at completion",
    ),
]

END = minutes(180)


@pytest.mark.parametrize("stopped", [False, True], ids=["completed", "stopped"])
@pytest.mark.parametrize(
    ("facts", "due_minute", "reason"),
    [case[1:] for case in COMPLETION_CASES],
    ids=[case[0] for case in COMPLETION_CASES],
)
def test_after_completion_or_a_stop_the_completion_and_observation_sets_follow_a5(
    facts: dict[str, Any], due_minute: int | None, reason: str | None, stopped: bool
) -> None:
    facts = dict(facts)
    last = END + timedelta(minutes=facts.pop("last_at", 0))
    now = END + timedelta(minutes=facts.pop("now_at", 1))
    result = due(
        now=now,
        completed_at=END,
        last_vitals_at=last,
        at_max_rate_since=minutes(60),
        stopped=stopped,
        **facts,
    )
    if due_minute is None:
        assert result is None
    else:
        assert result is not None
        assert (result.due_at, result.reason) == (END + timedelta(minutes=due_minute), reason)


@pytest.mark.parametrize(
    ("extended", "now_after_end", "overdue"),
    [(False, 25, False), (False, 26, True), (True, 65, False), (True, 66, True)],
)
def test_the_observation_set_becomes_overdue_after_its_grace_period(
    extended: bool, now_after_end: int, overdue: bool
) -> None:
    result = due(
        now=END + timedelta(minutes=now_after_end),
        completed_at=END,
        last_vitals_at=END,
        extended_observation=extended,
        post_completion_sets_taken=1,
    )
    assert result is not None
    assert result.overdue is overdue


def test_an_infusion_stopped_before_it_started_needs_no_further_sets() -> None:
    assert due(started_at=None, stopped=True, last_vitals_at=minutes(-5)) is None
    assert due(started_at=None, stopped=True, last_vitals_at=None) is None


@pytest.mark.parametrize(
    "facts",
    [
        {"stopped": True},  # a stopped infusion must say when it stopped (completed_at)
        {"started_at": None, "completed_at": END},
        {"completed_at": minutes(-1)},
        {"now": datetime(2025, 6, 2, 9, 0)},  # noqa: DTZ001 - a naive datetime is the point of the test
        {"last_vitals_at": datetime(2025, 6, 2, 8, 55)},  # noqa: DTZ001
        {"post_completion_sets_taken": -1},
        {"overdue_grace_min": -1},
    ],
)
def test_inconsistent_or_naive_inputs_are_refused(facts: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        due(**facts)


def test_due_times_are_returned_in_utc_whatever_zone_the_inputs_use() -> None:
    local = START.astimezone(LONDON)
    result = due(now=local, started_at=local, last_vitals_at=local)
    assert result is not None
    assert result.due_at.tzinfo is UTC
    assert result.due_at == START + timedelta(minutes=15)


def test_a_hospital_can_configure_the_schedule() -> None:
    schedule = VitalsSchedule(titration_interval_min=30, max_rate_interval_min=30, observation_min=30)
    titrating = due(schedule=schedule)
    at_max = due(schedule=schedule, at_max_rate_since=START)
    observing = due(schedule=schedule, completed_at=END, last_vitals_at=END, post_completion_sets_taken=1)
    assert titrating == VitalsDue(minutes(30), "every 30 min until the maximum rate", False)
    assert at_max == VitalsDue(minutes(30), "every 30 min at maximum rate", False)
    assert observing == VitalsDue(END + timedelta(minutes=30), "30 min after completion", False)


def test_the_default_schedule_is_the_a5_schedule() -> None:
    schedule = VitalsSchedule()
    assert schedule.titration_interval_min == 15
    assert schedule.max_rate_interval_min == 60
    assert schedule.observation_min == 20
    assert schedule.extended_observation_min == 60
    assert schedule.extended_observation_gap_weeks == 8


class TestDaylightSavingTime:
    """Elapsed minutes are real minutes: London clocks change but the schedule does not."""

    def test_an_hourly_set_across_the_autumn_clock_change_is_due_60_real_minutes_later(self) -> None:
        # 26 Oct 2025: 02:00 BST becomes 01:00 GMT. 01:30 BST (first pass) + 60 min = 01:30 GMT (second pass).
        last = datetime(2025, 10, 26, 1, 30, tzinfo=LONDON, fold=0)
        now = datetime(2025, 10, 26, 1, 40, tzinfo=LONDON, fold=0)
        result = next_vitals_due(
            now=now,
            started_at=last - timedelta(hours=2),
            completed_at=None,
            last_vitals_at=last,
            at_max_rate_since=last,
            next_rate_increase_at=None,
            extended_observation=False,
            post_completion_sets_taken=0,
        )
        assert result is not None
        assert result.due_at - last == timedelta(minutes=60)
        assert result.due_at == datetime(2025, 10, 26, 1, 30, tzinfo=UTC)
        local = result.due_at.astimezone(LONDON)
        assert (local.hour, local.minute, local.fold) == (1, 30, 1)
        assert result.overdue is False

    def test_overdue_across_the_autumn_clock_change_uses_real_time_not_wall_clock(self) -> None:
        last = datetime(2025, 10, 26, 1, 30, tzinfo=LONDON, fold=0)
        # 01:40 GMT (second pass) is 70 real minutes after 01:30 BST: past the 60 min + 5 min grace.
        now = datetime(2025, 10, 26, 1, 40, tzinfo=LONDON, fold=1)
        result = next_vitals_due(
            now=now,
            started_at=last - timedelta(hours=2),
            completed_at=None,
            last_vitals_at=last,
            at_max_rate_since=last,
            next_rate_increase_at=None,
            extended_observation=False,
            post_completion_sets_taken=0,
        )
        assert result is not None
        assert result.overdue is True

    def test_a_15_minute_set_across_the_spring_clock_change_is_due_15_real_minutes_later(self) -> None:
        # 30 Mar 2025: 01:00 GMT becomes 02:00 BST. 00:55 GMT + 15 min = 02:10 BST.
        last = datetime(2025, 3, 30, 0, 55, tzinfo=LONDON)
        result = next_vitals_due(
            now=last,
            started_at=last - timedelta(minutes=30),
            completed_at=None,
            last_vitals_at=last,
            at_max_rate_since=None,
            next_rate_increase_at=None,
            extended_observation=False,
            post_completion_sets_taken=0,
        )
        assert result is not None
        assert result.due_at - last == timedelta(minutes=15)
        local = result.due_at.astimezone(LONDON)
        assert (local.hour, local.minute) == (2, 10)

    def test_a_60_minute_observation_across_the_autumn_clock_change_is_60_real_minutes(self) -> None:
        end = datetime(2025, 10, 26, 1, 50, tzinfo=LONDON, fold=0)
        result = next_vitals_due(
            now=end + timedelta(minutes=5),
            started_at=end - timedelta(hours=3),
            completed_at=end,
            last_vitals_at=end,
            at_max_rate_since=end - timedelta(hours=2),
            next_rate_increase_at=None,
            extended_observation=True,
            post_completion_sets_taken=1,
        )
        assert result is not None
        assert result.due_at - end == timedelta(minutes=60)
        local = result.due_at.astimezone(LONDON)
        assert (local.hour, local.minute, local.fold) == (1, 50, 1)


@pytest.mark.parametrize(
    ("first_ever", "switched", "weeks", "expected"),
    [
        (True, False, None, True),
        (True, False, 2.0, True),
        (False, True, 2.0, True),
        (False, False, 2.0, False),
        (False, False, 7.9, False),
        (False, False, 8.0, False),  # "more than 8 weeks": exactly 8 is not
        (False, False, 8.01, True),
        (False, False, 30.0, True),
        (False, False, None, True),  # no date of a previous IVIG: gap unknown, observe longer
    ],
)
def test_extended_observation_follows_first_infusion_product_switch_or_more_than_8_weeks(
    first_ever: bool, switched: bool, weeks: float | None, expected: bool
) -> None:
    result = extended_observation_required(
        first_ever_infusion=first_ever, product_switched=switched, weeks_since_last_ivig=weeks
    )
    assert result is expected


def test_a_negative_gap_since_the_last_ivig_is_refused() -> None:
    with pytest.raises(ValueError):
        extended_observation_required(
            first_ever_infusion=False,
            product_switched=False,
            weeks_since_last_ivig=-1,
        )


# ---------------------------------------------------------------------------------------------------------
# Reactions
# ---------------------------------------------------------------------------------------------------------


def test_the_reaction_pick_list_has_unique_codes_the_serious_reactions_and_other_last() -> None:
    codes = [code for code, _label in REACTION_TYPES]
    assert len(codes) == len(set(codes))
    assert all(label for _code, label in REACTION_TYPES)
    for serious in (
        "anaphylaxis",
        "thrombosis",
        "renal_failure",
        "aseptic_meningitis",
        "haemolysis",
        "trali",
        "circulatory_overload",
    ):
        assert serious in codes
    for common in ("headache", "fever", "chills", "myalgia", "flushing", "back_pain", "urticaria_pruritus"):
        assert common in codes
    assert codes[-1] == "other"


def test_trali_and_circulatory_overload_sit_side_by_side_each_with_what_tells_it_apart() -> None:
    codes = [code for code, _label in REACTION_TYPES]
    assert codes.index("circulatory_overload") == codes.index("trali") + 1
    labels = dict(REACTION_TYPES)
    assert "bilateral infiltrates" in labels["trali"] and "within 6 h" in labels["trali"]
    assert (
        "positive fluid balance" in labels["circulatory_overload"]
        and "raised blood pressure" in labels["circulatory_overload"]
    )


def test_ctcae_grades_run_from_1_to_5() -> None:
    assert sorted(CTCAE_GRADES) == [1, 2, 3, 4, 5]
    assert CTCAE_GRADES[5] == "Death"
    assert "Life-threatening" in CTCAE_GRADES[4]


@pytest.mark.parametrize(
    ("grade", "code", "stops"),
    [
        (1, "headache", False),
        (2, "headache", False),
        (3, "headache", True),
        (4, "fever", True),
        (5, "other", True),
        (1, "anaphylaxis", True),
        (2, "anaphylaxis", True),
        (3, "anaphylaxis", True),
    ],
)
def test_a_reaction_stops_the_infusion_at_grade_3_or_above_or_when_it_is_anaphylaxis(
    grade: int, code: str, stops: bool
) -> None:
    assert reaction_stops_infusion(grade, code) is stops


@pytest.mark.parametrize(("grade", "code"), [(0, "headache"), (6, "headache"), (3, "sneezing")])
def test_an_unknown_grade_or_reaction_code_is_refused(grade: int, code: str) -> None:
    with pytest.raises(ValueError):
        reaction_stops_infusion(grade, code)


@pytest.mark.parametrize(
    ("rate", "half"),
    [
        ("100", "50.0"),
        ("75", "37.5"),
        ("12.5", "6.3"),  # 6.25 rounds half-up
        ("33.3", "16.7"),  # 16.65 rounds half-up
        ("0.3", "0.2"),  # 0.15 rounds half-up
        ("0.1", "0.1"),  # 0.05 rounds half-up
        ("250.0", "125.0"),
    ],
)
def test_the_restart_and_halved_rates_are_half_rounded_half_up_to_0_1_ml_per_h(rate: str, half: str) -> None:
    assert restart_rate_ml_per_h(D(rate)) == D(half)
    assert str(halved_rate_ml_per_h(D(rate))) == half


@pytest.mark.parametrize("rate", [D("0"), D("-10"), D("0.05"), D("NaN")])
def test_a_rate_that_cannot_be_halved_is_refused(rate: Decimal) -> None:
    with pytest.raises(ValueError):
        halved_rate_ml_per_h(rate)


def test_a_float_rate_is_refused() -> None:
    with pytest.raises(TypeError):
        restart_rate_ml_per_h(100.0)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------------------


def _temperatures(low: int, high: int) -> st.SearchStrategy[Decimal]:
    return st.integers(low, high).map(lambda tenths: Decimal(tenths).scaleb(-1))


@st.composite
def plausible_vitals(draw: st.DrawFn) -> VitalSigns:
    systolic = draw(st.integers(50, 300))
    return VitalSigns(
        temperature_c=draw(_temperatures(300, 440)),
        heart_rate_bpm=draw(st.integers(20, 250)),
        systolic_bp_mmhg=systolic,
        diastolic_bp_mmhg=draw(st.integers(20, min(200, systolic - 1))),
        respiratory_rate_per_min=draw(st.integers(4, 80)),
        spo2_percent=draw(st.integers(50, 100)),
    )


@st.composite
def normal_vitals(draw: st.DrawFn) -> VitalSigns:
    # Within every absolute A5 threshold, so no alert can fire against itself as baseline.
    systolic = draw(st.integers(90, 159))
    return VitalSigns(
        temperature_c=draw(_temperatures(300, 379)),
        heart_rate_bpm=draw(st.integers(50, 100)),
        systolic_bp_mmhg=systolic,
        diastolic_bp_mmhg=draw(st.integers(20, systolic - 1)),
        respiratory_rate_per_min=draw(st.integers(4, 24)),
        spo2_percent=draw(st.integers(94, 100)),
    )


NO_DB = settings(database=None, max_examples=300, deadline=None)


@NO_DB
@given(current=plausible_vitals(), baseline=st.none() | plausible_vitals())
def test_random_plausible_vitals_never_raise_and_give_at_most_one_alert_per_code(
    current: VitalSigns, baseline: VitalSigns | None
) -> None:
    assert implausible_fields(current) == {}
    alerts = evaluate_vitals(current, baseline)
    codes = [a.code for a in alerts]
    assert len(codes) == len(set(codes))
    assert codes == [c for c in ALERT_CODES if c in codes]
    for alert in alerts:
        assert alert.severity in (WARNING, HIGH)
        assert alert.suggested_action == ("stop" if alert.severity == HIGH else "halve_rate")
        assert alert.message
    assert suggested_action(alerts) in (None, "halve_rate", "stop")


@NO_DB
@given(normal=normal_vitals())
def test_a_set_identical_to_a_normal_baseline_never_raises_an_alert(normal: VitalSigns) -> None:
    assert evaluate_vitals(normal, normal) == ()
    assert evaluate_vitals(normal, None) == ()


@NO_DB
@given(current=plausible_vitals(), baseline=plausible_vitals())
def test_a_baseline_can_only_add_alerts_or_raise_their_severity(
    current: VitalSigns,
    baseline: VitalSigns,
) -> None:
    rank = {WARNING: 1, HIGH: 2}
    with_baseline = {a.code: rank[a.severity] for a in evaluate_vitals(current, baseline)}
    for alert in evaluate_vitals(current, None):
        assert with_baseline.get(alert.code, 0) >= rank[alert.severity]


@NO_DB
@given(
    now=st.integers(-60, 600),
    last=st.none() | st.integers(-60, 600),
    started=st.booleans(),
    at_max=st.none() | st.integers(0, 600),
    increase=st.none() | st.integers(0, 600),
    completed=st.none() | st.integers(0, 600),
    extended=st.booleans(),
    taken=st.integers(0, 3),
    stopped=st.booleans(),
)
def test_the_schedule_never_raises_for_consistent_facts_and_overdue_matches_the_grace_rule(
    now: int,
    last: int | None,
    started: bool,
    at_max: int | None,
    increase: int | None,
    completed: int | None,
    extended: bool,
    taken: int,
    stopped: bool,
) -> None:
    if not started:
        completed = None
    if stopped and started and completed is None:
        completed = 0
    result = next_vitals_due(
        now=minutes(now),
        started_at=START if started else None,
        completed_at=None if completed is None else minutes(completed),
        last_vitals_at=None if last is None else minutes(last),
        at_max_rate_since=None if at_max is None else minutes(at_max),
        next_rate_increase_at=None if increase is None else minutes(increase),
        extended_observation=extended,
        post_completion_sets_taken=taken,
        stopped=stopped,
    )
    if result is not None:
        assert result.due_at.tzinfo is UTC
        assert result.overdue is (minutes(now) > result.due_at + timedelta(minutes=5))


@NO_DB
@given(tenths=st.integers(1, 99_999))
def test_a_halved_rate_is_within_0_05_ml_per_h_of_exactly_half(tenths: int) -> None:
    rate = Decimal(tenths).scaleb(-1)
    half = halved_rate_ml_per_h(rate)
    assert abs(half - rate / 2) <= Decimal("0.05")
    assert half == half.quantize(Decimal("0.1"))
    assert half <= rate
