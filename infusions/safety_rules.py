"""Safety stops of orders and of the bedside (docs/clinical-rules.md §A9-A10): what a careful pharmacist, nurse
or hematologist would refuse, as pure functions of plain values.

Each rule takes the facts it needs (dates and times are passed in, so a rule is evaluated as of the event's own
time) and returns the stops it raises, with their code, kind, message, who may override and the field at fault.
Nothing here imports Django; ``core.stops`` settles the stops with a request's overrides. The numbers are
``SafetyConfig`` defaults, each from the section cited beside it; **[D]** marks a design default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from core.stops import Kind, Overrider, Stage, Stop

__all__ = [
    "ORDER_STOP_CODES",
    "REFUSED_EVEN_WHEN_LATE",
    "AntiIgaAntibodies",
    "BedsideRate",
    "PrehydrationPeriod",
    "PreviousCourse",
    "ProductSafety",
    "SafetyConfig",
    "SevereReaction",
    "VialGiven",
    "active_course",
    "baseline_count_age",
    "baseline_high_alert",
    "baseline_missing",
    "baseline_stale",
    "before_scheduled_day",
    "blood_group_missing",
    "checklist_incomplete",
    "course_on_hold",
    "dosing_weight_override_range",
    "earlier_day_open",
    "emergency_weight_recalculation",
    "first_infusion_date",
    "fructose_intolerance",
    "glucose_load",
    "height_missing",
    "hemolysis_labs_missing",
    "hemolysis_risk",
    "high_dose",
    "iga_conflict",
    "iga_result_missing",
    "label_age",
    "maltose_interference",
    "near_policy_threshold",
    "order_not_verified",
    "prehydration_covers_start",
    "prehydration_not_given",
    "WorkingSummary",
    "previous_severe_reaction",
    "record_changed",
    "rate_above_limits",
    "renal_labs_missing",
    "rate_plan_incomplete",
    "repeat_chain",
    "repeat_not_indicated",
    "resume_above_half",
    "sorbitol_under_2",
    "start_above_initial",
    "step_during_alert",
    "step_interval_default",
    "step_skips",
    "step_too_early",
    "step_without_vitals",
    "too_soon_after_previous_day",
    "vial_mismatch",
    "vials_not_detailed",
    "vial_problems",
    "volume_mismatch",
    "weight_missing",
    "weight_stale",
]


@dataclass(frozen=True)
class SafetyConfig:
    """Every number of A8-A10, each a hospital setting with this default."""

    first_infusion_max_days_ahead: int = 30  # A9 first_infusion_date
    weight_max_age_days: int = 30  # A9 weight_stale (A2 amended)
    high_dose_above_g: Decimal = Decimal("100")  # A9 high_dose [D]
    min_hours_between_days: int = 8  # A10 too_soon_after_previous_day [D]
    too_soon_applies_from_g_per_kg_per_day: Decimal = Decimal("1")  # A10: "a regimen of >= 1 g/kg/day"
    baseline_max_age_minutes: int = 60  # A10 baseline_stale
    vitals_before_increase_minutes: int = 15  # A10 step_without_vitals [D]
    volume_mismatch_percent: Decimal = Decimal("10")  # A10 volume_mismatch
    first_ever_gap_weeks: int = 8  # A5 / A10 start_above_initial: "more than 8 weeks since the last IVIG"
    rate_step_material_percent: Decimal = Decimal("5")  # A9 record_changed: "any rate step more than 5 % higher"
    baseline_count_max_age_hours: int = 72  # A9 baseline_count_age
    itp_count_below_10e9_per_l: int = 100  # A9 baseline_count_age: ">= 100 is not ITP by IWG" (reference §5.1)
    sorbitol_min_age_years: int = 2  # A9 sorbitol_under_2
    late_documentation_minutes: int = 15  # A8 [D]
    renal_labs_days_at_risk: int = 7  # A9 renal_labs_missing: with a renal risk factor
    renal_labs_days_otherwise: int = 90  # A9 renal_labs_missing [D]
    hemolysis_labs_hours: int = 72  # A9 hemolysis_labs_missing
    high_course_g_per_kg: Decimal = Decimal("2")  # A9/A13: a course of >= 2 g/kg
    # A10 prehydration_not_given [D] design default: a pre-hydration counts for a start when it was given (or was
    # still running) within the 12 h before it; an older one no longer answers for this day's kidneys.
    prehydration_window_hours: int = 12

    def __post_init__(self) -> None:
        for name in (
            "first_infusion_max_days_ahead",
            "weight_max_age_days",
            "min_hours_between_days",
            "baseline_max_age_minutes",
            "vitals_before_increase_minutes",
            "first_ever_gap_weeks",
            "late_documentation_minutes",
            "prehydration_window_hours",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if not Decimal("0") < self.volume_mismatch_percent < Decimal("100"):
            raise ValueError("volume_mismatch_percent must be between 0 and 100")
        if not Decimal("0") < self.rate_step_material_percent < Decimal("100"):
            raise ValueError("rate_step_material_percent must be between 0 and 100")
        if self.high_dose_above_g <= 0:
            raise ValueError("high_dose_above_g must be positive")
        # A1: no regimen gives more than 1 g/kg in a day, so the rule must apply at 1 g/kg/day at the latest.
        if not Decimal("0") < self.too_soon_applies_from_g_per_kg_per_day <= Decimal("1"):
            raise ValueError("too_soon_applies_from_g_per_kg_per_day must be above 0 and at most 1")


DEFAULT_CONFIG = SafetyConfig()

# Version 1's refusals (A8): the order of events and the data an event needs, not clinical judgement. A late entry
# meets them like any other.
REFUSED_EVEN_WHEN_LATE = frozenset(
    {
        "order_not_verified",
        "earlier_day_open",
        "checklist_incomplete",
        "baseline_missing",
        "weight_missing",
        "height_missing",
        "iga_result_missing",
        "vials_missing",
    }
)

# The order stops (A9): an override of one carries to verification and every start while its fingerprint holds,
# wherever it was given. A bedside stop's override (A10) covers its one event.
ORDER_STOP_CODES = frozenset(
    {
        "active_course",
        "first_infusion_date",
        "weight_stale",
        "record_changed",
        "iga_conflict",
        "repeat_not_indicated",
        "repeat_chain",
        "previous_severe_reaction",
        "high_dose",
        "dosing_weight_override_range",
        "near_policy_threshold",
        "rate_plan_incomplete",
        "label_age",
        "sorbitol_under_2",
        "fructose_intolerance",
        "maltose_interference",
        "glucose_load",
        "baseline_count_age",
        "renal_labs_missing",
        "hemolysis_labs_missing",
        "blood_group_missing",
    }
)


def _g(value: Decimal) -> str:
    """A number as a person writes it: 100, 42.5 (no exponent, no trailing zeros)."""
    return f"{value.normalize():f}"


# ----------------------------------------------------------------------------------------------------------
# v1's refusals, with their codes (A8)
# ----------------------------------------------------------------------------------------------------------


def iga_result_missing(*, iga_known: bool, emergency: bool) -> list[Stop]:
    """Verify: a non-emergency order needs the patient's serum IgA result (A4, A8)."""
    if iga_known or emergency:
        return []
    return [
        Stop(
            "iga_result_missing",
            Kind.HARD,
            "The patient has no serum IgA result: record it before verifying (only emergency orders may go ahead "
            "without it).",
        )
    ]


