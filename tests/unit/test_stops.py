"""How a safety stop is settled (docs/clinical-rules.md §A8): plain values, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.stops import Actor, Kind, Overrider, Stage, Stop, is_late_documentation, may_override, settle

pytestmark = pytest.mark.unit

NURSE = Actor(roles=frozenset({"nurse"}))
PHARMACIST = Actor(roles=frozenset({"pharmacist"}))
PRESCRIBER = Actor(roles=frozenset({"hematologist"}), created_the_order=True)
SECOND_HEMATOLOGIST = Actor(roles=frozenset({"hematologist"}))

HARD = Stop("rate_above_max", Kind.HARD, "above the label's maximum", field="rate_ml_per_h")
BY_NURSE = Stop("step_too_early", Kind.OVERRIDE, "too early", overrider=Overrider.NURSE)
BY_HEMATOLOGIST = Stop("iga_conflict", Kind.OVERRIDE, "IgA", overrider=Overrider.HEMATOLOGIST, fingerprint="iga2:p1")
BY_VERIFIER = Stop("high_dose", Kind.OVERRIDE, "high dose", overrider=Overrider.VERIFIER, fingerprint="150")
WARNING = Stop("label_age", Kind.WARNING, "label age")


def test_a_hard_stop_is_refused_whatever_reason_is_given() -> None:
    result = settle([HARD], overrides={"rate_above_max": "the doctor said so"}, actor=NURSE, stage=Stage.RATE)
    assert result.refused == (HARD,)
    assert result.overridden == ()
    assert result.blocked


def test_an_override_stop_without_a_reason_is_refused_and_listed() -> None:
    result = settle([BY_NURSE], overrides={}, actor=NURSE, stage=Stage.RATE)
    assert result.stops == (BY_NURSE,)


def test_an_override_stop_with_a_reason_from_the_right_role_goes_ahead_with_the_reason_kept() -> None:
    result = settle([BY_NURSE], overrides={"step_too_early": "  patient asked  "}, actor=NURSE, stage=Stage.RATE)
    assert not result.blocked
    assert result.overridden == ((BY_NURSE, "patient asked"),)


def test_an_override_from_a_user_without_the_role_is_forbidden_and_nothing_is_overridden() -> None:
    result = settle([BY_HEMATOLOGIST], overrides={"iga_conflict": "negative"}, actor=NURSE, stage=Stage.CREATE)
    assert result.forbidden == (BY_HEMATOLOGIST,)
    assert result.overridden == ()


def test_a_blank_reason_is_an_error_of_its_own() -> None:
    result = settle([BY_NURSE], overrides={"step_too_early": "   "}, actor=NURSE, stage=Stage.RATE)
    assert result.blank_reasons == ("step_too_early",)
    assert result.blocked


def test_an_override_for_a_stop_the_request_does_not_raise_is_ignored() -> None:
    result = settle([], overrides={"high_dose": "checked"}, actor=PHARMACIST, stage=Stage.VERIFY)
    assert result == settle([], overrides={}, actor=PHARMACIST, stage=Stage.VERIFY)
    assert not result.blocked


def test_warnings_never_block() -> None:
    result = settle([WARNING], overrides={}, actor=NURSE, stage=Stage.CREATE)
    assert result.warnings == (WARNING,)
    assert not result.blocked


def test_an_earlier_override_holds_while_its_fingerprint_holds_and_is_asked_again_when_it_changes() -> None:
    same = settle(
        [BY_HEMATOLOGIST], overrides={}, actor=NURSE, stage=Stage.START, settled_before={"iga_conflict": "iga2:p1"}
    )
    assert same.carried == (BY_HEMATOLOGIST,)
    assert not same.blocked
    changed = settle(
        [BY_HEMATOLOGIST], overrides={}, actor=NURSE, stage=Stage.START, settled_before={"iga_conflict": "iga5:p1"}
    )
    assert changed.refused == (BY_HEMATOLOGIST,)


def test_a_stop_only_the_verifier_may_override_does_not_refuse_creation() -> None:
    result = settle([BY_VERIFIER], overrides={}, actor=PRESCRIBER, stage=Stage.CREATE)
    assert result.awaiting_verifier == (BY_VERIFIER,)
    assert not result.blocked
    assert settle([BY_VERIFIER], overrides={}, actor=PHARMACIST, stage=Stage.VERIFY).refused == (BY_VERIFIER,)


@pytest.mark.parametrize(
    ("actor", "allowed"),
    [(PHARMACIST, True), (SECOND_HEMATOLOGIST, True), (PRESCRIBER, False), (NURSE, False)],
)
def test_the_verifier_is_a_pharmacist_or_a_hematologist_who_did_not_create_the_order(actor, allowed) -> None:
    assert may_override(actor, Overrider.VERIFIER) is allowed


def test_an_administrator_without_the_clinical_role_gives_no_clinical_reason_and_anyone_gives_an_any_reason() -> None:
    assert not may_override(Actor(roles=frozenset(), superuser=True), Overrider.HEMATOLOGIST)
    assert may_override(Actor(roles=frozenset()), Overrider.ANY)


def test_a_reason_longer_than_500_characters_is_refused_like_a_blank_one() -> None:
    result = settle([BY_NURSE], overrides={"step_too_early": "x" * 501}, actor=NURSE, stage=Stage.RATE)
    assert result.blank_reasons == ("step_too_early",)
    assert result.stops == (BY_NURSE,)
    assert settle([BY_NURSE], overrides={"step_too_early": "x" * 500}, actor=NURSE, stage=Stage.RATE).overridden


def test_the_prescriber_never_gives_the_verifiers_reason_at_creation() -> None:
    result = settle([BY_VERIFIER], overrides={"high_dose": "I say so"}, actor=SECOND_HEMATOLOGIST, stage=Stage.CREATE)
    assert result.awaiting_verifier == (BY_VERIFIER,)
    assert result.overridden == ()


def test_the_same_rule_raised_twice_counts_once_at_its_strictest() -> None:
    soft = Stop("weight_stale", Kind.WARNING, "old weight")
    hard = Stop("weight_stale", Kind.HARD, "old weight")
    assert settle([soft, hard], overrides={}, actor=NURSE, stage=Stage.START).refused == (hard,)


def test_only_an_override_stop_names_who_overrides_it() -> None:
    with pytest.raises(ValueError):
        Stop("x", Kind.HARD, "m", overrider=Overrider.NURSE)
    with pytest.raises(ValueError):
        Stop("x", Kind.OVERRIDE, "m")


def test_the_api_shape_of_a_stop_has_a_null_role_only_when_hard() -> None:
    assert HARD.as_dict() == {
        "code": "rate_above_max",
        "kind": "hard",
        "message": "above the label's maximum",
        "role": None,
        "field": "rate_ml_per_h",
    }
    assert BY_NURSE.as_dict()["role"] == "nurse"


EVENT = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(("minutes", "late"), [(14, False), (15, False), (16, True)])
def test_an_event_recorded_more_than_fifteen_minutes_after_it_happened_is_late_documentation(minutes, late) -> None:
    recorded = EVENT + timedelta(minutes=minutes)
    assert is_late_documentation(EVENT, recorded, after=timedelta(minutes=15)) is late


@given(
    st.lists(st.sampled_from([HARD, BY_NURSE, BY_HEMATOLOGIST, BY_VERIFIER, WARNING]), max_size=6),
    st.dictionaries(st.sampled_from(["rate_above_max", "step_too_early", "iga_conflict", "high_dose"]), st.text()),
    st.sampled_from([NURSE, PHARMACIST, PRESCRIBER, SECOND_HEMATOLOGIST]),
    st.sampled_from(list(Stage)),
)
def test_every_raised_stop_ends_in_exactly_one_place(stops, overrides, actor, stage) -> None:
    result = settle(stops, overrides=overrides, actor=actor, stage=stage)
    placed = (
        [s.code for s in result.refused + result.forbidden + result.carried + result.awaiting_verifier]
        + [s.code for s, _ in result.overridden]
        + [s.code for s in result.warnings]
        + list(result.blank_reasons)
    )
    assert sorted(placed) == sorted({s.code for s in stops})
    # A hard stop is never overridden, whoever asks.
    assert "rate_above_max" not in [s.code for s, _ in result.overridden]
