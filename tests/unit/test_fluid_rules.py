"""The bedside fluid balance (docs/clinical-rules.md §A13 "Fluid"), with plain values: who keeps one, when it closes,
the IVIG volume from the pump's rate segments, and the running balance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infusions import fluid_rules as rules
from infusions.fluid_rules import EntryKind, FluidEntry, Segment

pytestmark = pytest.mark.unit

D = Decimal
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def intake(ml: int, minutes: float, description: str = "") -> FluidEntry:
    return FluidEntry(EntryKind.INTAKE, D(ml), at(minutes), description)


def output(ml: int, minutes: float, description: str = "") -> FluidEntry:
    return FluidEntry(EntryKind.OUTPUT, D(ml), at(minutes), description)


# A titrated infusion: 30 mL/h for 30 min, 60 mL/h for 30 min, then 120 mL/h still running.
TITRATED = (
    Segment(D("30"), at(0), at(30)),
    Segment(D("60"), at(30), at(60)),
    Segment(D("120"), at(60)),
)


# --- Who keeps a balance ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "reasons"),
    [
        ({}, ()),
        ({"cardiac_dysfunction": True}, ("cardiac dysfunction",)),
        ({"egfr_below_60": True}, ("eGFR below 60",)),
        ({"volume_depletion": True}, ("volume depletion",)),
        ({"sepsis": True}, ("sepsis",)),
        (
            {"cardiac_dysfunction": True, "egfr_below_60": True, "volume_depletion": True, "sepsis": True},
            ("cardiac dysfunction", "eGFR below 60", "volume depletion", "sepsis"),
        ),
    ],
)
def test_a_balance_is_kept_for_cardiac_dysfunction_low_egfr_volume_depletion_or_sepsis(facts, reasons) -> None:
    given_facts = {"cardiac_dysfunction": False, "egfr_below_60": False, "volume_depletion": False, "sepsis": False}
    assert rules.balance_reasons(**{**given_facts, **facts}) == reasons


# --- When the balance closes -----------------------------------------------------------------------------------


def test_a_running_infusion_with_no_later_day_started_keeps_its_balance_open() -> None:
    assert rules.balance_window_end(ended_at=None, next_day_started_at=None) is None


def test_the_balance_closes_24_hours_after_the_infusion_ended() -> None:
    assert rules.balance_window_end(ended_at=at(240), next_day_started_at=None) == at(240) + timedelta(hours=24)


def test_the_next_days_start_closes_the_balance_when_it_comes_before_24_hours_after_the_end() -> None:
    assert rules.balance_window_end(ended_at=at(240), next_day_started_at=at(240 + 20 * 60)) == at(240 + 20 * 60)


def test_24_hours_after_the_end_closes_the_balance_when_the_next_day_starts_later() -> None:
    assert rules.balance_window_end(ended_at=at(240), next_day_started_at=at(240 + 30 * 60)) == at(240 + 24 * 60)


def test_a_later_day_started_closes_a_balance_whose_day_has_not_ended() -> None:
    assert rules.balance_window_end(ended_at=None, next_day_started_at=at(600)) == at(600)


# --- The IVIG volume from the segments ---------------------------------------------------------------------------


def test_no_ivig_is_counted_before_the_start() -> None:
    assert rules.ivig_volume_ml(TITRATED, at(0)) == 0
    assert rules.ivig_volume_ml(TITRATED, at(-30)) == 0


def test_a_cardiac_patients_balance_counts_the_ivig_given_so_far() -> None:
    # 15 mL in the first half hour, 30 in the second, then 120 mL/h for 15 min (30 mL).
    assert rules.ivig_volume_ml(TITRATED, at(75)) == D(75)


def test_the_ivig_volume_counts_part_of_a_segment_up_to_the_moment() -> None:
    assert rules.ivig_volume_ml(TITRATED, at(10)) == D(5)
    assert rules.ivig_volume_ml(TITRATED, at(45)) == D("30")


def test_a_pause_counts_no_ivig() -> None:
    paused = (Segment(D("100"), at(0), at(60)), Segment(D("0"), at(60), at(120)), Segment(D("50"), at(120)))
    assert rules.ivig_volume_ml(paused, at(120)) == D(100)
    assert rules.ivig_volume_ml(paused, at(180)) == D(150)


def test_the_ivig_volume_stops_growing_when_the_last_segment_ended() -> None:
    completed = (Segment(D("200"), at(0), at(90)),)
    assert rules.ivig_volume_ml(completed, at(90)) == D(300)
    assert rules.ivig_volume_ml(completed, at(24 * 60)) == D(300)


def test_the_ivig_volume_is_exact_to_the_second() -> None:
    assert rules.ivig_volume_ml((Segment(D("36"), at(0)),), at(0) + timedelta(seconds=1)) == D("0.01")


@given(
    rates=st.lists(st.integers(min_value=0, max_value=600), min_size=1, max_size=6),
    minutes=st.integers(min_value=0, max_value=600),
)
def test_the_ivig_volume_never_falls_as_time_passes(rates: list[int], minutes: int) -> None:
    segments = [
        Segment(D(rate), at(30 * index), at(30 * (index + 1)) if index < len(rates) - 1 else None)
        for index, rate in enumerate(rates)
    ]
    assert rules.ivig_volume_ml(segments, at(minutes)) <= rules.ivig_volume_ml(segments, at(minutes + 1))


# --- The running balance ---------------------------------------------------------------------------------------


def test_with_no_entry_the_balance_is_the_ivig_given() -> None:
    balance = rules.running_balance(TITRATED, [], at(75))
    assert balance.rows == ()
    assert (balance.ivig_ml, balance.intake_ml, balance.output_ml, balance.balance_ml) == (D(75), 0, 0, D(75))


def test_each_row_carries_the_ivig_so_far_and_the_running_intake_output_and_balance() -> None:
    balance = rules.running_balance(
        TITRATED, [intake(200, 20, "tea"), output(350, 60, "urine"), intake(100, 70)], at(90)
    )
    assert [
        (row.at, row.kind, row.volume_ml, row.ivig_ml, row.intake_ml, row.output_ml, row.balance_ml)
        for row in balance.rows
    ] == [
        (at(20), EntryKind.INTAKE, D(200), D(10), D(200), D(0), D(210)),
        (at(60), EntryKind.OUTPUT, D(350), D(45), D(200), D(350), D(-105)),
        (at(70), EntryKind.INTAKE, D(100), D(65), D(300), D(350), D(15)),
    ]
    assert balance.rows[0].description == "tea"
    # At 90 min: 45 mL before the step to 120 mL/h, then 60 mL in half an hour.
    assert (balance.ivig_ml, balance.intake_ml, balance.output_ml, balance.balance_ml) == (D(105), 300, 350, D(55))
    assert balance.total_intake_ml == D(405)


def test_rows_are_in_time_order_whatever_order_they_were_entered_in() -> None:
    balance = rules.running_balance(TITRATED, [output(100, 50), intake(50, 10)], at(60))
    assert [row.at for row in balance.rows] == [at(10), at(50)]
    assert [row.balance_ml for row in balance.rows] == [D(55), D(-15)]


def test_entries_at_the_same_moment_keep_the_order_they_were_given_in() -> None:
    balance = rules.running_balance(TITRATED, [output(100, 30), intake(100, 30)], at(30))
    assert [row.kind for row in balance.rows] == [EntryKind.OUTPUT, EntryKind.INTAKE]
    assert [row.balance_ml for row in balance.rows] == [D(-85), D(15)]


def test_an_entry_after_the_moment_asked_is_not_counted() -> None:
    balance = rules.running_balance(TITRATED, [intake(500, 120)], at(60))
    assert balance.rows == ()
    assert balance.balance_ml == D(45)


def test_an_entry_keeps_the_callers_key_on_its_row() -> None:
    entry = FluidEntry(EntryKind.OUTPUT, D(10), at(5), ref=42)
    assert rules.running_balance(TITRATED, [entry], at(10)).rows[0].ref == 42


def test_a_negative_balance_means_more_out_than_in() -> None:
    balance = rules.running_balance((), [output(800, 60), intake(300, 120)], at(180))
    assert balance.balance_ml == D(-500)


@given(
    entries=st.lists(
        st.tuples(st.sampled_from(list(EntryKind)), st.integers(1, 5000), st.integers(0, 600)), max_size=12
    ),
    minutes=st.integers(0, 600),
)
def test_the_balance_is_always_ivig_plus_intake_minus_output(entries, minutes) -> None:
    fluid = [FluidEntry(kind, D(ml), at(when)) for kind, ml, when in entries]
    balance = rules.running_balance(TITRATED, fluid, at(minutes))
    counted = [entry for entry in fluid if entry.at <= at(minutes)]
    intake_ml = sum((e.volume_ml for e in counted if e.kind is EntryKind.INTAKE), D(0))
    output_ml = sum((e.volume_ml for e in counted if e.kind is EntryKind.OUTPUT), D(0))
    assert balance.balance_ml == rules.ivig_volume_ml(TITRATED, at(minutes)) + intake_ml - output_ml
    assert len(balance.rows) == len(counted)
    if balance.rows:
        assert balance.rows[-1].intake_ml == intake_ml
        assert balance.rows[-1].output_ml == output_ml


# --- Display and plausibility ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("volume", "shown"), [(D("0.4"), 0), (D("0.5"), 1), (D("2.5"), 3), (D("-0.5"), -1), (D("-104.6"), -105)]
)
def test_volumes_are_shown_in_whole_millilitres_halves_away_from_zero(volume, shown) -> None:
    assert rules.whole_ml(volume) == shown


@pytest.mark.parametrize("volume", [1, 250, 5000])
def test_a_volume_of_1_to_5000_ml_is_recorded(volume) -> None:
    assert rules.volume_problem(volume) is None


@pytest.mark.parametrize(
    ("volume", "words"),
    [
        (0, "at least 1 mL"),
        (-50, "at least 1 mL"),
        (5001, "check the unit"),
        (D("12.5"), "whole millilitres"),
        (D("NaN"), "whole millilitres"),
        (D("Infinity"), "whole millilitres"),
    ],
)
def test_an_implausible_volume_is_refused_in_clinical_words(volume, words) -> None:
    assert words in (rules.volume_problem(volume) or "")


def test_an_entry_takes_its_kind_from_plain_text() -> None:
    assert FluidEntry("output", 100, at(0)).kind is EntryKind.OUTPUT  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        FluidEntry("blood", 100, at(0))  # type: ignore[arg-type]
