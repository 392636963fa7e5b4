"""Platelet response to IVIG: IWG 2009 category per result and the order's response assessment.

Pure functions over plain values (no Django, no clock): every time is passed in. The rules are those of
docs/clinical-rules.md §A6 as amended by §A12 (which results count toward a course, co-therapy, bleeding not
assessed, loss of response, follow-up at 14 and 28 days); Part B sections 1.3, 5.2, 5.3 and 9.2 give the reasons.
Each number is a default in ``ResponseThresholds`` so that a deploying hospital can change it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from types import MappingProxyType

__all__ = [
    "CATEGORY_RANK",
    "CHECK_LABELS",
    "FOLLOW_UP_LABELS",
    "CoTherapyPeriod",
    "CourseTimes",
    "IwgCategory",
    "ClassifiedResult",
    "LossOfResponse",
    "LossStatus",
    "NotAttributed",
    "PlateletReading",
    "ResponseAssessment",
    "ResponseThresholds",
    "assess_response",
    "attribution_window_closes_at",
    "classify",
    "day2_may_be_withheld",
    "WITHHOLD_NOT_INDICATED",
    "withhold_refusal",
    "follow_up_due_at",
    "implausible_count_message",
    "not_attributed_reason",
]


class NotAttributed(StrEnum):
    """Why a result counts toward no course (A12); it is stored and shown with the reason, never classified."""

    BEFORE_COURSE = "before_course"
    DURING_INFUSION = "during_infusion"
    AFTER_COURSE_WINDOW = "after_course_window"
    AFTER_TRANSFUSION = "after_transfusion"


class LossStatus(StrEnum):
    """A12: one attributable result below the category reached is ``unconfirmed``; a second one at least 1 day
    later (IWG) makes it ``confirmed``."""

    NONE = "none"
    UNCONFIRMED = "unconfirmed"
    CONFIRMED = "confirmed"


class IwgCategory(StrEnum):
    COMPLETE_RESPONSE = "complete_response"
    RESPONSE = "response"
    NO_RESPONSE = "no_response"
    PENDING = "pending"


# Best first; a higher rank is a better response (A6: complete_response > response > no_response).
# PENDING ranks lowest so that any classified result improves on "no result yet".
CATEGORY_RANK: Mapping[IwgCategory, int] = MappingProxyType(
    {
        IwgCategory.COMPLETE_RESPONSE: 3,
        IwgCategory.RESPONSE: 2,
        IwgCategory.NO_RESPONSE: 1,
        IwgCategory.PENDING: 0,
    }
)

# The follow-up checks of A12: they feed loss of response, never the category reached or the non-response flag.
FOLLOW_UP_LABELS: frozenset[str] = frozenset({"14d", "28d"})

# The scheduled checks of A6 and A12; a result may also be ad hoc (label None) and then counts as A6's do.
CHECK_LABELS: frozenset[str] = frozenset({"24h", "48h", "72h", "7d"}) | FOLLOW_UP_LABELS

# A6's non-response flag waits for "a resulted check at 72 h or later": these are those checks.
_LATE_CHECK_LABELS: frozenset[str] = frozenset({"72h", "7d"})

# A1: only this regimen splits 2 g/kg over two days with a day-2 dose that depends on the 24 h count.
_TWO_DAY_REGIMEN = "two_days_1g_per_kg"

_TENTH_OF_AN_HOUR = Decimal("0.1")
_MICROSECONDS_PER_HOUR = Decimal(3_600_000_000)


@dataclass(frozen=True)
class ResponseThresholds:
    """A6 defaults; each is a hospital setting (docs/clinical-rules.md)."""

    # IWG 2009 (Part B 5.2): R needs >= 30 x10^9/L and at least double the baseline; CR needs >= 100.
    response_count: int = 30
    complete_response_count: int = 100
    doubling_factor: Decimal = Decimal(2)
    # A6: plausible counts are 0-2000 x10^9/L; anything else is refused.
    min_count: int = 0
    max_count: int = 2000
    # A6: the non-response flag waits for a result at 72 h or later after the first infusion's completion.
    repeat_flag_after_hours: int = 72
    # IWG (Part B 5.2 footnote): NR or loss of response is confirmed by a second count at least 1 day apart.
    loss_confirmation_hours: int = 24
    # A12 [D]: a result counts toward a course until 35 days after its last infusion ended (so the 28-day check
    # always counts), or the next course's start if earlier.
    attribution_days_after_last: int = 35
    # A12 [D]: a count within 24 h after a platelet transfusion started measures the transfusion, not the IVIG.
    transfusion_hours: int = 24
    # A12 [D]: "with corticosteroids" when one was given in the 14 days before the responding count; "with other
    # ITP treatment" when one was started from 28 days before the first infusion.
    corticosteroid_days_before: int = 14
    other_itp_treatment_days_before_first: int = 28

    def __post_init__(self) -> None:
        # An int such as 2 is accepted, but stored as Decimal so that "exactly double" is compared exactly.
        if isinstance(self.doubling_factor, bool) or not isinstance(self.doubling_factor, (int, Decimal)):
            raise TypeError("doubling_factor must be a Decimal or an int (not a float, to keep it exact)")
        object.__setattr__(self, "doubling_factor", Decimal(self.doubling_factor))
        if self.doubling_factor <= 0:
            raise ValueError("doubling_factor must be positive")
        if not 0 <= self.min_count <= self.max_count:
            raise ValueError("need 0 <= min_count <= max_count")
        if not 0 < self.response_count <= self.complete_response_count:
            raise ValueError("need 0 < response_count <= complete_response_count")
        if self.repeat_flag_after_hours <= 0 or self.loss_confirmation_hours <= 0:
            raise ValueError("repeat_flag_after_hours and loss_confirmation_hours must be positive")
        if min(self.attribution_days_after_last, self.transfusion_hours) <= 0:
            raise ValueError("attribution_days_after_last and transfusion_hours must be positive")


DEFAULT_THRESHOLDS = ResponseThresholds()


@dataclass(frozen=True)
class PlateletReading:
    """One platelet count (x10^9/L) with the bleeding observed with it.

    ``bleeding`` is new bleeding of WHO grade >= 2 since the previous check (A6, Part B 5.3); a result whose
    bleeding was not assessed (every lab result, until a grade is recorded) has ``bleeding_assessed`` False and is
    classified as if there were no bleeding (A12). ``check_label`` is "24h", "48h", "72h", "7d", "14d" or "28d" for a
    scheduled check, None for an ad hoc result.
    """

    platelet_count: int
    collected_at: datetime
    bleeding: bool
    check_label: str | None = None
    bleeding_assessed: bool = True

    def __post_init__(self) -> None:
        _require_aware(self.collected_at, "collected_at")
        if self.bleeding and not self.bleeding_assessed:
            raise ValueError("bleeding cannot be true when it was not assessed")
        if self.check_label is not None and self.check_label not in CHECK_LABELS:
            raise ValueError(f"check_label must be one of {sorted(CHECK_LABELS)} or None, not {self.check_label!r}")


@dataclass(frozen=True)
class ClassifiedResult:
    result: PlateletReading
    category: IwgCategory
    # Hours from the first infusion's start (IWG time zero, Part B 9.2) to collection, to 0.1 h.
    hours_after_first_start: Decimal | None


@dataclass(frozen=True)
class LossOfResponse:
    """A result below the category already reached, flagged for review (A6).

    ``result`` is the first result below the reached category since the last time it was held.
    IWG asks for a confirming count at least 1 day apart, so the loss is ``confirmed`` only when a later
    result, collected at or after ``needs_confirming_count_after``, is still below the reached category.
    """

    result: PlateletReading
    category_reached: IwgCategory
    # IwgCategory of the most recent result, which is still below ``category_reached`` while the loss stands.
    category_now: IwgCategory
    needs_confirming_count_after: datetime
    confirmed: bool = False
    confirming_result: PlateletReading | None = None
    # Bleeding on any result of the run below the category reached (the first, a repeat, the confirming one).
    bleeding_seen: bool = False

    @property
    def status(self) -> LossStatus:
        return LossStatus.CONFIRMED if self.confirmed else LossStatus.UNCONFIRMED

    @property
    def with_bleeding(self) -> bool:
        return self.bleeding_seen

    @property
    def notifies(self) -> bool:
        """A12: a confirmed loss, or an unconfirmed one with bleeding, tells the ordering hematologist."""
        return self.confirmed or self.with_bleeding


@dataclass(frozen=True)
class ResponseAssessment:
    """The order's response (A6).

    ``category`` is the best reached so far, PENDING before any result. Times are hours from the first
    infusion's start to the collection of the first result classified R or better (or CR), to 0.1 h; None when
    no such result exists or the start is unknown. ``loss_of_response`` is the latest unresolved loss, if any.
    ``classified`` is in collection-time order.
    """

    category: IwgCategory
    baseline_platelet_count: int
    best_platelet_count: int | None
    time_to_response_hours: Decimal | None
    time_to_complete_response_hours: Decimal | None
    repeat_dose_recommended: bool
    loss_of_response: LossOfResponse | None
    classified: tuple[ClassifiedResult, ...]
    assessed_at: datetime
    # A12: the response (R or CR) reached rests only on results whose bleeding was not assessed.
    bleeding_unassessed: bool = False
    with_corticosteroids: bool = False
    with_other_itp_treatment: bool = False

    @property
    def loss_status(self) -> LossStatus:
        return LossStatus.NONE if self.loss_of_response is None else self.loss_of_response.status


@dataclass(frozen=True)
class CoTherapyPeriod:
    """A treatment beside the IVIG, with its period (A12): ``kind`` is ``platelet_transfusion``,
    ``corticosteroid``, ``other_itp_treatment``, ``premedication``, ``prehydration`` or ``diuretic``. A single
    dose has no ``given_until``."""

    kind: str
    given_from: datetime
    given_until: datetime | None = None

    def __post_init__(self) -> None:
        _require_aware(self.given_from, "given_from")
        if self.given_until is not None:
            _require_aware(self.given_until, "given_until")
            if self.given_until < self.given_from:
                raise ValueError("given_until is before given_from")

    @property
    def ends_at(self) -> datetime:
        return self.given_until or self.given_from


@dataclass(frozen=True)
class CourseTimes:
    """When a course's infusions ran, as A12's window needs them.

    ``last_ended_at`` is the end of the course's last infusion once none is left to give (None while one is
    scheduled, running or on hold); ``next_course_started_at`` is the first start of the patient's next course.
    """

    first_started_at: datetime
    first_ended_at: datetime | None
    last_ended_at: datetime | None = None
    next_course_started_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("first_started_at", "first_ended_at", "last_ended_at", "next_course_started_at"):
            value = getattr(self, name)
            if value is not None:
                _require_aware(value, name)
        if self.first_ended_at is not None and self.first_ended_at < self.first_started_at:
            raise ValueError("first_ended_at is before first_started_at")

    @property
    def ended(self) -> bool:
        """No infusion of the course is left to give (A12's non-response flag waits for this)."""
        return self.last_ended_at is not None


def attribution_window_closes_at(
    course: CourseTimes, thresholds: ResponseThresholds = DEFAULT_THRESHOLDS
) -> datetime | None:
    """The end of the window in which results count toward the course (A12): 35 days after its last infusion
    ended, or the next course's start if earlier; None while the course is still being given and no next course
    has started (the window is open)."""
    closes = [
        moment
        for moment in (
            course.last_ended_at + timedelta(days=thresholds.attribution_days_after_last)
            if course.last_ended_at is not None
            else None,
            course.next_course_started_at,
        )
        if moment is not None
    ]
    return min(closes, default=None)


def not_attributed_reason(
    collected_at: datetime,
    course: CourseTimes,
    co_therapies: Sequence[CoTherapyPeriod] = (),
    thresholds: ResponseThresholds = DEFAULT_THRESHOLDS,
) -> NotAttributed | None:
    """Why a result collected at ``collected_at`` does not count toward ``course``, or None when it does (A12).

    It counts when collected after the end of the course's first infusion and before the window closes, and not
    within 24 h after a platelet transfusion started."""
    _require_aware(collected_at, "collected_at")
    if collected_at < course.first_started_at:
        return NotAttributed.BEFORE_COURSE
    if course.first_ended_at is None or collected_at <= course.first_ended_at:
        return NotAttributed.DURING_INFUSION
    closes = attribution_window_closes_at(course, thresholds)
    if closes is not None and collected_at >= closes:
        return NotAttributed.AFTER_COURSE_WINDOW
    if after_transfusion(collected_at, co_therapies, thresholds):
        return NotAttributed.AFTER_TRANSFUSION
    return None


def after_transfusion(
    collected_at: datetime, co_therapies: Sequence[CoTherapyPeriod], thresholds: ResponseThresholds = DEFAULT_THRESHOLDS
) -> bool:
    """A12 [D]: collected within 24 h after a platelet transfusion started (at the start included)."""
    window = timedelta(hours=thresholds.transfusion_hours)
    return any(
        therapy.kind == "platelet_transfusion" and therapy.given_from <= collected_at < therapy.given_from + window
        for therapy in co_therapies
    )


def follow_up_due_at(first_infusion_ended_local: datetime, days: int) -> datetime:
    """A12 [D]: a follow-up check is due at 09:00 hospital time on the ``days``-th day after the first infusion
    ended. ``first_infusion_ended_local`` is in the hospital's zone (a ZoneInfo tzinfo); the answer is in the same
    zone, at 09:00 wall-clock time whatever daylight saving did in between."""
    _require_aware(first_infusion_ended_local, "first_infusion_ended_local")
    day = first_infusion_ended_local.date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=first_infusion_ended_local.tzinfo)