def weight_missing() -> list[Stop]:
    return [
        Stop(
            "weight_missing",
            Kind.HARD,
            "The patient has no weight on record: weigh the patient first.",
            field="patient",
        )
    ]


def height_missing() -> list[Stop]:
    return [
        Stop(
            "height_missing",
            Kind.HARD,
            "The patient has no height on record: measure the height first.",
            field="patient",
        )
    ]


def order_not_verified(*, order_status: str) -> list[Stop]:
    if order_status in ("verified", "in_progress"):
        return []
    return [
        Stop(
            "order_not_verified",
            Kind.HARD,
            f"The order is {order_status.replace('_', ' ')}; only a verified order is given.",
        )
    ]


def product_changed_unverified(*, awaiting_reverification: bool, product_name: str) -> list[Stop]:
    """After a product change mid-course, the remaining days wait for a verifier (§A9 "Courses that change")."""
    if not awaiting_reverification:
        return []
    return [
        Stop(
            "product_changed_unverified",
            Kind.HARD,
            f"The remaining days were worked out again on {product_name}: a pharmacist or another hematologist "
            "verifies them before the next start.",
        )
    ]


def earlier_day_open(*, earlier_day_open: bool) -> list[Stop]:
    if not earlier_day_open:
        return []
    return [Stop("earlier_day_open", Kind.HARD, "An earlier day of this course has not been completed or stopped yet.")]


def baseline_missing(*, has_baseline: bool) -> list[Stop]:
    if has_baseline:
        return []
    return [Stop("baseline_missing", Kind.HARD, "Take a baseline set of vital signs before starting the infusion.")]


def checklist_incomplete(*, missing_items: Sequence[str]) -> list[Stop]:
    if not missing_items:
        return []
    return [
        Stop(
            "checklist_incomplete",
            Kind.HARD,
            "Confirm every item before starting: " + "; ".join(missing_items) + ".",
            field="checklist",
        )
    ]


# ----------------------------------------------------------------------------------------------------------
# Order stops (A9)
# ----------------------------------------------------------------------------------------------------------


def active_course(*, other_open_orders: Sequence[int], replaces: int | None) -> list[Stop]:
    """Create: one open course per patient. An emergency order may replace an open order none of whose
    infusions has started (the service checks that and cancels it in the same transaction). An order number of 0
    stands for one being created at this moment."""
    others = [number for number in other_open_orders if number != replaces]
    if not others:
        return []
    listed = ", ".join(f"#{number}" for number in others if number) or "being created now"
    return [
        Stop(
            "active_course",
            Kind.HARD,
            f"The patient already has an open course (order {listed}): complete or cancel it first, or, for an "
            "emergency order, name the order it replaces.",
            field="patient",
        )
    ]


def first_infusion_date(
    *, first_infusion_on: date, today: date, emergency: bool, stage: Stage, config: SafetyConfig = DEFAULT_CONFIG
) -> list[Stop]:
    """Create: from today to today + 30 days (an emergency order may be dated yesterday); verify: not before
    today. Dates are the hospital's."""
    latest = today + timedelta(days=config.first_infusion_max_days_ahead)
    earliest = today - timedelta(days=1) if (emergency and stage is Stage.CREATE) else today
    if earliest <= first_infusion_on <= latest:
        return []
    if first_infusion_on < earliest:
        problem = f"{first_infusion_on:%Y-%m-%d} is in the past"
    else:
        problem = f"{first_infusion_on:%Y-%m-%d} is more than {config.first_infusion_max_days_ahead} days ahead"
    return [
        Stop(
            "first_infusion_date",
            Kind.HARD,
            f"The first infusion date {problem}: choose a date from {earliest:%Y-%m-%d} to {latest:%Y-%m-%d} "
            "(a hematologist moves a draft's date with recalculate).",
            field="first_infusion_on",
        )
    ]


def weight_stale(
    *, weight_measured_on: date, first_infusion_on: date, stage: Stage, config: SafetyConfig = DEFAULT_CONFIG
) -> list[Stop]:
    """The weight used will be more than 30 days old on the first infusion date (or is, at the start of day 1):
    a warning at creation, refused at verification and at the start."""
    age_days = (first_infusion_on - weight_measured_on).days
    if age_days <= config.weight_max_age_days:
        return []
    message = (
        f"The weight used was measured on {weight_measured_on:%Y-%m-%d}, {age_days} days before "
        f"{first_infusion_on:%Y-%m-%d} (more than {config.weight_max_age_days}): weigh the patient and recalculate."
    )
    kind = Kind.WARNING if stage is Stage.CREATE else Kind.HARD
    return [Stop("weight_stale", kind, message)]


def emergency_weight_recalculation(
    *,
    on_estimated_weight: bool,
    estimated_weight_kg: Decimal | None,
    measured_weight_kg: Decimal | None,
    measured_on: date | None,
    start_on: date,
    config: SafetyConfig = DEFAULT_CONFIG,
) -> list[Stop]:
    """A9 "Emergency orders": a later day of a course dosed on an estimated weight, when the patient has a usable
    measured weight now (no more than ``weight_max_age_days`` old on the start), waits until a hematologist has
    recalculated the remaining days on it and they are verified again. Without a measured weight the course goes
    on on the estimate (weigh_patient reminds the nurses)."""
    if not on_estimated_weight or measured_weight_kg is None or measured_on is None:
        return []
    if (start_on - measured_on).days > config.weight_max_age_days:
        return []
    return [
        Stop(
            "emergency_weight_recalculation",
            Kind.HARD,
            f"This emergency course was dosed on an estimated weight of {_g(estimated_weight_kg or Decimal(0))} kg; "
            f"the patient was weighed since ({_g(measured_weight_kg)} kg on {measured_on:%Y-%m-%d}): a hematologist "
            "recalculates the remaining days on the measured weight and they are verified again before this start.",
        )
    ]


