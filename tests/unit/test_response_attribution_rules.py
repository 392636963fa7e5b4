"""docs/clinical-rules.md §A12 as plain values: which results count toward a course, co-therapy, bleeding not
assessed, loss of response, the non-response flag waiting for the course's end, and the follow-up checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitoring.response_rules import (
    CoTherapyPeriod,
    CourseTimes,
    IwgCategory,
    LossStatus,
    NotAttributed,
    PlateletReading,
    assess_response,
    attribution_window_closes_at,
    follow_up_due_at,
    not_attributed_reason,
)

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
END = START + timedelta(hours=4)
ONE_DAY_COURSE = CourseTimes(first_started_at=START, first_ended_at=END, last_ended_at=END)


def reading(hours_after_end: float, count: int, *, bleeding: bool = False, label=None, assessed: bool = True):
    return PlateletReading(
        platelet_count=count,
        collected_at=END + timedelta(hours=hours_after_end),
        bleeding=bleeding,
        check_label=label,
        bleeding_assessed=assessed,
    )


def assess(*results, baseline=10, course_ended=True, co_therapies=()):
    return assess_response(
        baseline_count=baseline,
        results=list(results),
        first_infusion_started_at=START,
        first_infusion_completed_at=END,
        repeat_decision_made=False,
        assessed_at=END + timedelta(days=40),
        course_ended=course_ended,
        co_therapies=co_therapies,
    )


def transfusion(at):
    return CoTherapyPeriod(kind="platelet_transfusion", given_from=at, given_until=at + timedelta(minutes=30))


# --- The window ---------------------------------------------------------------------------------------------


def test_a_count_taken_twenty_minutes_into_the_infusion_counts_toward_nothing():
    assert not_attributed_reason(START + timedelta(minutes=20), ONE_DAY_COURSE) is NotAttributed.DURING_INFUSION


def test_a_count_taken_at_the_very_end_of_the_first_infusion_is_still_during_it_and_one_after_counts():
    assert not_attributed_reason(END, ONE_DAY_COURSE) is NotAttributed.DURING_INFUSION
    assert not_attributed_reason(END + timedelta(minutes=1), ONE_DAY_COURSE) is None


def test_a_count_before_the_first_infusion_is_before_the_course():
    assert not_attributed_reason(START - timedelta(minutes=1), ONE_DAY_COURSE) is NotAttributed.BEFORE_COURSE


def test_a_count_65_days_after_the_infusion_is_outside_the_window_and_the_28_day_one_inside():
    assert not_attributed_reason(END + timedelta(days=65), ONE_DAY_COURSE) is NotAttributed.AFTER_COURSE_WINDOW
    assert not_attributed_reason(END + timedelta(days=28, hours=5), ONE_DAY_COURSE) is None
    assert not_attributed_reason(END + timedelta(days=35), ONE_DAY_COURSE) is NotAttributed.AFTER_COURSE_WINDOW
    assert not_attributed_reason(END + timedelta(days=35) - timedelta(seconds=1), ONE_DAY_COURSE) is None


def test_the_window_runs_from_the_last_infusion_of_a_two_day_course():
    day_2_end = END + timedelta(days=1)
    course = CourseTimes(first_started_at=START, first_ended_at=END, last_ended_at=day_2_end)
    assert attribution_window_closes_at(course) == day_2_end + timedelta(days=35)


def test_the_next_course_start_closes_the_window_when_earlier():
    next_start = END + timedelta(days=10)
    course = CourseTimes(
        first_started_at=START, first_ended_at=END, last_ended_at=END, next_course_started_at=next_start
    )
    assert attribution_window_closes_at(course) == next_start
    assert not_attributed_reason(next_start, course) is NotAttributed.AFTER_COURSE_WINDOW
    assert not_attributed_reason(next_start - timedelta(minutes=1), course) is None


def test_the_window_stays_open_while_the_course_is_being_given():
    course = CourseTimes(first_started_at=START, first_ended_at=END)
    assert attribution_window_closes_at(course) is None
    assert not course.ended
    assert not_attributed_reason(END + timedelta(days=90), course) is None


def test_a_count_within_24_hours_of_a_platelet_transfusion_counts_toward_nothing():
    given = END + timedelta(hours=10)
    assert not_attributed_reason(given + timedelta(hours=2), ONE_DAY_COURSE, [transfusion(given)]) == (
        NotAttributed.AFTER_TRANSFUSION
    )
    assert not_attributed_reason(given + timedelta(hours=24), ONE_DAY_COURSE, [transfusion(given)]) is None
    # A count drawn before the transfusion started is the IVIG's.
    assert not_attributed_reason(given - timedelta(minutes=5), ONE_DAY_COURSE, [transfusion(given)]) is None


def test_a_corticosteroid_does_not_exclude_a_count():
    steroid = CoTherapyPeriod(kind="corticosteroid", given_from=END, given_until=END + timedelta(days=4))
    assert not_attributed_reason(END + timedelta(hours=24), ONE_DAY_COURSE, [steroid]) is None


# --- The non-response flag and follow-up counts -------------------------------------------------------------


def test_the_non_response_flag_waits_for_the_course_to_end():
    at_72h = reading(72, 12, label="72h")
    assert not assess(at_72h, course_ended=False).repeat_dose_recommended
    assert assess(at_72h, course_ended=True).repeat_dose_recommended


def test_a_follow_up_count_never_raises_the_category_nor_the_flag():
    non_responder = assess(
        reading(24, 12, label="24h"), reading(168, 14, label="7d"), reading(14 * 24, 150, label="14d")
    )
    assert non_responder.category is IwgCategory.NO_RESPONSE
    assert non_responder.repeat_dose_recommended
    assert non_responder.best_platelet_count == 14
    only_follow_up = assess(reading(14 * 24, 8, label="14d"))
    assert only_follow_up.category is IwgCategory.PENDING
    assert not only_follow_up.repeat_dose_recommended


def test_a_follow_up_count_below_the_response_reached_is_a_loss_of_response():
    responder = assess(reading(24, 120, label="24h"), reading(14 * 24, 20, label="14d"))
    assert responder.category is IwgCategory.COMPLETE_RESPONSE
    assert responder.loss_status is LossStatus.UNCONFIRMED


# --- Loss of response ---------------------------------------------------------------------------------------


def test_one_count_below_the_response_reached_is_an_unconfirmed_loss_and_tells_no_one_without_bleeding():
    assessed = assess(reading(24, 120), reading(72, 25))
    assert assessed.loss_status is LossStatus.UNCONFIRMED
    assert not assessed.loss_of_response.notifies


def test_an_unconfirmed_loss_with_bleeding_tells_the_hematologist():
    assessed = assess(reading(24, 120), reading(72, 6, bleeding=True))
    assert assessed.loss_status is LossStatus.UNCONFIRMED
    assert assessed.loss_of_response.notifies


def test_bleeding_on_a_later_low_count_not_yet_confirming_tells_the_hematologist():
    assessed = assess(reading(24, 120), reading(72, 25), reading(80, 20, bleeding=True))
    assert assessed.loss_status is LossStatus.UNCONFIRMED
    assert assessed.loss_of_response.notifies


def test_a_second_low_count_a_day_later_confirms_the_loss_and_one_the_same_day_does_not():
    same_day = assess(reading(24, 120), reading(72, 25), reading(80, 22))
    assert same_day.loss_status is LossStatus.UNCONFIRMED
    next_day = assess(reading(24, 120), reading(72, 25), reading(96, 22))
    assert next_day.loss_status is LossStatus.CONFIRMED
    assert next_day.loss_of_response.notifies
    # The best category stays what was reached: loss of response is shown beside it.
    assert next_day.category is IwgCategory.COMPLETE_RESPONSE


def test_no_loss_before_any_response_and_none_once_the_count_is_back():
    assert assess(reading(24, 12), reading(72, 8)).loss_status is LossStatus.NONE
    assert assess(reading(24, 120), reading(48, 25), reading(96, 130)).loss_status is LossStatus.NONE


# --- Bleeding not assessed ----------------------------------------------------------------------------------


def test_a_lab_count_with_bleeding_not_assessed_is_classified_as_without_bleeding_and_marked():
    assessed = assess(reading(24, 150, assessed=False))
    assert assessed.category is IwgCategory.COMPLETE_RESPONSE
    assert assessed.bleeding_unassessed


def test_the_mark_goes_once_one_result_at_the_best_category_has_a_grade():
    assessed = assess(reading(24, 150, assessed=False), reading(48, 160, assessed=True))
    assert not assessed.bleeding_unassessed
    assert not assess().bleeding_unassessed


def test_no_response_is_not_marked_bleeding_unassessed_since_bleeding_could_not_lower_it():
    assert not assess(reading(24, 12, assessed=False)).bleeding_unassessed


def test_bleeding_cannot_be_recorded_as_true_without_being_assessed():
    with pytest.raises(ValueError, match="not assessed"):
        reading(24, 50, bleeding=True, assessed=False)


# --- Co-therapy ---------------------------------------------------------------------------------------------


def test_a_response_with_a_corticosteroid_in_the_14_days_before_is_marked_with_corticosteroids():
    steroid = CoTherapyPeriod(
        kind="corticosteroid", given_from=START - timedelta(days=20), given_until=START - timedelta(days=12)
    )
    assert assess(reading(24, 120), co_therapies=[steroid]).with_corticosteroids
    old = CoTherapyPeriod(
        kind="corticosteroid", given_from=START - timedelta(days=30), given_until=START - timedelta(days=15)
    )
    assert not assess(reading(24, 120), co_therapies=[old]).with_corticosteroids
    # No response, nothing to qualify.
    assert not assess(reading(24, 12), co_therapies=[steroid]).with_corticosteroids


def test_a_response_after_another_itp_treatment_started_within_28_days_before_the_first_infusion_is_marked():
    romiplostim = CoTherapyPeriod(kind="other_itp_treatment", given_from=START - timedelta(days=28))
    assert assess(reading(24, 120), co_therapies=[romiplostim]).with_other_itp_treatment
    earlier = CoTherapyPeriod(kind="other_itp_treatment", given_from=START - timedelta(days=29))
    assert not assess(reading(24, 120), co_therapies=[earlier]).with_other_itp_treatment


# --- Follow-up checks ---------------------------------------------------------------------------------------


def test_a_follow_up_check_is_due_at_nine_in_the_morning_hospital_time_across_daylight_saving():
    london = ZoneInfo("Europe/London")
    ended = datetime(2026, 3, 20, 16, 30, tzinfo=london)  # GMT; 14 days later is BST
    due = follow_up_due_at(ended, 14)
    assert (due.date().isoformat(), due.hour, due.minute) == ("2026-04-03", 9, 0)
    assert due.utcoffset() == timedelta(hours=1)
    assert follow_up_due_at(ended, 28).date().isoformat() == "2026-04-17"