def implausible_count_message(count: int, thresholds: ResponseThresholds = DEFAULT_THRESHOLDS) -> str | None:
    """The refusal message for a count outside the plausible range (A6), None when the count is plausible."""
    if thresholds.min_count <= count <= thresholds.max_count:
        return None
    return (
        f"Platelet count {count} is not plausible: it must be between {thresholds.min_count} and "
        f"{thresholds.max_count} ×10⁹/L."
    )


def classify(
    platelet_count: int,
    baseline_count: int,
    bleeding: bool,
    thresholds: ResponseThresholds = DEFAULT_THRESHOLDS,
) -> IwgCategory:
    """IWG 2009 category of one result, in A6's order; every threshold is inclusive ("at least")."""
    _require_plausible(platelet_count, "platelet_count", thresholds)
    _require_plausible(baseline_count, "baseline_count", thresholds)
    # IWG: any bleeding means no response, whatever the count (Part B 5.2).
    if bleeding:
        return IwgCategory.NO_RESPONSE
    # CR does not require doubling (Part B 5.2 footnote, case G: 60 -> 110 is CR).
    if platelet_count >= thresholds.complete_response_count:
        return IwgCategory.COMPLETE_RESPONSE
    if platelet_count >= thresholds.response_count and Decimal(platelet_count) >= (
        thresholds.doubling_factor * baseline_count
    ):
        return IwgCategory.RESPONSE
    return IwgCategory.NO_RESPONSE