class AntiIgaAntibodies(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    UNKNOWN = "unknown"


IGA_LOW_FOR_AGE_UNDER_YEARS = 4  # A4 / A9: the deficiency definition applies from 4 years


def iga_conflict(
    *,
    iga_deficient: bool | None,
    anti_iga_antibodies: AntiIgaAntibodies,
    product_iga_depleted: bool,
    product_name: str,
    age_years: int,
    fingerprint: str,
) -> list[Stop]:
    """A4's rule as a stop: an IgA-deficient patient gets an IgA-depleted product. With anti-IgA antibodies
    positive it is refused; unknown: a hematologist's reason; negative: a warning. Under 4 years a low IgA is
    "low for age", not deficiency."""
    if not iga_deficient or product_iga_depleted:
        return []
    if age_years < IGA_LOW_FOR_AGE_UNDER_YEARS:
        return [
            Stop(
                "iga_conflict",
                Kind.WARNING,
                f"The serum IgA is low for age (under {IGA_LOW_FOR_AGE_UNDER_YEARS} years this is not IgA "
                f"deficiency); {product_name} is not IgA-depleted.",
                fingerprint=fingerprint,
            )
        ]
    if anti_iga_antibodies is AntiIgaAntibodies.POSITIVE:
        return [
            Stop(
                "iga_conflict",
                Kind.HARD,
                f"The patient is IgA-deficient with anti-IgA antibodies: {product_name} is not IgA-depleted. Choose "
                "an IgA-depleted product.",
                field="product",
                fingerprint=fingerprint,
            )
        ]
    if anti_iga_antibodies is AntiIgaAntibodies.NEGATIVE:
        return [
            Stop(
                "iga_conflict",
                Kind.WARNING,
                f"The patient is IgA-deficient (anti-IgA antibodies negative) and {product_name} is not IgA-depleted.",
                fingerprint=fingerprint,
            )
        ]
    return [
        Stop(
            "iga_conflict",
            Kind.OVERRIDE,
            f"The patient is IgA-deficient and {product_name} is not IgA-depleted: choose an IgA-depleted product, "
            "or a hematologist records the reason (for example anti-IgA antibodies negative).",
            overrider=Overrider.HEMATOLOGIST,
            field="product",
            fingerprint=fingerprint,
        )
    ]


@dataclass(frozen=True)
class PreviousCourse:
    """The course a repeat order refers to."""

    order_id: int
    status: str  # draft, verified, in_progress, completed, cancelled
    any_infusion_given: bool
    non_response_flag: bool  # the non-response flag is raised, or was accepted
    is_repeat: bool


def repeat_not_indicated(*, regimen: str, previous: PreviousCourse | None) -> list[Stop]:
    """A repeat 1 g/kg only when the referenced course has ended (completed, or cancelled after an infusion was
    given) and its non-response flag is raised or was accepted."""
    if regimen != "repeat_1g_per_kg" or previous is None:
        return []
    ended = previous.status == "completed" or (previous.status == "cancelled" and previous.any_infusion_given)
    if ended and previous.non_response_flag:
        return []
    why = (
        f"order #{previous.order_id} has not ended ({previous.status.replace('_', ' ')})"
        if not ended
        else f"order #{previous.order_id} has no non-response flag"
    )
    return [
        Stop(
            "repeat_not_indicated",
            Kind.OVERRIDE,
            f"A repeat dose is for a non-responder after the course has ended, and {why}.",
            overrider=Overrider.HEMATOLOGIST,
            field="previous_order",
            fingerprint=f"order{previous.order_id}:{previous.status}:{previous.non_response_flag}",
        )
    ]


def repeat_chain(*, regimen: str, previous: PreviousCourse | None) -> list[Stop]:
    if regimen != "repeat_1g_per_kg" or previous is None or not previous.is_repeat:
        return []
    return [
        Stop(
            "repeat_chain",
            Kind.OVERRIDE,
            f"Order #{previous.order_id} is itself a repeat dose: a third course needs a hematologist's reason.",
            overrider=Overrider.HEMATOLOGIST,
            field="previous_order",
            fingerprint=f"order{previous.order_id}",
        )
    ]


@dataclass(frozen=True)
class SevereReaction:
    """A reaction of CTCAE grade >= 3 or anaphylaxis to any IVIG, recorded here or reported from elsewhere."""

    key: str  # stable id: "reaction12" (this system) or "history3" (the patient's reported history)
    on: date
    product: str
    ctcae_grade: int | None
    anaphylaxis: bool


def previous_severe_reaction(*, reactions: Sequence[SevereReaction]) -> list[Stop]:
    if not reactions:
        return []
    listed = "; ".join(
        f"{r.on:%Y-%m-%d} {r.product}: " + ("anaphylaxis" if r.anaphylaxis else f"CTCAE grade {r.ctcae_grade}")
        for r in sorted(reactions, key=lambda r: r.on)
    )
    return [
        Stop(
            "previous_severe_reaction",
            Kind.OVERRIDE,
            f"Severe reaction to IVIG before ({listed}). Consider premedication or another product; a hematologist "
            "records the reason to go ahead, and the next infusion is then treated as a first-ever infusion.",
            overrider=Overrider.HEMATOLOGIST,
            fingerprint=",".join(sorted(r.key for r in reactions)),
        )
    ]


def high_dose(*, rounded_dose_per_day_g: Decimal, config: SafetyConfig = DEFAULT_CONFIG) -> list[Stop]:
    """Verify: a rounded daily dose above 100 g [D] (at 1 g/kg, a dosing weight above 100 kg)."""
    if rounded_dose_per_day_g <= config.high_dose_above_g:
        return []
    return [
        Stop(
            "high_dose",
            Kind.OVERRIDE,
            f"{_g(rounded_dose_per_day_g)} g a day is above {_g(config.high_dose_above_g)} g: the verifier confirms "
            "the weight and the dosing policy, or that the prescriber agreed.",
            overrider=Overrider.VERIFIER,
            fingerprint=f"{rounded_dose_per_day_g.normalize():f}",
        )
    ]


def dosing_weight_override_range(
    *, override_kg: Decimal | None, actual_kg: Decimal, ideal_kg: Decimal | None
) -> list[Stop]:
    """Create: a prescriber's dosing weight above the actual weight, or below the lower of IBW and half the
    actual weight, is refused."""
    if override_kg is None:
        return []
    half_actual = actual_kg / 2
    lowest = min(ideal_kg, half_actual) if ideal_kg is not None else half_actual
    if lowest <= override_kg <= actual_kg:
        return []
    return [
        Stop(
            "dosing_weight_override_range",
            Kind.HARD,
            f"A dosing weight of {_g(override_kg)} kg is outside {_g(lowest.quantize(Decimal('0.1')))}–"
            f"{_g(actual_kg)} kg (from the lower of the ideal body weight and half the actual weight, to the actual "
            "weight).",
            field="dosing_weight_override_kg",
        )
    ]


@dataclass(frozen=True)
class ProductSafety:
    """What the stops read of a product (A9)."""

    name: str
    itp_min_age_years: int | None
    contains_sorbitol: bool
    contains_maltose: bool
    contains_glucose: bool
    missing_rate_values: tuple[str, ...]  # "initial rate", "ITP maximum" not known to the catalogue or the site
    needs_prepared_concentration: bool  # a powder reconstituted at 5 % or 10 % (Gammagard S/D)
    step_interval_known: bool = True  # the label's (or the site's) step-up interval


def rate_plan_incomplete(
    *, product: ProductSafety, prepared_concentration_percent: Decimal | None, order_has_rate_plan: bool = True
) -> list[Stop]:
    """Verify and every start: a product without a known initial rate or ITP maximum is not given until pharmacy
    records the site's value with its source. Once the catalogue is complete, an order still needs its prepared
    concentration (a reconstituted product) and a stored rate plan: one drafted before the site's values were
    recorded has none until a hematologist recalculates it."""
    missing = list(product.missing_rate_values)
    if missing:
        if product.needs_prepared_concentration and prepared_concentration_percent is None:
            missing.append("the prepared concentration on the order (5 % or 10 %)")
        message = (
            f"{product.name} has no complete rate plan: " + ", ".join(missing) + " unknown. Pharmacy records the "
            "site's value with its source in the catalogue before this order is verified or started."
        )
    elif product.needs_prepared_concentration and prepared_concentration_percent is None:
        message = (
            f"{product.name} is reconstituted: the order names no prepared concentration (5 % or 10 %), so its pump "
            "rates cannot be worked out. A hematologist recalculates the order with the concentration."
        )
    elif not order_has_rate_plan:
        message = (
            f"This order has no rate plan: it was worked out before {product.name}'s rate values were in the "
            "catalogue. A hematologist recalculates it."
        )
    else:
        return []
    return [Stop("rate_plan_incomplete", Kind.HARD, message)]


def near_policy_threshold(
    *, rounded_dose_per_day_g: Decimal, other_side: Sequence[tuple[str, Decimal]], percent: Decimal = Decimal("10")
) -> list[Stop]:
    """Create: a warning when working the dose with the height or age on the other side of an A2 threshold changes
    the rounded daily dose by more than 10 % (``other_side``: what was moved, and the dose it gives)."""
    changes = [
        (what, dose)
        for what, dose in other_side
        if rounded_dose_per_day_g and abs(dose - rounded_dose_per_day_g) / rounded_dose_per_day_g * 100 > percent
    ]
    if not changes:
        return []
    told = "; ".join(
        f"{'a height' if what == 'height' else 'an age'} on the other side of the threshold gives {_g(dose)} g"
        for what, dose in changes
    )
    return [
        Stop(
            "near_policy_threshold",
            Kind.WARNING,
            f"The patient is near a dosing-weight threshold (152.4 cm, 18 years): {told}, against "
            f"{_g(rounded_dose_per_day_g)} g. Check the height and the date of birth.",
        )
    ]


def step_interval_default(*, product: ProductSafety, default_minutes: int) -> list[Stop]:
    """Verify and every start: without the label's (or the site's) step-up interval the plan steps up every
    ``default_minutes`` (30 by default, as version 1): said, never silent."""
    if product.step_interval_known:
        return []
    return [
        Stop(
            "step_interval_default",
            Kind.WARNING,
            f"{product.name}'s label gives no step-up interval: the plan steps up every {default_minutes} min, the "
            "site default. Pharmacy may record the site's interval in the catalogue.",
        )
    ]


def label_age(*, product: ProductSafety, age_years: int) -> list[Stop]:
    if product.itp_min_age_years is None or age_years >= product.itp_min_age_years:
        return []
    return [
        Stop(
            "label_age",
            Kind.WARNING,
            f"{product.name}'s label covers ITP from {product.itp_min_age_years} years; the patient is {age_years}.",
        )
    ]


def fructose_intolerance(*, product: ProductSafety, hereditary_fructose_intolerance: bool) -> list[Stop]:
    if not (product.contains_sorbitol and hereditary_fructose_intolerance):
        return []
    return [
        Stop(
            "fructose_intolerance",
            Kind.HARD,
            f"{product.name} contains sorbitol and the patient has hereditary fructose intolerance: choose a "
            "product without sorbitol.",
            field="product",
        )
    ]


def sorbitol_under_2(*, product: ProductSafety, age_years: int, config: SafetyConfig = DEFAULT_CONFIG) -> list[Stop]:
    if not product.contains_sorbitol or age_years >= config.sorbitol_min_age_years:
        return []
    return [
        Stop(
            "sorbitol_under_2",
            Kind.OVERRIDE,
            f"{product.name} contains sorbitol and the child is under {config.sorbitol_min_age_years}: hereditary "
            "fructose intolerance may not be diagnosed yet. A hematologist records that it is excluded.",
            overrider=Overrider.HEMATOLOGIST,
            fingerprint=product.name,
            field="product",
        )
    ]


def maltose_interference(*, product: ProductSafety) -> list[Stop]:
    if not product.contains_maltose:
        return []
    return [
        Stop(
            "maltose_interference",
            Kind.WARNING,
            f"{product.name} contains maltose: point-of-care glucose must use a glucose-specific method, not "
            "GDH-PQQ (falsely high readings have led to fatal insulin doses).",
        )
    ]


def glucose_load(*, product: ProductSafety, diabetes: bool) -> list[Stop]:
    if not (product.contains_glucose and diabetes):
        return []
    return [
        Stop(
            "glucose_load",
            Kind.WARNING,
            f"{product.name} contains glucose and the patient has diabetes: monitor glucose, consider another product.",
        )
    ]


def renal_labs_missing(
    *,
    latest_creatinine_on: date | None,
    first_infusion_on: date,
    renal_risk_factors: tuple[str, ...],
    emergency: bool,
    config: SafetyConfig = DEFAULT_CONFIG,
) -> list[Stop]:
    """Verify (A9, A13): no creatinine within 7 days before the first infusion for a patient with a renal risk
    factor, within 90 days otherwise. The verifier overrides with a reason; an emergency order is warned."""
    days = config.renal_labs_days_at_risk if renal_risk_factors else config.renal_labs_days_otherwise
    if latest_creatinine_on is not None and latest_creatinine_on >= first_infusion_on - timedelta(days=days):
        return []
    why = f" ({', '.join(renal_risk_factors)})" if renal_risk_factors else ""
    found = f"the latest is from {latest_creatinine_on:%Y-%m-%d}" if latest_creatinine_on else "none is recorded"
    return [
        Stop(
            "renal_labs_missing",
            Kind.WARNING if emergency else Kind.OVERRIDE,
            f"No creatinine within {days} days before the first infusion{why}: {found}. IVIG can harm the kidneys; "
            "record a recent creatinine, or give the reason.",
            overrider=None if emergency else Overrider.VERIFIER,
            fingerprint=f"{latest_creatinine_on}:{days}",
        )
    ]


def hemolysis_risk(*, course_g_per_kg: Decimal, blood_group: str | None, config: SafetyConfig = DEFAULT_CONFIG) -> bool:
    """A9/A13: a course of 2 g/kg or more, or an ABO group not O or unknown, is at risk of haemolysis: it needs a
    hemoglobin before the course and owes one after it."""
    return course_g_per_kg >= config.high_course_g_per_kg or not blood_group or not blood_group.startswith("O")


def hemolysis_labs_missing(
    *,
    course_g_per_kg: Decimal,
    blood_group: str | None,
    latest_hemoglobin_at: datetime | None,
    first_infusion_starts_from: datetime,
    emergency: bool,
    config: SafetyConfig = DEFAULT_CONFIG,
) -> list[Stop]:
    """Verify (A9, A13): for a course of 2 g/kg or more, or an ABO group not O or unknown, a hemoglobin within 72 h
    before the first infusion (from the start of its day: the baseline blood count normally gives one)."""
    if not hemolysis_risk(course_g_per_kg=course_g_per_kg, blood_group=blood_group, config=config):
        return []
    group_at_risk = not blood_group or not blood_group.startswith("O")
    since = first_infusion_starts_from - timedelta(hours=config.hemolysis_labs_hours)
    if latest_hemoglobin_at is not None and latest_hemoglobin_at >= since:
        return []
    reasons = []
    if course_g_per_kg >= config.high_course_g_per_kg:
        reasons.append(f"a course of {_g(course_g_per_kg)} g/kg")
    if group_at_risk:
        reasons.append(f"blood group {blood_group}" if blood_group else "blood group unknown")
    return [
        Stop(
            "hemolysis_labs_missing",
            Kind.WARNING if emergency else Kind.OVERRIDE,
            f"No hemoglobin within {config.hemolysis_labs_hours} h before the first infusion ({' and '.join(reasons)}"
            "): IVIG can cause haemolysis; record the baseline hemoglobin, or give the reason.",
            overrider=None if emergency else Overrider.VERIFIER,
            fingerprint=f"{latest_hemoglobin_at}:{blood_group}",
        )
    ]


def blood_group_missing(
    *, course_g_per_kg: Decimal, blood_group: str | None, config: SafetyConfig = DEFAULT_CONFIG
) -> list[Stop]:
    """Verify (A9): no ABO group on record for a course of 2 g/kg or more (haemolysis is likelier in groups A, B
    and AB)."""
    if blood_group or course_g_per_kg < config.high_course_g_per_kg:
        return []
    return [
        Stop(
            "blood_group_missing",
            Kind.WARNING,
            f"No ABO group on record for a course of {_g(course_g_per_kg)} g/kg: haemolysis is likelier in groups "
            "other than O.",
        )
    ]


def baseline_count_age(
    *, count: int, collected_at: datetime | None, reference: datetime, config: SafetyConfig = DEFAULT_CONFIG
) -> list[Stop]:
    """Create, verify, start of day 1: a warning when the baseline platelet count is old (more than 72 h before
    ``reference``), has no recorded time, or is not an ITP count (>= 100 x10^9/L by IWG)."""
    reasons = []
    if collected_at is None:
        reasons.append("its collection time is not recorded")
    elif reference - collected_at > timedelta(hours=config.baseline_count_max_age_hours):
        hours = int((reference - collected_at).total_seconds() // 3600)
        reasons.append(f"it was collected {hours} h ago (more than {config.baseline_count_max_age_hours} h)")
    if count >= config.itp_count_below_10e9_per_l:
        reasons.append(f"{count} x10^9/L is not ITP by the IWG definition (below {config.itp_count_below_10e9_per_l})")
    if not reasons:
        return []
    return [
        Stop(
            "baseline_count_age",
            Kind.WARNING,
            "The baseline platelet count needs a look: " + "; ".join(reasons) + ". The response is measured from it.",
        )
    ]


# ----------------------------------------------------------------------------------------------------------
# Bedside stops (A10)
# ----------------------------------------------------------------------------------------------------------


def course_on_hold(*, hold_reason: str | None) -> list[Stop]:
    if not hold_reason:
        return []
    return [
        Stop(
            "course_on_hold",
            Kind.HARD,
            f"The course is on hold ({hold_reason}) until a hematologist records a review on the order.",
        )
    ]


def before_scheduled_day(*, scheduled_for: date, start_date: date) -> list[Stop]:
    if start_date >= scheduled_for:
        return []
    return [
        Stop(
            "before_scheduled_day",
            Kind.OVERRIDE,
            f"This day is scheduled for {scheduled_for:%Y-%m-%d}: starting it on {start_date:%Y-%m-%d} needs the "
            "nurse's reason.",
            overrider=Overrider.NURSE,
            field="started_at",
        )
    ]


def too_soon_after_previous_day(
    *,
    previous_day_ended_at: datetime | None,
    start_at: datetime,
    g_per_kg_per_day: Decimal,
    config: SafetyConfig = DEFAULT_CONFIG,
) -> list[Stop]:
    """A start less than 8 h [D] after the previous day's infusion ended, for a regimen of >= 1 g/kg/day (A1:
    never more than 1 g/kg in a day)."""
    if previous_day_ended_at is None or g_per_kg_per_day < config.too_soon_applies_from_g_per_kg_per_day:
        return []
    gap = start_at - previous_day_ended_at
    if gap >= timedelta(hours=config.min_hours_between_days):
        return []
    hours = Decimal(gap.total_seconds()) / 3600
    return [
        Stop(
            "too_soon_after_previous_day",
            Kind.OVERRIDE,
            f"The previous day's infusion ended {hours.quantize(Decimal('0.1'))} h before this start (at least "
            f"{config.min_hours_between_days} h apart: never more than 1 g/kg in a day). A hematologist's reason is "
            "needed.",
            overrider=Overrider.HEMATOLOGIST,
            field="started_at",
        )
    ]


def baseline_stale(
    *, baseline_taken_at: datetime, start_at: datetime, config: SafetyConfig = DEFAULT_CONFIG
) -> list[Stop]:
    if start_at - baseline_taken_at <= timedelta(minutes=config.baseline_max_age_minutes):
        return []
    return [
        Stop(
            "baseline_stale",
            Kind.HARD,
            f"The baseline vital signs were taken more than {config.baseline_max_age_minutes} min before the start: "
            "take a new set.",
        )
    ]


def baseline_high_alert(*, baseline_alert_codes: Sequence[str]) -> list[Stop]:
    """A baseline with a high alert: the nurse names the prescriber who agreed; the prescriber is notified."""
    if not baseline_alert_codes:
        return []
    return [
        Stop(
            "baseline_high_alert",
            Kind.OVERRIDE,
            "The baseline vital signs carry a high alert (" + ", ".join(baseline_alert_codes) + "): start only "
            "with the prescriber's agreement, named in the reason.",
            overrider=Overrider.NURSE,
        )
    ]


@dataclass(frozen=True)
class BedsideRate:
    """The order's rate plan as the bedside stops read it, in mL/h for the pump."""

    steps_ml_per_h: tuple[Decimal, ...]  # the plan's steps, first = initial rate, last = its maximum
    label_max_ml_per_h: Decimal  # a label value: the ITP maximum, or the label's own at-risk cap
    design_cap_ml_per_h: Decimal | None  # half the ITP maximum for an at-risk patient without a label cap (A4)
    step_interval_min: int

    @property
    def initial_ml_per_h(self) -> Decimal:
        return self.steps_ml_per_h[0]

    def next_step_above(self, rate: Decimal) -> Decimal | None:
        above = [step for step in self.steps_ml_per_h if step > rate]
        return min(above) if above else None


def rate_above_limits(*, rate_ml_per_h: Decimal, plan: BedsideRate) -> list[Stop]:
    """Every start, rate change and resume: above a label value is refused; above the design at-risk cap needs a
    hematologist's reason."""
    if rate_ml_per_h > plan.label_max_ml_per_h:
        return [
            Stop(
                "rate_above_max",
                Kind.HARD,
                f"{_g(rate_ml_per_h)} mL/h is above the label's maximum of {_g(plan.label_max_ml_per_h)} mL/h for "
                "this patient.",
                field="rate_ml_per_h",
            )
        ]
    if plan.design_cap_ml_per_h is not None and rate_ml_per_h > plan.design_cap_ml_per_h:
        return [
            Stop(
                "rate_above_at_risk_cap",
                Kind.OVERRIDE,
                f"{_g(rate_ml_per_h)} mL/h is above the at-risk cap of {_g(plan.design_cap_ml_per_h)} mL/h (half "
                "the ITP maximum): a hematologist's reason is needed.",
                overrider=Overrider.HEMATOLOGIST,
                field="rate_ml_per_h",
            )
        ]
    return []


def start_above_initial(*, rate_ml_per_h: Decimal, plan: BedsideRate, cautious_start: str | None) -> list[Stop]:
    """A starting rate above the plan's first step: a nurse's reason, refused outright for a first-ever
    infusion, a product switch, a gap of more than 8 weeks, or after a severe-reaction override
    (``cautious_start`` says which)."""
    if rate_ml_per_h <= plan.initial_ml_per_h:
        return []
    if cautious_start:
        return [
            Stop(
                "start_above_initial",
                Kind.HARD,
                f"Start at the initial rate of {_g(plan.initial_ml_per_h)} mL/h: {cautious_start}.",
                field="rate_ml_per_h",
            )
        ]
    return [
        Stop(
            "start_above_initial",
            Kind.OVERRIDE,
            f"{_g(rate_ml_per_h)} mL/h is above the initial rate of {_g(plan.initial_ml_per_h)} mL/h: give the "
            "reason for starting higher.",
            overrider=Overrider.NURSE,
            field="rate_ml_per_h",
        )
    ]


def step_skips(*, current_ml_per_h: Decimal, new_ml_per_h: Decimal, plan: BedsideRate) -> list[Stop]:
    """An increase beyond the next step (the lowest plan step above the current rate)."""
    if new_ml_per_h <= current_ml_per_h:
        return []
    next_step = plan.next_step_above(current_ml_per_h)
    if next_step is None or new_ml_per_h <= next_step:
        return []
    return [
        Stop(
            "step_skips",
            Kind.OVERRIDE,
            f"The next step from {_g(current_ml_per_h)} mL/h is {_g(next_step)} mL/h; {_g(new_ml_per_h)} mL/h skips "
            "a step.",
            overrider=Overrider.NURSE,
            field="rate_ml_per_h",
        )
    ]


def step_too_early(
    *, current_ml_per_h: Decimal, new_ml_per_h: Decimal, last_change_at: datetime, at: datetime, plan: BedsideRate
) -> list[Stop]:
    """An increase sooner than the step interval after the last change (a resume or a decrease restarts it)."""
    if new_ml_per_h <= current_ml_per_h:
        return []
    due = last_change_at + timedelta(minutes=plan.step_interval_min)
    if at >= due:
        return []
    minutes = int((at - last_change_at).total_seconds() // 60)
    return [
        Stop(
            "step_too_early",
            Kind.OVERRIDE,
            f"The rate changed {minutes} min ago; the product steps up every {plan.step_interval_min} min.",
            overrider=Overrider.NURSE,
            field="rate_ml_per_h",
        )
    ]


def step_without_vitals(
    *,
    current_ml_per_h: Decimal,
    new_ml_per_h: Decimal,
    latest_vitals_at: datetime | None,
    at: datetime,
    config: SafetyConfig = DEFAULT_CONFIG,
) -> list[Stop]:
    if new_ml_per_h <= current_ml_per_h:
        return []
    window = timedelta(minutes=config.vitals_before_increase_minutes)
    if latest_vitals_at is not None and timedelta(0) <= at - latest_vitals_at <= window:
        return []
    return [
        Stop(
            "step_without_vitals",
            Kind.OVERRIDE,
            f"No vital signs in the {config.vitals_before_increase_minutes} min before this increase: take a set "
            "first.",
            overrider=Overrider.NURSE,
        )
    ]


def step_during_alert(
    *, current_ml_per_h: Decimal, new_ml_per_h: Decimal, worsened_alerts: Sequence[str]
) -> list[Stop]:
    """An increase while the latest set carries an alert that is new or worse since the baseline."""
    if new_ml_per_h <= current_ml_per_h or not worsened_alerts:
        return []
    return [
        Stop(
            "step_during_alert",
            Kind.OVERRIDE,
            "The latest vital signs carry an alert (" + ", ".join(worsened_alerts) + "): do not step up while it "
            "stands.",
            overrider=Overrider.NURSE,
        )
    ]


def resume_above_half(*, rate_ml_per_h: Decimal, half_reaction_rate_ml_per_h: Decimal | None) -> list[Stop]:
    """A resume after a reaction above half the rate at which it occurred (A5)."""
    if half_reaction_rate_ml_per_h is None or rate_ml_per_h <= half_reaction_rate_ml_per_h:
        return []
    return [
        Stop(
            "resume_above_half",
            Kind.OVERRIDE,
            f"After a reaction, resume at no more than half the rate at which it occurred "
            f"({_g(half_reaction_rate_ml_per_h)} mL/h), then re-titrate.",
            overrider=Overrider.NURSE,
            field="rate_ml_per_h",
        )
    ]


@dataclass(frozen=True)
class PrehydrationPeriod:
    """A pre-hydration co-therapy as recorded: from ``given_from``; ``given_until`` None for a single dose (a bolus
    given at ``given_from``)."""

    given_from: datetime
    given_until: datetime | None = None


def prehydration_covers_start(
    *, periods: Sequence[PrehydrationPeriod], start_at: datetime, config: SafetyConfig = DEFAULT_CONFIG
) -> bool:
    """A pre-hydration counts for a start when it began at or before the start and was given, or was still running,
    within the ``prehydration_window_hours`` [D] before it: a single dose given in that window, or a period that
    ends in it, runs across it, or is still running."""
    window_opens = start_at - timedelta(hours=config.prehydration_window_hours)
    for period in periods:
        if period.given_from > start_at:
            continue
        last_given = period.given_until if period.given_until is not None else period.given_from
        if last_given >= window_opens:
            return True
    return False


def prehydration_not_given(
    *,
    renal_risk_factors: Sequence[str],
    thrombosis_risk_factors: Sequence[str],
    cardiac_dysfunction: bool,
    prehydration_recorded: bool,
) -> list[Stop]:
    """§A13 "Fluid": a renal or thrombosis risk factor without cardiac dysfunction asks for adequate hydration before
    the infusion, so a start with no pre-hydration co-therapy recorded needs the nurse's reason. With cardiac
    dysfunction fluids are the prescriber's individual decision (never routine pre-hydration): the stop does not
    apply."""
    if cardiac_dysfunction or prehydration_recorded or not (renal_risk_factors or thrombosis_risk_factors):
        return []
    factors = ", ".join((*renal_risk_factors, *thrombosis_risk_factors))
    return [
        Stop(
            "prehydration_not_given",
            Kind.OVERRIDE,
            f"Pre-hydration is due before this infusion (renal or thrombosis risk factor: {factors}) and none is "
            "recorded: record the pre-hydration as a co-therapy, or give the reason.",
            overrider=Overrider.NURSE,
        )
    ]


def volume_mismatch(
    *, volume_infused_ml: Decimal, planned_ml: Decimal | None, config: SafetyConfig = DEFAULT_CONFIG
) -> list[Stop]:
    if planned_ml is None or planned_ml <= 0:
        return []
    deviation = abs(volume_infused_ml - planned_ml) / planned_ml * 100
    if deviation <= config.volume_mismatch_percent:
        return []
    return [
        Stop(
            "volume_mismatch",
            Kind.OVERRIDE,
            f"{_g(volume_infused_ml)} mL given is {deviation.quantize(Decimal('1'))} % away from the planned "
            f"{_g(planned_ml)} mL (more than {_g(config.volume_mismatch_percent)} %): check the volume, or give the "
            "reason.",
            overrider=Overrider.NURSE,
            field="volume_infused_ml",
        )
    ]


# ----------------------------------------------------------------------------------------------------------
# vial_mismatch (A10): the vials at the bedside against the order
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VialGiven:
    """One physical vial as typed or read from its GS1 DataMatrix. ``product_id`` is None when its GTIN names no
    product of the catalogue; ``product_sizes_g`` are the sizes its product comes in."""

    product_id: int | None
    product_name: str
    product_sizes_g: frozenset[Decimal]
    vial_size_g: Decimal | None
    lot_number: str
    expiry_date: date | None
    gtin: str | None = None


def vials_not_detailed(*, lots_only: bool, v1_compat: bool) -> list[Stop]:
    """A start that names lots only, no vial: refused (``vials_missing``), or during a hospital's transition
    (IVIG_V1_START_COMPAT) a warning (docs/api.md "Breaking changes for v1 clients")."""
    if not lots_only:
        return []
    if v1_compat:
        return [
            Stop(
                "vials_not_detailed",
                Kind.WARNING,
                "Only lot numbers were recorded: the vials' product, size and expiry were not checked.",
                field="vials",
            )
        ]
    return [
        Stop(
            "vials_missing",
            Kind.HARD,
            "Record each vial: scan it, or type its product, size, lot and expiry.",
            field="vials",
        )
    ]


def vial_problems(
    vial: VialGiven, *, order_product_ids: frozenset[int], order_product_name: str, on: date
) -> list[str]:
    """What is wrong with one vial, in a nurse's words (empty: the vial is right for this day)."""
    if vial.product_id is None:
        named = f"The GTIN {vial.gtin}" if vial.gtin else "This vial"
        return [f"{named} is not one of the catalogue's products: type the vial."]
    problems: list[str] = []
    lot = f"lot {vial.lot_number}" if vial.lot_number else "this vial"
    if vial.product_id not in order_product_ids:
        problems.append(
            f"{vial.product_name} ({lot}) is not the ordered product ({order_product_name}): do not give it."
        )
    if vial.vial_size_g is None:
        problems.append(f"Record the size of {lot}.")
    elif vial.vial_size_g not in vial.product_sizes_g:
        problems.append(f"{vial.product_name} does not come in {_g(vial.vial_size_g)} g vials: check {lot}.")
    if not vial.lot_number:
        problems.append("Record the vial's lot number.")
    if vial.expiry_date is None:
        problems.append(f"Record the expiry of {lot}.")
    elif vial.expiry_date < on:
        problems.append(f"{lot.capitalize()} expired on {vial.expiry_date:%Y-%m-%d}: do not give it.")
    return problems


def vial_mismatch(
    *,
    vials: Sequence[VialGiven],
    order_product_ids: frozenset[int],
    order_product_name: str,
    planned_g: Decimal,
    planned_vials_g: Decimal,
    on: date,
) -> list[Stop]:
    """Every vial of the order's product (or its changed product), in one of its sizes, not expired on ``on``, and
    together the grams of the day's planned vials: other sizes with the same total are fine, and a partial-vial
    order (``planned_g`` below ``planned_vials_g``) discards the excess, so the total lies between the two."""
    problems = [
        problem
        for vial in vials
        for problem in vial_problems(
            vial, order_product_ids=order_product_ids, order_product_name=order_product_name, on=on
        )
    ]
    if not problems:
        total = sum((vial.vial_size_g or Decimal(0) for vial in vials), Decimal(0))
        highest = max(planned_vials_g, planned_g)
        if not planned_g <= total <= highest:
            wanted = f"{_g(planned_g)} g" if highest == planned_g else f"{_g(planned_g)}-{_g(highest)} g"
            problems.append(f"The vials add up to {_g(total)} g, the day needs {wanted}: check the vials.")
    if not problems:
        return []
    return [Stop("vial_mismatch", Kind.HARD, " ".join(problems), field="vials")]


# ----------------------------------------------------------------------------------------------------------
# record_changed (A9): the stored working against the one the current record gives
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkingSummary:
    """What record_changed compares of an order's working."""

    rounded_dose_per_day_g: Decimal
    vials: tuple[tuple[Decimal, int], ...]  # (size in g, count), sorted
    days: int
    dosing_weight_basis: str
    iga_conflict: bool
    fructose_intolerance: bool
    below_label_age: bool
    at_risk_capped: bool
    rate_steps_ml_per_h: tuple[Decimal, ...]
    max_rate_ml_per_h: Decimal | None


@dataclass(frozen=True)
class RecordChange:
    """The stops record_changed raises, and whether the stored rate plan should take the current, safer one."""

    stops: tuple[Stop, ...]
    apply_safer_plan: bool


def record_changed(
    *, stored: WorkingSummary, current: WorkingSummary, course_started: bool, config: SafetyConfig = DEFAULT_CONFIG
) -> RecordChange:
    """Before the first infusion has started, a material difference refuses until a hematologist recalculates; a
    change that only makes the rate plan safer is applied to the stored plan with a warning. After the first start
    the daily dose is fixed: a difference is the warning record_changed_mid_course, and a new at-risk cap still
    applies (a new IgA conflict or fructose intolerance refuse the next start through their own stops)."""
    material = _material_differences(stored, current, config)
    safer = _plan_is_safer(stored, current)
    stops: list[Stop] = []
    if course_started:
        if material:
            stops.append(
                Stop(
                    "record_changed_mid_course",
                    Kind.WARNING,
                    "The record changed during the course (" + "; ".join(material) + "): the daily dose stays as "
                    "verified.",
                )
            )
        return RecordChange(tuple(stops), apply_safer_plan=safer)
    if material:
        stops.append(
            Stop(
                "record_changed",
                Kind.HARD,
                "The patient's record, the catalogue or the settings changed since this dose was worked out ("
                + "; ".join(material)
                + "): a hematologist recalculates the order.",
            )
        )
    elif safer:
        stops.append(
            Stop(
                "record_changed",
                Kind.WARNING,
                "The record changed and the rate plan is now more cautious: the safer plan was applied.",
            )
        )
    return RecordChange(tuple(stops), apply_safer_plan=safer and not material)


def _material_differences(stored: WorkingSummary, current: WorkingSummary, config: SafetyConfig) -> list[str]:
    found = []
    if stored.rounded_dose_per_day_g != current.rounded_dose_per_day_g:
        found.append(f"daily dose {_g(stored.rounded_dose_per_day_g)} g now {_g(current.rounded_dose_per_day_g)} g")
    elif stored.vials != current.vials:
        found.append("another vial list")
    if stored.days != current.days:
        found.append(f"{stored.days} days now {current.days}")
    if stored.dosing_weight_basis != current.dosing_weight_basis:
        found.append(f"dosing weight basis {stored.dosing_weight_basis} now {current.dosing_weight_basis}")
    for label, before, after in (
        ("IgA conflict", stored.iga_conflict, current.iga_conflict),
        ("hereditary fructose intolerance", stored.fructose_intolerance, current.fructose_intolerance),
        ("below the label's age", stored.below_label_age, current.below_label_age),
    ):
        if before != after:
            found.append(f"{label} {'now' if after else 'no longer'}")
    if stored.at_risk_capped and not current.at_risk_capped:
        found.append("the at-risk cap would be lifted")
    if _any_step_higher(stored, current, config.rate_step_material_percent):
        found.append(f"a rate step more than {_g(config.rate_step_material_percent)} % higher")
    return found


def _any_step_higher(stored: WorkingSummary, current: WorkingSummary, percent: Decimal) -> bool:
    """Step by step (a plan may gain or lose steps), and the maximum itself."""
    limit = 1 + percent / 100
    pairs = zip(stored.rate_steps_ml_per_h, current.rate_steps_ml_per_h, strict=False)
    if any(after > before * limit for before, after in pairs):
        return True
    before_max, after_max = stored.max_rate_ml_per_h, current.max_rate_ml_per_h
    return before_max is not None and after_max is not None and after_max > before_max * limit


def _plan_is_safer(stored: WorkingSummary, current: WorkingSummary) -> bool:
    """The current plan is more cautious: the at-risk cap now applies, a lower maximum, or lower steps."""
    if current.rate_steps_ml_per_h == stored.rate_steps_ml_per_h and current.at_risk_capped == stored.at_risk_capped:
        return False
    cap_now = current.at_risk_capped and not stored.at_risk_capped
    lower_max = (
        current.max_rate_ml_per_h is not None
        and stored.max_rate_ml_per_h is not None
        and current.max_rate_ml_per_h < stored.max_rate_ml_per_h
    )
    pairs = zip(stored.rate_steps_ml_per_h, current.rate_steps_ml_per_h, strict=False)
    no_step_higher = all(after <= before for before, after in pairs)
    return (cap_now or lower_max) and no_step_higher
