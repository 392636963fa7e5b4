"""Platelet response (docs/clinical-rules.md §A6; public cases of Part B 9.2) - plain values, no database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring.response_rules import (
    CATEGORY_RANK,
    IwgCategory,
    PlateletReading,
    ResponseAssessment,
    ResponseThresholds,
    assess_response,
    classify,
    day2_may_be_withheld,
    implausible_count_message,
)

pytestmark = pytest.mark.unit

CR = IwgCategory.COMPLETE_RESPONSE
R = IwgCategory.RESPONSE
NR = IwgCategory.NO_RESPONSE
PENDING = IwgCategory.PENDING

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
LABEL_AT_HOURS = {24: "24h", 48: "48h", 72: "72h", 168: "7d"}

# No example database: tests must not write files into the project tree.
PROPERTY = settings(database=None, max_examples=200, deadline=None)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def check(hours: int, count: int, bleeding: bool = False) -> PlateletReading:
    return PlateletReading(
        platelet_count=count, collected_at=at(hours), bleeding=bleeding, check_label=LABEL_AT_HOURS[hours]
    )


def ad_hoc(hours: float, count: int, bleeding: bool = False) -> PlateletReading:
    return PlateletReading(platelet_count=count, collected_at=at(hours), bleeding=bleeding, check_label=None)


def assess(
    baseline: int,
    results: list[PlateletReading],
    *,
    started: datetime | None = T0,
    completed: datetime | None = T0,
    decided: bool = False,
    thresholds: ResponseThresholds | None = None,
) -> ResponseAssessment:
    return assess_response(
        baseline_count=baseline,
        results=results,
        first_infusion_started_at=started,
        first_infusion_completed_at=completed,
        repeat_decision_made=decided,
        assessed_at=at(500),
        thresholds=thresholds or ResponseThresholds(),
    )


# --- Part B 9.2 public cases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicCase:
    name: str
    baseline: int
    counts: tuple[tuple[int, int], ...]  # (hours after the first start, count)
    categories: tuple[IwgCategory, ...]
    best: IwgCategory
    time_to_response: Decimal | None
    time_to_complete_response: Decimal | None
    repeat_flag_after_each_result: tuple[bool, ...]


PUBLIC_CASES = [
    PublicCase("A", 12, ((24, 25), (48, 41), (72, 68), (168, 90)), (NR, R, R, R), R, Decimal("48.0"), None,
               (False, False, False, False)),
    PublicCase("C", 5, ((24, 9), (48, 14), (72, 22), (168, 28)), (NR, NR, NR, NR), NR, None, None,
               (False, False, True, True)),
    PublicCase("G", 60, ((24, 90), (48, 110), (72, 125)), (NR, CR, CR), CR, Decimal("48.0"), Decimal("48.0"),
               (False, False, False)),
    PublicCase("L", 15, ((24, 30), (48, 29), (72, 41)), (R, NR, R), R, Decimal("24.0"), None,
               (False, False, False)),
]  # fmt: skip


@pytest.mark.parametrize("case", PUBLIC_CASES, ids=lambda c: f"case_{c.name}")
def test_public_case_reproduces_category_per_time_point_best_response_and_times(case: PublicCase) -> None:
    result = assess(case.baseline, [check(h, n) for h, n in case.counts])

    assert tuple(c.category for c in result.classified) == case.categories
    assert tuple(c.hours_after_first_start for c in result.classified) == tuple(
        Decimal(h).quantize(Decimal("0.1")) for h, _ in case.counts
    )
    assert result.category == case.best
    assert result.time_to_response_hours == case.time_to_response
    assert result.time_to_complete_response_hours == case.time_to_complete_response
    assert result.baseline_platelet_count == case.baseline


@pytest.mark.parametrize("case", PUBLIC_CASES, ids=lambda c: f"case_{c.name}")
def test_public_case_raises_the_repeat_flag_only_from_the_72h_result_when_never_responded(
    case: PublicCase,
) -> None:
    results = [check(h, n) for h, n in case.counts]
    flags = tuple(assess(case.baseline, results[: i + 1]).repeat_dose_recommended for i in range(len(results)))
    assert flags == case.repeat_flag_after_each_result


def test_case_l_dip_at_48h_is_flagged_for_review_but_not_confirmed() -> None:
    results = [check(24, 30), check(48, 29)]
    loss = assess(15, results).loss_of_response

    assert loss is not None
    assert loss.result == results[1]
    assert (loss.category_reached, loss.category_now) == (R, NR)
    assert loss.confirmed is False
    assert loss.confirming_result is None
    assert loss.needs_confirming_count_after == at(72)


def test_case_l_recovery_at_72h_clears_the_loss() -> None:
    assert assess(15, [check(24, 30), check(48, 29), check(72, 41)]).loss_of_response is None


# --- classify: every boundary -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "baseline", "bleeding", "expected"),
    [
        pytest.param(30, 15, False, R, id="exactly_30_and_exactly_double_is_response"),
        pytest.param(30, 10, False, R, id="exactly_30_above_double_is_response"),
        pytest.param(40, 20, False, R, id="exactly_double_above_30_is_response"),
        pytest.param(29, 10, False, NR, id="29_is_no_response_even_when_more_than_double"),
        pytest.param(29, 14, False, NR, id="29_just_below_30_and_above_double_is_no_response"),
        pytest.param(39, 20, False, NR, id="one_below_double_is_no_response"),
        pytest.param(59, 30, False, NR, id="just_below_double_of_30_is_no_response"),
        pytest.param(100, 60, False, CR, id="exactly_100_is_complete_response_without_doubling"),
        pytest.param(100, 1000, False, CR, id="100_is_complete_response_below_baseline"),
        pytest.param(99, 40, False, R, id="99_with_doubling_is_response"),
        pytest.param(99, 60, False, NR, id="99_without_doubling_is_no_response"),
        pytest.param(500, 12, True, NR, id="bleeding_with_500_is_no_response"),
        pytest.param(30, 15, True, NR, id="bleeding_at_the_response_boundary_is_no_response"),
        pytest.param(30, 0, False, R, id="baseline_0_needs_only_30"),
        pytest.param(29, 0, False, NR, id="baseline_0_with_29_is_no_response"),
        pytest.param(0, 0, False, NR, id="count_0_is_no_response"),
        pytest.param(2000, 0, False, CR, id="count_2000_is_complete_response"),
        pytest.param(2000, 2000, False, CR, id="count_2000_with_baseline_2000_is_complete_response"),
    ],
)
def test_classify_follows_a6_order_with_inclusive_thresholds(
    count: int, baseline: int, bleeding: bool, expected: IwgCategory
) -> None:
    assert classify(count, baseline, bleeding) == expected


@pytest.mark.parametrize("count", [0, 1, 30, 1999, 2000])
def test_counts_from_0_to_2000_are_plausible(count: int) -> None:
    assert implausible_count_message(count) is None


@pytest.mark.parametrize("count", [-1, 2001, -500, 100_000])
def test_counts_outside_0_to_2000_are_implausible_with_a_message(count: int) -> None:
    message = implausible_count_message(count)
    assert message is not None
    assert "0" in message and "2000" in message


@pytest.mark.parametrize(("count", "baseline"), [(-1, 10), (2001, 10), (50, -1), (50, 2001)])
def test_classify_refuses_an_implausible_count_or_baseline(count: int, baseline: int) -> None:
    with pytest.raises(ValueError, match="not plausible"):
        classify(count, baseline, False)


def test_thresholds_are_configurable() -> None:
    lenient = ResponseThresholds(response_count=50, complete_response_count=150, doubling_factor=Decimal("1.5"))

    assert classify(50, 30, False, lenient) == R  # 50 >= 50 and 50 >= 1.5 x 30
    assert classify(49, 10, False, lenient) == NR
    assert classify(59, 40, False, lenient) == NR  # 59 < 1.5 x 40
    assert classify(60, 40, False, lenient) == R
    assert classify(149, 10, False, lenient) == R
    assert classify(150, 10, False, lenient) == CR


def test_an_int_doubling_factor_is_kept_exact_as_a_decimal() -> None:
    assert ResponseThresholds(doubling_factor=3).doubling_factor == Decimal(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"doubling_factor": Decimal(0)},
        {"min_count": 10, "max_count": 5},
        {"min_count": -1},
        {"response_count": 120},
        {"response_count": 0},
        {"repeat_flag_after_hours": 0},
        {"loss_confirmation_hours": 0},
    ],
)
def test_inconsistent_thresholds_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ResponseThresholds(**kwargs)  # type: ignore[arg-type]


def test_a_float_doubling_factor_is_refused() -> None:
    with pytest.raises(TypeError):
        ResponseThresholds(doubling_factor=2.0)  # type: ignore[arg-type]


# --- assessment basics --------------------------------------------------------------------------------------


def test_an_order_without_results_is_pending() -> None:
    result = assess(12, [])

    assert result.category == PENDING
    assert result.best_platelet_count is None
    assert result.time_to_response_hours is None
    assert result.time_to_complete_response_hours is None
    assert result.repeat_dose_recommended is False
    assert result.loss_of_response is None
    assert result.classified == ()
    assert result.assessed_at == at(500)


def test_results_are_assessed_in_collection_time_order_whatever_the_input_order() -> None:
    results = [check(72, 68), check(24, 25), check(48, 41)]
    assessment = assess(12, results)

    assert [c.result.collected_at for c in assessment.classified] == [at(24), at(48), at(72)]
    assert assessment.time_to_response_hours == Decimal("48.0")


def test_results_collected_at_the_same_time_keep_their_input_order() -> None:
    first, second = ad_hoc(30, 20), ad_hoc(30, 80)
    assert [c.result for c in assess(12, [first, second]).classified] == [first, second]
    assert [c.result for c in assess(12, [second, first]).classified] == [second, first]


def test_results_in_other_time_zones_are_ordered_by_instant() -> None:
    plus_two = timezone(timedelta(hours=2))
    later_in_local_time = PlateletReading(25, (T0 + timedelta(hours=24)).astimezone(plus_two), False, "24h")
    earlier_utc = PlateletReading(10, T0 + timedelta(hours=23), False, None)
    assessment = assess(12, [later_in_local_time, earlier_utc])
    assert [c.result for c in assessment.classified] == [earlier_utc, later_in_local_time]


def test_an_ad_hoc_result_counts_the_same_as_a_scheduled_check() -> None:
    assessment = assess(12, [check(24, 20), ad_hoc(30.5, 35)])

    assert assessment.category == R
    assert assessment.time_to_response_hours == Decimal("30.5")


@pytest.mark.parametrize(
    ("elapsed", "expected_hours"),
    [
        (timedelta(hours=24, minutes=3), Decimal("24.1")),  # 24.05 h rounds half up
        (timedelta(hours=24, minutes=2), Decimal("24.0")),  # 24.033 h
        (timedelta(hours=2, minutes=57), Decimal("3.0")),  # 2.95 h rounds half up
        (timedelta(0), Decimal("0.0")),
    ],
)
def test_time_to_response_is_measured_from_the_first_start_to_0_1_hour(
    elapsed: timedelta, expected_hours: Decimal
) -> None:
    result = PlateletReading(platelet_count=40, collected_at=T0 + elapsed, bleeding=False)
    assert assess(12, [result]).time_to_response_hours == expected_hours


def test_time_to_response_is_measured_from_the_start_not_the_completion_of_the_first_infusion() -> None:
    assessment = assess(12, [check(24, 40)], started=T0, completed=at(5))
    assert assessment.time_to_response_hours == Decimal("24.0")


def test_time_to_complete_response_can_come_after_time_to_response() -> None:
    assessment = assess(10, [check(24, 35), check(48, 90), check(72, 120)])

    assert assessment.time_to_response_hours == Decimal("24.0")
    assert assessment.time_to_complete_response_hours == Decimal("72.0")
    assert assessment.category == CR


def test_without_a_known_start_the_times_are_unknown_but_the_category_is_not() -> None:
    assessment = assess(12, [check(24, 40)], started=None, completed=None)

    assert assessment.category == R
    assert assessment.time_to_response_hours is None
    assert assessment.classified[0].hours_after_first_start is None


def test_the_best_count_includes_counts_taken_with_bleeding() -> None:
    assessment = assess(12, [check(24, 25), check(48, 300, bleeding=True)])

    assert assessment.best_platelet_count == 300
    assert assessment.category == NR


def test_the_category_stays_the_best_reached_after_a_later_fall() -> None:
    assert assess(60, [check(24, 110), check(48, 90)]).category == CR


# --- repeat-dose flag ---------------------------------------------------------------------------------------


def test_the_repeat_flag_clears_when_a_later_result_reaches_response() -> None:
    results = [check(24, 12), check(48, 14), check(72, 15)]
    assert assess(10, results).repeat_dose_recommended is True

    assert assess(10, [*results, check(168, 40)]).repeat_dose_recommended is False


def test_the_repeat_flag_stays_cleared_after_the_hematologist_decides() -> None:
    results = [check(24, 12), check(48, 14), check(72, 15)]
    assert assess(10, results, decided=True).repeat_dose_recommended is False

    assert assess(10, [*results, check(168, 16)], decided=True).repeat_dose_recommended is False


def test_an_ad_hoc_result_at_72_hours_after_completion_raises_the_repeat_flag() -> None:
    completed = at(4)
    on_time = PlateletReading(15, completed + timedelta(hours=72), False, None)
    assert assess(10, [on_time], completed=completed).repeat_dose_recommended is True


def test_an_ad_hoc_result_before_72_hours_after_completion_does_not_raise_the_repeat_flag() -> None:
    # 75 h after the start but 1 minute short of 72 h after completion: A6 times the checks from completion.
    completed = at(4)
    early = PlateletReading(15, completed + timedelta(hours=72) - timedelta(minutes=1), False, None)
    assert assess(10, [early], completed=completed).repeat_dose_recommended is False


def test_an_ad_hoc_result_cannot_raise_the_repeat_flag_before_the_first_infusion_completed() -> None:
    assert assess(10, [ad_hoc(100, 15)], completed=None).repeat_dose_recommended is False


def test_a_72h_check_drawn_before_72_hours_of_treatment_does_not_raise_the_repeat_flag() -> None:
    # docs/clinical-rules.md §A12: 72 h after the end, or the 72 h check drawn from 72 h after the start (IWG's time
    # zero); a 72 h check drawn at 70 h is not late enough.
    ended_2_hours_in = T0 + timedelta(hours=2)
    early = assess(10, [PlateletReading(15, at(70), False, "72h")], completed=ended_2_hours_in)
    assert early.repeat_dose_recommended is False
    assert assess(10, [PlateletReading(15, at(72), False, "72h")], completed=ended_2_hours_in).repeat_dose_recommended
    # An ad hoc count needs the full 72 h after the end.
    assert not assess(
        10, [PlateletReading(15, at(73), False, None)], completed=ended_2_hours_in
    ).repeat_dose_recommended
    assert assess(10, [PlateletReading(15, at(74), False, None)], completed=ended_2_hours_in).repeat_dose_recommended
    # When the times are not known, the label is all there is.
    assert assess(10, [PlateletReading(15, at(70), False, "7d")], started=None, completed=None).repeat_dose_recommended


def test_a_late_24h_check_collected_after_72_hours_raises_the_repeat_flag() -> None:
    assert assess(10, [PlateletReading(15, at(80), False, "24h")]).repeat_dose_recommended is True


def test_no_repeat_flag_when_a_response_was_reached_and_then_lost() -> None:
    assessment = assess(10, [check(24, 40), check(48, 15), check(72, 12)])

    assert assessment.repeat_dose_recommended is False
    assert assessment.loss_of_response is not None


def test_a_bleeding_result_at_72h_with_a_high_count_still_raises_the_repeat_flag() -> None:
    assert assess(10, [check(24, 20), check(72, 500, bleeding=True)]).repeat_dose_recommended is True


# --- loss of response ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("baseline", "reached", "dip", "category_reached", "category_now"),
    [
        pytest.param(10, check(24, 40), check(48, 29), R, NR, id="after_response_below_30"),
        pytest.param(20, check(24, 45), check(48, 39), R, NR, id="after_response_below_double_baseline"),
        pytest.param(10, check(24, 40), check(48, 60, bleeding=True), R, NR, id="after_response_bleeding"),
        pytest.param(10, check(24, 120), check(48, 99), CR, R, id="after_complete_response_below_100"),
        pytest.param(10, check(24, 120), check(48, 15), CR, NR, id="after_complete_response_to_no_response"),
        pytest.param(10, check(24, 120), check(48, 400, bleeding=True), CR, NR,
                     id="after_complete_response_bleeding"),
    ],
)  # fmt: skip
def test_a_result_below_the_category_reached_is_flagged_for_review(
    baseline: int,
    reached: PlateletReading,
    dip: PlateletReading,
    category_reached: IwgCategory,
    category_now: IwgCategory,
) -> None:
    loss = assess(baseline, [reached, dip]).loss_of_response

    assert loss is not None
    assert loss.result == dip
    assert (loss.category_reached, loss.category_now) == (category_reached, category_now)
    assert loss.needs_confirming_count_after == dip.collected_at + timedelta(days=1)
    assert loss.confirmed is False


def test_no_loss_is_flagged_before_any_response() -> None:
    assert assess(10, [check(24, 15), check(48, 12, bleeding=True), check(72, 5)]).loss_of_response is None


def test_falling_from_complete_response_to_response_is_a_loss_but_rising_is_not() -> None:
    assert assess(10, [check(24, 40), check(48, 120)]).loss_of_response is None
    assert assess(10, [check(24, 120), check(48, 40)]).loss_of_response is not None


def test_a_second_low_count_less_than_one_day_later_does_not_confirm_the_loss() -> None:
    dip = ad_hoc(48, 20)
    loss = assess(10, [check(24, 40), dip, ad_hoc(71.9, 18)]).loss_of_response

    assert loss is not None
    assert loss.result == dip
    assert loss.confirmed is False
    assert loss.confirming_result is None


def test_a_second_low_count_exactly_one_day_later_confirms_the_loss() -> None:
    dip, again = ad_hoc(48, 20), check(72, 18)
    loss = assess(10, [check(24, 40), dip, again]).loss_of_response

    assert loss is not None
    assert loss.result == dip
    assert loss.confirmed is True
    assert loss.confirming_result == again
    assert loss.category_now == NR


def test_the_first_confirming_count_is_kept_and_the_current_category_follows_the_latest_result() -> None:
    dip, confirming, latest = ad_hoc(48, 20), check(72, 60), check(168, 25)
    loss = assess(10, [check(24, 120), dip, confirming, latest]).loss_of_response

    assert loss is not None
    assert loss.result == dip
    assert loss.confirming_result == confirming
    assert (loss.category_reached, loss.category_now) == (CR, NR)


def test_recovering_to_the_reached_category_clears_even_a_confirmed_loss() -> None:
    results = [check(24, 40), check(48, 20), check(72, 18), check(168, 45)]
    assert assess(10, results).loss_of_response is None


def test_recovering_only_to_response_after_complete_response_keeps_the_loss() -> None:
    loss = assess(10, [check(24, 120), check(48, 20), check(72, 60)]).loss_of_response

    assert loss is not None
    assert (loss.category_reached, loss.category_now) == (CR, R)
    assert loss.confirmed is True


def test_a_new_dip_after_a_recovery_is_a_new_unconfirmed_loss() -> None:
    second_dip = check(168, 25)
    loss = assess(10, [check(24, 40), check(48, 20), check(72, 45), second_dip]).loss_of_response

    assert loss is not None
    assert loss.result == second_dip
    assert loss.confirmed is False


def test_the_loss_confirmation_interval_is_configurable() -> None:
    loss = assess(
        10,
        [check(24, 40), check(48, 20), check(72, 18)],
        thresholds=ResponseThresholds(loss_confirmation_hours=48),
    ).loss_of_response

    assert loss is not None
    assert loss.needs_confirming_count_after == at(96)
    assert loss.confirmed is False


# --- input validation ---------------------------------------------------------------------------------------


def test_a_naive_collection_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        PlateletReading(40, datetime(2025, 3, 4, 8, 0), False)  # noqa: DTZ001


def test_an_unknown_check_label_is_refused() -> None:
    with pytest.raises(ValueError, match="check_label"):
        PlateletReading(40, at(24), False, "96h")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"assessed_at": datetime(2025, 3, 4)}, "assessed_at"),  # noqa: DTZ001
        ({"first_infusion_started_at": datetime(2025, 3, 3)}, "first_infusion_started_at"),  # noqa: DTZ001
        ({"first_infusion_completed_at": datetime(2025, 3, 3)}, "first_infusion_completed_at"),  # noqa: DTZ001
        ({"first_infusion_started_at": None}, "without first_infusion_started_at"),
        ({"first_infusion_completed_at": T0 - timedelta(minutes=1)}, "before first_infusion_started_at"),
        ({"baseline_count": 2001}, "baseline_count"),
        ({"results": [ad_hoc(24, 2001)]}, "not plausible"),
        ({"results": [ad_hoc(-1, 40)]}, "before the first infusion started"),
    ],
)
def test_assess_response_refuses_inconsistent_input(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "baseline_count": 10,
        "results": [],
        "first_infusion_started_at": T0,
        "first_infusion_completed_at": T0,
        "repeat_decision_made": False,
        "assessed_at": at(500),
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        assess_response(**arguments)  # type: ignore[arg-type]


# --- day-2 prompt of the two-day regimen --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("regimen", "category", "expected"),
    [
        ("two_days_1g_per_kg", CR, True),
        ("two_days_1g_per_kg", R, True),
        ("two_days_1g_per_kg", NR, False),
        ("two_days_1g_per_kg", PENDING, False),
        ("two_days_1g_per_kg", None, False),
        ("one_dose_1g_per_kg", CR, False),
        ("five_days_0_4g_per_kg", R, False),
        ("one_dose_0_8g_per_kg", CR, False),
        ("repeat_1g_per_kg", CR, False),
    ],
)
def test_the_day_2_dose_may_be_withheld_only_on_the_two_day_regimen_after_a_24h_response(
    regimen: str, category: IwgCategory | None, expected: bool
) -> None:
    assert day2_may_be_withheld(regimen, category) is expected


def test_category_rank_lists_the_best_first() -> None:
    assert list(CATEGORY_RANK) == [CR, R, NR, PENDING]
    assert CATEGORY_RANK[CR] > CATEGORY_RANK[R] > CATEGORY_RANK[NR] > CATEGORY_RANK[PENDING]


# --- properties ---------------------------------------------------------------------------------------------

counts = st.one_of(st.integers(0, 150), st.integers(0, 2000))
results_strategy = st.builds(
    PlateletReading,
    platelet_count=counts,
    collected_at=st.integers(0, 400 * 60).map(lambda minutes: T0 + timedelta(minutes=minutes)),
    bleeding=st.booleans(),
    check_label=st.sampled_from([None, "24h", "48h", "72h", "7d"]),
)
result_lists = st.lists(results_strategy, max_size=8)


@PROPERTY
@given(baseline=counts, low=counts, high=counts)
def test_category_never_falls_as_the_count_rises_for_a_fixed_baseline_without_bleeding(
    baseline: int, low: int, high: int
) -> None:
    low, high = sorted((low, high))
    assert CATEGORY_RANK[classify(low, baseline, False)] <= CATEGORY_RANK[classify(high, baseline, False)]


@PROPERTY
@given(baseline=counts, count=counts)
def test_bleeding_is_always_no_response(baseline: int, count: int) -> None:
    assert classify(count, baseline, True) == NR


@PROPERTY
@given(baseline=counts, results=result_lists)
def test_the_category_is_the_best_over_the_classified_results(baseline: int, results: list[PlateletReading]) -> None:
    assessment = assess(baseline, results)
    expected = max((c.category for c in assessment.classified), key=CATEGORY_RANK.__getitem__, default=PENDING)

    assert assessment.category == expected
    assert [c.result.collected_at for c in assessment.classified] == sorted(r.collected_at for r in results)


@PROPERTY
@given(baseline=counts, results=result_lists)
def test_time_to_response_is_unknown_exactly_when_no_result_reached_response(
    baseline: int, results: list[PlateletReading]
) -> None:
    assessment = assess(baseline, results)
    responded = any(c.category in (R, CR) for c in assessment.classified)
    completed = any(c.category == CR for c in assessment.classified)

    assert (assessment.time_to_response_hours is None) == (not responded)
    assert (assessment.time_to_complete_response_hours is None) == (not completed)
    if responded:
        assert assessment.repeat_dose_recommended is False


@PROPERTY
@given(baseline=counts, results=result_lists, extra=results_strategy)
def test_adding_a_result_never_makes_the_best_category_worse(
    baseline: int, results: list[PlateletReading], extra: PlateletReading
) -> None:
    before = assess(baseline, results).category
    after = assess(baseline, [*results, extra]).category
    assert CATEGORY_RANK[after] >= CATEGORY_RANK[before]


@PROPERTY
@given(baseline=counts, results=result_lists)
def test_a_loss_is_only_reported_after_a_response_and_below_it(baseline: int, results: list[PlateletReading]) -> None:
    assessment = assess(baseline, results)
    loss = assessment.loss_of_response
    if loss is None:
        return
    assert loss.category_reached == assessment.category
    assert CATEGORY_RANK[loss.category_reached] >= CATEGORY_RANK[R]
    assert CATEGORY_RANK[loss.category_now] < CATEGORY_RANK[loss.category_reached]
    assert loss.category_now == assessment.classified[-1].category
    assert loss.confirmed == (loss.confirming_result is not None)