def day2_may_be_withheld(regimen_code: str, results_24h_category: IwgCategory | None) -> bool:
    """Whether to show the "day-2 dose may be withheld" prompt before the second infusion.

    A1: only for ``two_days_1g_per_kg``, when the 24 h count shows response (R or CR); Gamunex-C label
    (Part B 1.3). No 24 h result yet (None or PENDING) means the prompt is not shown.
    """
    if regimen_code != _TWO_DAY_REGIMEN or results_24h_category is None:
        return False
    return CATEGORY_RANK[results_24h_category] >= CATEGORY_RANK[IwgCategory.RESPONSE]


# The refusal code of a withhold that A1 does not allow (docs/api.md "Safety stops and refusal codes").
WITHHOLD_NOT_INDICATED = "withhold_not_indicated"


def withhold_refusal(*, regimen_code: str, day_number: int, latest_counted_category: IwgCategory | None) -> str | None:
    """Why a scheduled dose may not be withheld, in clinical words, or None when A1 allows it.

    A1 allows exactly one withhold: a day-2+ dose of ``two_days_1g_per_kg`` when the latest result counted toward
    the course (A12) shows a response (R or CR), the case the prompt before day 2 offers (``day2_may_be_withheld``).
    Anything else would end a course with less IVIG than ordered and no clinical reason on record: day 1 is never
    withheld (the order is cancelled instead), other regimens' days are stopped by cancelling the order or by the
    review of a course on hold.
    """
    if day_number < 2:
        return "Day 1 is never withheld: cancel the order instead."
    if regimen_code != _TWO_DAY_REGIMEN:
        return (
            "Only the day-2 dose of the two-day 1 g/kg course may be withheld (A1); cancel the order to stop "
            "this course."
        )
    if not day2_may_be_withheld(regimen_code, latest_counted_category):
        return (
            "The day-2 dose is withheld only when the latest counted platelet count shows a response (A1); "
            "no counted result shows one, so day 2 is given as ordered."
        )
    return None


def assess_response(
    *,
    baseline_count: int,
    results: Sequence[PlateletReading],
    first_infusion_started_at: datetime | None,
    first_infusion_completed_at: datetime | None,
    repeat_decision_made: bool,
    assessed_at: datetime,
    course_ended: bool = True,
    co_therapies: Sequence[CoTherapyPeriod] = (),
    thresholds: ResponseThresholds = DEFAULT_THRESHOLDS,
) -> ResponseAssessment:
    """The order's response as of ``assessed_at`` from its attributable platelet results (A6, A12).

    ``results`` are those that count toward the course (``not_attributed_reason`` is None for each): the caller
    leaves the others out. ``assessed_at`` is recorded, not used to filter. Follow-up results (14d, 28d) feed loss
    of response only: they never raise the category reached, its time, or the non-response flag. The flag waits for
    ``course_ended`` (no infusion scheduled, running or on hold). ``co_therapies`` mark a response "with
    corticosteroids" or "with other ITP treatment".

    Raises ValueError for naive datetimes, implausible counts, a completion without or before the start,
    or a result collected before the first infusion started (it cannot be a response to it).
    """
    _require_aware(assessed_at, "assessed_at")
    _require_plausible(baseline_count, "baseline_count", thresholds)
    if first_infusion_started_at is not None:
        _require_aware(first_infusion_started_at, "first_infusion_started_at")
    if first_infusion_completed_at is not None:
        _require_aware(first_infusion_completed_at, "first_infusion_completed_at")
        if first_infusion_started_at is None:
            raise ValueError("first_infusion_completed_at given without first_infusion_started_at")
        if first_infusion_completed_at < first_infusion_started_at:
            raise ValueError("first_infusion_completed_at is before first_infusion_started_at")

    # A6 reads results in collection-time order; sorted() is stable, so equal times keep their input order.
    ordered = sorted(results, key=lambda r: r.collected_at)

    classified: list[ClassifiedResult] = []
    best = IwgCategory.PENDING
    best_count: int | None = None
    first_response: ClassifiedResult | None = None
    first_complete: ClassifiedResult | None = None
    late_result_exists = False
    loss: LossOfResponse | None = None

    for result in ordered:
        if first_infusion_started_at is not None and result.collected_at < first_infusion_started_at:
            raise ValueError(
                f"result collected at {result.collected_at.isoformat()} is before the first infusion started"
            )
        category = classify(result.platelet_count, baseline_count, result.bleeding, thresholds)
        item = ClassifiedResult(
            result=result,
            category=category,
            hours_after_first_start=_hours_between(first_infusion_started_at, result.collected_at),
        )
        classified.append(item)
        rank = CATEGORY_RANK[category]
        # Loss exists only after a response (A6): below R means < 30, < 2x baseline or bleeding; below CR
        # means < 100 or bleeding - exactly "a lower category than the best reached".
        if CATEGORY_RANK[best] >= CATEGORY_RANK[IwgCategory.RESPONSE] and rank < CATEGORY_RANK[best]:
            loss = _extend_loss(loss, result, best, category, thresholds)
        elif rank >= CATEGORY_RANK[best]:
            # Nothing reached yet, or back at the reached category: a dip that did not last needs no review.
            loss = None
        if result.check_label in FOLLOW_UP_LABELS:
            continue  # A12: a follow-up count only watches for the response being lost
        best_count = result.platelet_count if best_count is None else max(best_count, result.platelet_count)
        late_result_exists = late_result_exists or _is_late_result(
            result, first_infusion_started_at, first_infusion_completed_at, thresholds
        )
        if first_response is None and rank >= CATEGORY_RANK[IwgCategory.RESPONSE]:
            first_response = item
        if first_complete is None and category is IwgCategory.COMPLETE_RESPONSE:
            first_complete = item
        if rank > CATEGORY_RANK[best]:
            best = category

    responded = first_response is not None
    # A6/A12: flag non-response once the course has ended and a result at 72 h or later exists while no result
    # ever reached response; it stays down once the hematologist has decided, and clears on a later response.
    repeat_dose_recommended = course_ended and late_result_exists and not responded and not repeat_decision_made
    at_best = [item for item in classified if item.category is best and item.result.check_label not in FOLLOW_UP_LABELS]
    responding = next((item for item in at_best if CATEGORY_RANK[best] >= CATEGORY_RANK[IwgCategory.RESPONSE]), None)

    return ResponseAssessment(
        category=best,
        baseline_platelet_count=baseline_count,
        best_platelet_count=best_count,
        time_to_response_hours=_hours_of(first_response),
        time_to_complete_response_hours=_hours_of(first_complete),
        repeat_dose_recommended=repeat_dose_recommended,
        loss_of_response=loss,
        classified=tuple(classified),
        assessed_at=assessed_at,
        # Only a response can rest on bleeding not assessed: bleeding would make it no response (no response stays).
        bleeding_unassessed=responding is not None and not any(item.result.bleeding_assessed for item in at_best),
        with_corticosteroids=responding is not None
        and _corticosteroid_before(responding.result.collected_at, co_therapies, thresholds),
        with_other_itp_treatment=responding is not None
        and first_infusion_started_at is not None
        and _other_itp_treatment_started(
            first_infusion_started_at, responding.result.collected_at, co_therapies, thresholds
        ),
    )


def _corticosteroid_before(
    collected_at: datetime, co_therapies: Sequence[CoTherapyPeriod], thresholds: ResponseThresholds
) -> bool:
    """A corticosteroid given in the 14 days before the count (its period overlaps them)."""
    since = collected_at - timedelta(days=thresholds.corticosteroid_days_before)
    return any(
        therapy.kind == "corticosteroid" and therapy.given_from <= collected_at and therapy.ends_at >= since
        for therapy in co_therapies
    )


def _other_itp_treatment_started(
    first_started_at: datetime,
    collected_at: datetime,
    co_therapies: Sequence[CoTherapyPeriod],
    thresholds: ResponseThresholds,
) -> bool:
    """Another ITP treatment started from 28 days before the first infusion and before the count."""
    since = first_started_at - timedelta(days=thresholds.other_itp_treatment_days_before_first)
    return any(
        therapy.kind == "other_itp_treatment" and since <= therapy.given_from <= collected_at
        for therapy in co_therapies
    )


def _hours_of(item: ClassifiedResult | None) -> Decimal | None:
    return None if item is None else item.hours_after_first_start


def _extend_loss(
    loss: LossOfResponse | None,
    result: PlateletReading,
    reached: IwgCategory,
    category: IwgCategory,
    thresholds: ResponseThresholds,
) -> LossOfResponse:
    if loss is None:
        confirm_after = result.collected_at + timedelta(hours=thresholds.loss_confirmation_hours)
        return LossOfResponse(
            result=result,
            category_reached=reached,
            category_now=category,
            needs_confirming_count_after=confirm_after,
            bleeding_seen=result.bleeding,
        )
    confirming = loss.confirming_result
    # IWG: a loss is confirmed by a second count at least 1 day after the first; earlier repeats do not count.
    if confirming is None and result.collected_at >= loss.needs_confirming_count_after:
        confirming = result
    return LossOfResponse(
        result=loss.result,
        category_reached=loss.category_reached,
        category_now=category,
        needs_confirming_count_after=loss.needs_confirming_count_after,
        confirmed=confirming is not None,
        confirming_result=confirming,
        bleeding_seen=loss.bleeding_seen or result.bleeding,
    )


def _is_late_result(
    result: PlateletReading,
    first_infusion_started_at: datetime | None,
    first_infusion_completed_at: datetime | None,
    thresholds: ResponseThresholds,
) -> bool:
    """A result "from 72 h" for the non-response flag (A12): collected 72 h or more after the first infusion
    ended; or the 72 h (or 7 d) check itself drawn 72 h or more after the first infusion started (IWG's time zero,
    as the public cases count it: a morning draw a little before its due time). A 72 h check drawn earlier than
    that is not late enough. Only when the times are unknown does the label alone decide."""
    late = timedelta(hours=thresholds.repeat_flag_after_hours)
    if first_infusion_completed_at is not None and result.collected_at - first_infusion_completed_at >= late:
        return True
    if result.check_label not in _LATE_CHECK_LABELS:
        return False
    if first_infusion_started_at is None:
        return True
    return result.collected_at - first_infusion_started_at >= late


def _hours_between(start: datetime | None, end: datetime) -> Decimal | None:
    if start is None:
        return None
    # Integer microseconds keep the arithmetic exact before rounding half up to 0.1 h.
    hours = Decimal((end - start) // timedelta(microseconds=1)) / _MICROSECONDS_PER_HOUR
    return hours.quantize(_TENTH_OF_AN_HOUR, rounding=ROUND_HALF_UP)


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _require_plausible(count: int, name: str, thresholds: ResponseThresholds) -> None:
    message = implausible_count_message(count, thresholds)
    if message is not None:
        raise ValueError(f"{name}: {message}")
