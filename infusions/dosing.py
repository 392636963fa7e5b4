"""IVIG dose, vial and infusion-rate calculation for ITP (pure Python, no Django).

Every clinical number here comes from docs/clinical-rules.md (Part A is the adopted rule, Part B the
reference behind it); section numbers in comments point there. The module works only in ``Decimal`` so that
the vials of an order sum exactly to its dose (A3) and so that results are reproducible to the gram.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import (
    ROUND_CEILING,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from decimal import localcontext as _localcontext
from enum import StrEnum
from typing import ParamSpec, TypeVar

__all__ = [
    "BASIS_ACTUAL",
    "BASIS_ADJUSTED",
    "DEFAULT_CONFIG",
    "DEFAULT_REGIMEN_CODE",
    "DEVINE_MIN_HEIGHT_CM",
    "EXCLUSION_ACTUAL_NOT_ABOVE_ADJUSTED",
    "EXCLUSION_AGE_UNDER_18",
    "EXCLUSION_BMI_NOT_OVER_30",
    "EXCLUSION_HEIGHT_UNDER_152_4_CM",
    "NEAR_AGE_YEARS",
    "NEAR_HEIGHT_CM",
    "EXCLUSION_POLICY_ACTUAL",
    "EXCLUSION_PREGNANT",
    "EXCLUSION_PRESCRIBER_OVERRIDE",
    "PARTIAL_VIAL_MESSAGE",
    "REGIMENS",
    "DoseCalculation",
    "DoseWarning",
    "DosingConfig",
    "DosingError",
    "DosingWeight",
    "DosingWeightPolicy",
    "PatientFacts",
    "ProductFacts",
    "RatePlan",
    "RateStep",
    "Regimen",
    "VialCount",
    "adjusted_body_weight_kg",
    "at_risk_reasons",
    "body_mass_index",
    "calculate_dose",
    "dosing_weight",
    "fewest_vials",
    "fewest_vials_covering",
    "iga_product_conflict",
    "ideal_body_weight_kg",
    "is_at_risk",
    "threshold_neighbours",
    "missing_rate_fields",
    "rate_plan",
    "round_daily_dose",
    "round_half_up",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")

# 34 significant digits (IEEE decimal128) is far beyond any clinical need, and a private context means
# a caller who lowers the global decimal precision cannot silently change a dose.
_DOSING_CONTEXT = Context(prec=34, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])


def _exact(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``func`` in the module's own decimal context."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _localcontext(_DOSING_CONTEXT):
            return func(*args, **kwargs)

    return wrapper


# --------------------------------------------------------------------------------------------------
# Errors and input conversion
# --------------------------------------------------------------------------------------------------


class DosingError(ValueError):
    """An input makes dosing impossible; ``field`` names the input so a form can show the error beside it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _to_decimal(value: object, field_name: str) -> Decimal:
    # Decimal(str(x)) keeps what the user typed (0.1 stays 0.1) instead of the binary expansion of a float.
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool) or not isinstance(value, int | str | float):
        raise DosingError(field_name, f"{field_name} must be a number, not {type(value).__name__}")
    else:
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation:
            raise DosingError(field_name, f"{field_name} must be a number, not {value!r}") from None
    if not result.is_finite():
        raise DosingError(field_name, f"{field_name} must be a finite number")
    return result


def _positive(value: object, field_name: str, label: str) -> Decimal:
    number = _to_decimal(value, field_name)
    if number <= 0:
        raise DosingError(field_name, f"{label} must be above 0")
    return number


def _one_decimal(value: Decimal) -> str:
    # Weights and doses are displayed to 0.1 (docs/clinical-rules.md reference §2.4: "display weights to 0.1 kg").
    return str(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _plain(value: Decimal) -> str:
    """178 -> "178", 2.50 -> "2.5": inputs echoed as typed, without trailing zeros or exponents."""
    return format(value.normalize(), "f")


# --------------------------------------------------------------------------------------------------
# Regimens (A1)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Regimen:
    code: str
    g_per_kg_per_day: Decimal
    days: int
    label: str

    @property
    def course_g_per_kg(self) -> Decimal:
        """The whole course's dose per kg (2 g/kg for 1 g/kg/day x 2 days): what A9/A13 call a high-dose course."""
        return self.g_per_kg_per_day * self.days


# A1, in the A1 order. None gives more than 1 g/kg in one day (A1).
REGIMENS: dict[str, Regimen] = {
    regimen.code: regimen
    for regimen in (
        Regimen("one_dose_1g_per_kg", Decimal("1"), 1, "1 g/kg once"),
        Regimen("two_days_1g_per_kg", Decimal("1"), 2, "1 g/kg/day x 2 days"),
        Regimen("five_days_0_4g_per_kg", Decimal("0.4"), 5, "0.4 g/kg/day x 5 days"),
        Regimen("one_dose_0_8g_per_kg", Decimal("0.8"), 1, "0.8 g/kg once (children)"),
        Regimen("repeat_1g_per_kg", Decimal("1"), 1, "1 g/kg repeat dose (non-responder)"),
    )
}
DEFAULT_REGIMEN_CODE = "one_dose_1g_per_kg"
# A1: the regimen to offer when fluid volume is a concern.
_FLUID_SPARING_REGIMEN_CODE = "five_days_0_4g_per_kg"
_PAEDIATRIC_REGIMEN_CODE = "one_dose_0_8g_per_kg"
_HIGH_DAILY_DOSE_G_PER_KG = Decimal("1")


# --------------------------------------------------------------------------------------------------
# Facts and settings
# --------------------------------------------------------------------------------------------------


class DosingWeightPolicy(StrEnum):
    ADJUSTED_ABOVE_IDEAL = "adjusted_above_ideal"  # A2 default (Rule A, NBA-2026 style)
    ADJUSTED_IF_BMI_OVER_30 = (
        "adjusted_if_bmi_over_30"  # A2 alternative (Rule B, docs/clinical-rules.md reference §2.4)
    )
    ACTUAL = "actual"  # A2 alternative


@dataclass(frozen=True)
class PatientFacts:
    sex: str  # "female" | "male"
    age_years: int  # whole years at the first infusion date
    height_cm: Decimal | None  # None only for an emergency order on an estimated weight (A9)
    actual_weight_kg: Decimal
    pregnant: bool = False
    cardiac_dysfunction: bool = False
    renal_impairment: bool = False
    thrombosis_risk: bool = False
    iga_deficient: bool | None = None  # None = unknown
    # docs/clinical-rules.md §A13: every other at-risk factor recorded (diabetes, sepsis, immobilization...), in
    # clinician wording; any one applies the at-risk cap.
    other_risk_factors: tuple[str, ...] = ()
    # docs/clinical-rules.md §A13 "Fluid": whether any renal risk factor (renal impairment, diabetes, volume depletion,
    # sepsis, paraproteinemia, nephrotoxic drugs, eGFR < 60) or thrombosis risk factor is among the factors above;
    # age over 65 counts as renal here by itself. They choose the order's fluid advice.
    renal_risk_factor: bool = False
    thrombosis_risk_factor: bool = False

    def __post_init__(self) -> None:
        # Accept ints (and numeric strings) from callers but compute only in Decimal.
        if self.height_cm is not None:
            object.__setattr__(self, "height_cm", _to_decimal(self.height_cm, "height_cm"))
        object.__setattr__(self, "actual_weight_kg", _to_decimal(self.actual_weight_kg, "weight_kg"))


@dataclass(frozen=True)
class ProductFacts:
    name: str
    concentration_percent: Decimal | None  # 10 -> 100 mg/mL
    vial_sizes_g: tuple[Decimal, ...]  # may be empty when unknown
    iga_depleted: bool
    itp_indication: bool
    initial_rate_mg_per_kg_min: Decimal | None
    step_up_interval_min: int | None
    itp_max_rate_mg_per_kg_min: Decimal | None
    at_risk_max_rate_mg_per_kg_min: Decimal | None  # the label's at-risk maximum where it gives one

    def __post_init__(self) -> None:
        # Unknown vial sizes may arrive as None; they are stored as an empty tuple (A4: unknown, not guessed).
        vial_sizes = tuple(_to_decimal(size, "product") for size in self.vial_sizes_g or ())
        object.__setattr__(self, "vial_sizes_g", vial_sizes)
        for name in (
            "concentration_percent",
            "initial_rate_mg_per_kg_min",
            "itp_max_rate_mg_per_kg_min",
            "at_risk_max_rate_mg_per_kg_min",
        ):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _to_decimal(value, "product"))


@dataclass(frozen=True)
class DosingConfig:
    """Hospital settings; every default is the Part A rule and may be changed by the deploying hospital."""

    policy: DosingWeightPolicy = DosingWeightPolicy.ADJUSTED_ABOVE_IDEAL  # A2
    rounding_tolerance: Decimal = Decimal("0.10")  # A3: within 10 % of calc/day
    adult_rounding_steps_g: tuple[Decimal, ...] = (Decimal("5"), Decimal("2.5"), Decimal("1"))  # A3
    child_rounding_steps_g: tuple[Decimal, ...] = (Decimal("1"),)  # A3
    adult_age_years: int = 18  # A2 exclusion "age < 18"; A3 adult steps from 18 y
    at_risk_age_over_years: int = 65  # A4 / B 6.5: "age over 65"
    # [D] No source gives a step-up interval for labels without one (Privigen: "increase gradually",
    # B 4.1); 30 min is the interval of the labels that state one (Gamunex-C, Octagam 10 %): a project
    # default, not a label value.
    default_step_up_interval_min: int = 30

    def __post_init__(self) -> None:
        # Settings often arrive as plain strings or ints; a policy string that is not a known policy must
        # fail here rather than silently fall back to another rule.
        object.__setattr__(self, "policy", DosingWeightPolicy(self.policy))
        object.__setattr__(self, "rounding_tolerance", _to_decimal(self.rounding_tolerance, "rounding_tolerance"))
        for name in ("adult_rounding_steps_g", "child_rounding_steps_g"):
            steps = tuple(_to_decimal(step, "rounding_step") for step in getattr(self, name))
            object.__setattr__(self, name, steps)


DEFAULT_CONFIG = DosingConfig()


# --------------------------------------------------------------------------------------------------
# Dosing weight (A2, B 2)
# --------------------------------------------------------------------------------------------------

# B 2.1: Devine is defined from 60 inches (152.4 cm); below it the formula is not valid.
DEVINE_MIN_HEIGHT_CM = Decimal("152.4")
_CM_PER_INCH = Decimal("2.54")
_DEVINE_BASE_INCHES = Decimal("60")
_DEVINE_KG_PER_INCH = Decimal("2.3")
_DEVINE_BASE_KG = {"male": Decimal("50"), "female": Decimal("45.5")}
_ADJUSTMENT_FACTOR = Decimal("0.4")  # AdjBW = IBW + 0.4 x (actual - IBW), B 2.1
_OBESITY_BMI = Decimal("30")  # Rule B: adjust only when BMI > 30 (B 2.4)

BASIS_ACTUAL = "actual"
BASIS_ADJUSTED = "adjusted"

EXCLUSION_AGE_UNDER_18 = "age_under_18"
EXCLUSION_HEIGHT_UNDER_152_4_CM = "height_under_152_4_cm"
EXCLUSION_PREGNANT = "pregnant"
EXCLUSION_ACTUAL_NOT_ABOVE_ADJUSTED = "actual_not_above_adjusted"
EXCLUSION_BMI_NOT_OVER_30 = "bmi_not_over_30"
EXCLUSION_POLICY_ACTUAL = "policy_actual"
EXCLUSION_PRESCRIBER_OVERRIDE = "prescriber_override"
# A9 "Emergency orders": no height on record, so no IBW, AdjBW or BMI; the dose goes on the weight used.
EXCLUSION_EMERGENCY_NO_HEIGHT = "emergency_no_height"


@dataclass(frozen=True)
class DosingWeight:
    dosing_weight_kg: Decimal  # full precision
    basis: str  # "actual" | "adjusted"
    policy: DosingWeightPolicy
    exclusion: str | None  # why actual weight (or the override) was used; None when AdjBW is used
    ideal_body_weight_kg: Decimal | None  # None where height < 152.4 cm (formula not valid)
    adjusted_body_weight_kg: Decimal | None
    bmi: Decimal | None  # None without a height (emergency_no_height)
    formula: str  # human-readable working


def _normalised_sex(sex: str) -> str | None:
    normalised = sex.strip().lower() if isinstance(sex, str) else ""
    return normalised if normalised in _DEVINE_BASE_KG else None


@_exact
def ideal_body_weight_kg(sex: str, height_cm: Decimal | int) -> Decimal | None:
    """Devine ideal body weight (B 2.1); None below 152.4 cm, where the formula is not valid."""
    height = _positive(height_cm, "height_cm", "height")
    normalised = _normalised_sex(sex)
    if normalised is None:
        raise DosingError("sex", "sex must be 'female' or 'male' to compute the ideal body weight (Devine)")
    if height < DEVINE_MIN_HEIGHT_CM:
        return None
    height_in = height / _CM_PER_INCH
    return _DEVINE_BASE_KG[normalised] + _DEVINE_KG_PER_INCH * (height_in - _DEVINE_BASE_INCHES)


@_exact
def adjusted_body_weight_kg(ideal_kg: Decimal | int, actual_kg: Decimal | int) -> Decimal:
    """AdjBW = IBW + 0.4 x (actual - IBW) (B 2.1)."""
    ideal = _to_decimal(ideal_kg, "ideal_body_weight_kg")
    actual = _positive(actual_kg, "weight_kg", "weight")
    return ideal + _ADJUSTMENT_FACTOR * (actual - ideal)


@_exact
def body_mass_index(height_cm: Decimal | int, weight_kg: Decimal | int) -> Decimal:
    """BMI = kg / m^2 (B 9.1), full precision."""
    height_m = _positive(height_cm, "height_cm", "height") / 100
    weight = _positive(weight_kg, "weight_kg", "weight")
    return weight / (height_m * height_m)


_EXCLUSION_REASONS = {
    EXCLUSION_HEIGHT_UNDER_152_4_CM: "height under 152.4 cm",
    EXCLUSION_PREGNANT: "pregnancy",
    EXCLUSION_ACTUAL_NOT_ABOVE_ADJUSTED: "actual weight not above AdjBW",
    EXCLUSION_POLICY_ACTUAL: "hospital policy: actual weight",
}


def _rule_exclusion(
    patient: PatientFacts,
    config: DosingConfig,
    height: Decimal,
    actual: Decimal,
    adjusted: Decimal | None,
    bmi: Decimal,
) -> str | None:
    """Which A2 exclusion fires, in the A2 order; None means the adjusted weight is used."""
    if config.policy == DosingWeightPolicy.ACTUAL:
        return EXCLUSION_POLICY_ACTUAL
    if patient.age_years < config.adult_age_years:
        return EXCLUSION_AGE_UNDER_18
    if height < DEVINE_MIN_HEIGHT_CM:
        return EXCLUSION_HEIGHT_UNDER_152_4_CM
    if patient.pregnant:
        # A1/A2: pregnancy uses actual weight (NBA 2026 exclusion, B 1.4).
        return EXCLUSION_PREGNANT
    if adjusted is None:
        raise DosingError("sex", "sex must be 'female' or 'male' to compute the adjusted body weight")
    if actual <= adjusted:
        return EXCLUSION_ACTUAL_NOT_ABOVE_ADJUSTED
    # Rule B keeps the A2 exclusions and adds the obesity threshold; exactly 30 is not "over 30".
    if config.policy == DosingWeightPolicy.ADJUSTED_IF_BMI_OVER_30 and bmi <= _OBESITY_BMI:
        return EXCLUSION_BMI_NOT_OVER_30
    return None


def _exclusion_reason(exclusion: str, config: DosingConfig, bmi: Decimal) -> str:
    if exclusion == EXCLUSION_AGE_UNDER_18:
        return f"age under {config.adult_age_years} years"
    if exclusion == EXCLUSION_BMI_NOT_OVER_30:
        return f"BMI {_one_decimal(bmi)} not over 30"
    return _EXCLUSION_REASONS[exclusion]


@_exact
def dosing_weight(
    patient: PatientFacts,
    config: DosingConfig = DEFAULT_CONFIG,
    override_kg: Decimal | int | None = None,
    *,
    emergency: bool = False,
) -> DosingWeight:
    """The weight the dose is calculated from (A2), with the working shown for the order's audit trail.

    Only an emergency order may come without a height (A9 "Emergency orders"): its dosing weight is then the
    weight given (basis actual, exclusion ``emergency_no_height``), or the prescriber's override."""
    if patient.height_cm is None:
        if not emergency:
            raise DosingError("height_cm", "the height is required: only an emergency order is dosed without one")
        return _dosing_weight_without_height(patient, config, override_kg)
    height = _positive(patient.height_cm, "height_cm", "height")
    actual = _positive(patient.actual_weight_kg, "weight_kg", "weight")
    if patient.age_years < 0:
        raise DosingError("age_years", "age must not be negative")
    bmi = body_mass_index(height, actual)
    sex = _normalised_sex(patient.sex)
    ideal = ideal_body_weight_kg(sex, height) if sex is not None else None
    adjusted = adjusted_body_weight_kg(ideal, actual) if ideal is not None else None

    if ideal is not None and adjusted is not None:
        working = (
            f"IBW {_one_decimal(ideal)} kg (Devine, {sex}, {_plain(height)} cm); "
            f"AdjBW = {_one_decimal(ideal)} + 0.4 x ({_one_decimal(actual)} - {_one_decimal(ideal)}) "
            f"= {_one_decimal(adjusted)} kg"
        )
    elif height < DEVINE_MIN_HEIGHT_CM:
        working = f"IBW not valid below 152.4 cm (Devine; height {_plain(height)} cm)"
    else:
        working = "IBW not computed (sex not recorded as female or male)"

    if override_kg is not None:
        return _prescriber_override(override_kg, actual, config, working, ideal=ideal, adjusted=adjusted, bmi=bmi)

    exclusion = _rule_exclusion(patient, config, height, actual, adjusted, bmi)
    if exclusion is None:
        assert adjusted is not None  # _rule_exclusion only returns None once AdjBW is known
        return DosingWeight(
            dosing_weight_kg=adjusted,
            basis=BASIS_ADJUSTED,
            policy=config.policy,
            exclusion=None,
            ideal_body_weight_kg=ideal,
            adjusted_body_weight_kg=adjusted,
            bmi=bmi,
            formula=working,
        )
    reason = _exclusion_reason(exclusion, config, bmi)
    return DosingWeight(
        dosing_weight_kg=actual,
        basis=BASIS_ACTUAL,
        policy=config.policy,
        exclusion=exclusion,
        ideal_body_weight_kg=ideal,
        adjusted_body_weight_kg=adjusted,
        bmi=bmi,
        formula=f"{working}; dosing weight = actual weight {_one_decimal(actual)} kg ({reason})",
    )


def _prescriber_override(
    override_kg: Decimal | int,
    actual: Decimal,
    config: DosingConfig,
    working: str,
    *,
    ideal: Decimal | None,
    adjusted: Decimal | None,
    bmi: Decimal | None,
) -> DosingWeight:
    """The prescriber's override as the dosing weight, with the working that came before it."""
    override = _checked_override(override_kg, actual)
    return DosingWeight(
        dosing_weight_kg=override,
        basis=BASIS_ACTUAL if override == actual else BASIS_ADJUSTED,
        policy=config.policy,
        exclusion=EXCLUSION_PRESCRIBER_OVERRIDE,
        ideal_body_weight_kg=ideal,
        adjusted_body_weight_kg=adjusted,
        bmi=bmi,
        formula=f"{working}; dosing weight = prescriber override {_one_decimal(override)} kg",
    )


def _checked_override(override_kg: Decimal | int, actual: Decimal) -> Decimal:
    override = _to_decimal(override_kg, "dosing_weight_override_kg")
    if override <= 0:
        raise DosingError("dosing_weight_override_kg", "the dosing weight override must be above 0 kg")
    if override > actual:
        # Safety rule of this module: an override may lower the dosing weight, never raise it above the
        # patient's actual weight.
        raise DosingError(
            "dosing_weight_override_kg",
            f"the dosing weight override ({_plain(override)} kg) must not exceed the actual weight "
            f"({_plain(actual)} kg)",
        )
    return override


def _dosing_weight_without_height(
    patient: PatientFacts, config: DosingConfig, override_kg: Decimal | int | None
) -> DosingWeight:
    """An emergency order without a height (A9): no IBW, AdjBW or BMI can be worked out, so the A2 policy cannot
    apply; the dose goes on the weight given (the estimate), or on the prescriber's lower override."""
    actual = _positive(patient.actual_weight_kg, "weight_kg", "weight")
    if patient.age_years < 0:
        raise DosingError("age_years", "age must not be negative")
    working = "No height on record (emergency order): IBW, AdjBW and BMI not computed"
    if override_kg is not None:
        return _prescriber_override(override_kg, actual, config, working, ideal=None, adjusted=None, bmi=None)
    return DosingWeight(
        dosing_weight_kg=actual,
        basis=BASIS_ACTUAL,
        policy=config.policy,
        exclusion=EXCLUSION_EMERGENCY_NO_HEIGHT,
        ideal_body_weight_kg=None,
        adjusted_body_weight_kg=None,
        bmi=None,
        formula=f"{working}; dosing weight = actual weight {_one_decimal(actual)} kg (emergency order without a "
        "height)",
    )


# --------------------------------------------------------------------------------------------------
# Rounding to vials (A3, B 3)
# --------------------------------------------------------------------------------------------------

PARTIAL_VIAL_MESSAGE = "partial vial: no vial rounding within 10 %"  # wording fixed by A3
_PARTIAL_DOSE_STEP_G = Decimal("0.1")  # A3: "the dose stays at calc/day rounded to 0.1 g"
# A bound on the dynamic programme's table so that absurd inputs fail fast instead of exhausting memory;
# a real IVIG dose is at most a few hundred grams.
_MAX_VIAL_TABLE = 5_000_000


@dataclass(frozen=True)
class VialCount:
    size_g: Decimal
    count: int


@_exact
def round_half_up(value: Decimal | int, step: Decimal | int) -> Decimal:
    """Round ``value`` to the nearest multiple of ``step``, halves away from zero (A3 ``round_half_up``)."""
    number = _to_decimal(value, "value")
    increment = _positive(step, "step", "rounding step")
    return (number / increment).to_integral_value(rounding=ROUND_HALF_UP) * increment


def _decimal_places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite values only (checked on input)
    return max(0, -exponent)


def _vial_sizes(vial_sizes_g: Iterable[Decimal | int]) -> tuple[Decimal, ...]:
    sizes = tuple(_to_decimal(size, "product") for size in vial_sizes_g)
    if not sizes:
        raise DosingError("product", "the product has no vial sizes")
    if any(size <= 0 for size in sizes):
        raise DosingError("product", "vial sizes must be above 0 g")
    return sizes


@dataclass(frozen=True)
class _VialUnits:
    """Vial sizes as whole multiples of their common unit (2.5 and 5 g -> unit 2.5 g, sizes 2 and 1)."""

    unit_g: Decimal
    sizes_desc: tuple[int, ...]
    size_g_by_units: dict[int, Decimal]  # back to the catalogue's own Decimal, so 40 g is shown as "40"


def _to_units(sizes: Sequence[Decimal]) -> _VialUnits:
    places = max(_decimal_places(size) for size in sizes)
    scaled = [int(size.scaleb(places)) for size in sizes]
    common = math.gcd(*scaled)
    size_g_by_units: dict[int, Decimal] = {}
    for size, value in zip(sizes, scaled, strict=True):
        size_g_by_units.setdefault(value // common, size)
    return _VialUnits(
        unit_g=Decimal(common).scaleb(-places),
        sizes_desc=tuple(sorted(size_g_by_units, reverse=True)),
        size_g_by_units=size_g_by_units,
    )


def _fewest_counts(limit: int, sizes: tuple[int, ...]) -> list[int]:
    """fewest[a] = the fewest vials summing exactly to a units; ``limit + 1`` marks "cannot be made"."""
    if limit > _MAX_VIAL_TABLE:
        raise DosingError("product", "the dose is too large for a vial calculation")
    unreachable = limit + 1
    fewest = [unreachable] * (limit + 1)
    fewest[0] = 0
    for amount in range(1, limit + 1):
        best = unreachable
        for size in sizes:
            if size <= amount and fewest[amount - size] + 1 < best:
                best = fewest[amount - size] + 1
        fewest[amount] = best
    return fewest


def _take_largest_first(amount: int, units: _VialUnits, fewest: list[int]) -> tuple[VialCount, ...]:
    # Taking, at each step, the largest vial that still leaves an optimal remainder gives, among all
    # fewest-vial combinations, the one with the most large vials (A3 "ties: larger vials first").
    counts: dict[int, int] = {}
    while amount > 0:
        for size in units.sizes_desc:
            if size <= amount and fewest[amount - size] == fewest[amount] - 1:
                counts[size] = counts.get(size, 0) + 1
                amount -= size
                break
        else:  # pragma: no cover - unreachable when fewest[amount] is finite
            raise AssertionError("vial reconstruction failed")
    return tuple(
        VialCount(size_g=units.size_g_by_units[size], count=counts[size]) for size in units.sizes_desc if size in counts
    )


@_exact
def fewest_vials(dose_g: Decimal | int, vial_sizes_g: Iterable[Decimal | int]) -> tuple[VialCount, ...] | None:
    """The fewest vials summing exactly to ``dose_g`` (A3); ties go to larger vials; None if impossible.

    Dynamic programming, not a greedy fill: with 2 and 5 g vials, 6 g is 2+2+2, whereas a greedy fill
    takes 5 g and is left with 1 g that no vial makes.
    """
    dose = _to_decimal(dose_g, "dose_g")
    sizes = _vial_sizes(vial_sizes_g)
    if dose <= 0:
        return None
    units = _to_units(sizes)
    whole_units, remainder = divmod(dose, units.unit_g)
    if remainder != 0:
        return None
    target = int(whole_units)
    fewest = _fewest_counts(target, units.sizes_desc)
    if fewest[target] > target:
        return None
    return _take_largest_first(target, units, fewest)


@_exact
def fewest_vials_covering(dose_g: Decimal | int, vial_sizes_g: Iterable[Decimal | int]) -> tuple[VialCount, ...]:
    """Partial-vial fallback (A3): the fewest vials whose sum covers ``dose_g``.

    Among equal counts the smallest total (least waste), then larger vials first.
    """
    dose = _to_decimal(dose_g, "dose_g")
    sizes = _vial_sizes(vial_sizes_g)
    if dose <= 0:
        return ()
    units = _to_units(sizes)
    target = int((dose / units.unit_g).to_integral_value(rounding=ROUND_CEILING))
    # A fewest-vial cover never reaches dose + its smallest vial (that vial could be dropped), so looking
    # below target + the largest vial is enough.
    limit = target + units.sizes_desc[0] - 1
    fewest = _fewest_counts(limit, units.sizes_desc)
    best_total = min(range(target, limit + 1), key=lambda total: (fewest[total], total))
    return _take_largest_first(best_total, units, fewest)


@_exact
def round_daily_dose(
    calculated_g: Decimal | int,
    vial_sizes_g: Iterable[Decimal | int],
    adult: bool,
    config: DosingConfig = DEFAULT_CONFIG,
) -> tuple[Decimal, Decimal | None, tuple[VialCount, ...], bool]:
    """A3: (rounded dose, rounding step or None, vials, partial_vial)."""
    calculated = _positive(calculated_g, "dose_g", "calculated dose")
    sizes = _vial_sizes(vial_sizes_g)
    tolerance = config.rounding_tolerance
    steps = config.adult_rounding_steps_g if adult else config.child_rounding_steps_g
    for step in steps:
        # A3: a step the product's vials cannot make exactly is skipped; a step it can make, it can make in
        # any multiple, so the accepted dose is always exactly fillable.
        if step <= 0 or fewest_vials(step, sizes) is None:
            continue
        rounded = round_half_up(calculated, step)
        if rounded > 0 and abs(rounded - calculated) <= tolerance * calculated:
            vials = fewest_vials(rounded, sizes)
            assert vials is not None
            return rounded, step, vials, False
    rounded = round_half_up(calculated, _PARTIAL_DOSE_STEP_G)
    if rounded <= 0:
        raise DosingError("weight_kg", "the calculated dose is below 0.05 g and cannot be measured")
    return rounded, None, fewest_vials_covering(rounded, sizes), True


# --------------------------------------------------------------------------------------------------
# Infusion rates (A4, B 4.2)
# --------------------------------------------------------------------------------------------------

_MG_PER_ML_PER_PERCENT = Decimal("10")  # 10 % = 100 mg/mL (B 4.2)
_MINUTES_PER_HOUR = Decimal("60")
_PUMP_RATE_STEP_ML_PER_H = Decimal("0.1")  # pumps are programmed to 0.1 mL/h
_AT_RISK_DIVISOR_OF_ITP_MAX = Decimal("2")  # A4: half the ITP maximum where the label gives no at-risk cap


@dataclass(frozen=True)
class RateStep:
    rate_mg_per_kg_min: Decimal
    rate_ml_per_kg_min: Decimal
    rate_ml_per_h: Decimal  # rounded half-up to 0.1 mL/h for the pump


@dataclass(frozen=True)
class RatePlan:
    steps: tuple[RateStep, ...]  # initial first, last = effective maximum
    step_up_interval_min: int
    max_rate_ml_per_h: Decimal
    at_risk_capped: bool
    basis_weight_kg: Decimal  # the dosing weight (docs/clinical-rules.md reference §4.2 [D])
    # The ceiling a label sets (the ITP maximum, or the label's own at-risk cap): never exceeded (§A10 rate_above_max).
    label_max_rate_ml_per_h: Decimal
    # Where an at-risk cap comes from: "label" (Octagam 10 %, Panzyga), "design" (half the ITP maximum, A4), or None.
    at_risk_cap_source: str | None


def missing_rate_fields(product: ProductFacts) -> tuple[str, ...]:
    """Catalogue values a rate plan needs but the product lacks (A4: [U] values are stored as unknown)."""
    needed = {
        "concentration_percent": product.concentration_percent,
        "initial_rate_mg_per_kg_min": product.initial_rate_mg_per_kg_min,
        "itp_max_rate_mg_per_kg_min": product.itp_max_rate_mg_per_kg_min,
    }
    return tuple(name for name, value in needed.items() if value is None or value <= 0)


def _effective_max_mg_per_kg_min(product: ProductFacts, at_risk: bool) -> tuple[Decimal, bool]:
    itp_max = product.itp_max_rate_mg_per_kg_min
    assert itp_max is not None
    if not at_risk:
        return itp_max, False
    label_cap = product.at_risk_max_rate_mg_per_kg_min
    # A4: the label's own at-risk maximum (Octagam 10 %, Panzyga: 3.3 mg/kg/min), never above the ITP
    # maximum; else half the ITP maximum.
    cap = itp_max / _AT_RISK_DIVISOR_OF_ITP_MAX if label_cap is None or label_cap <= 0 else min(label_cap, itp_max)
    return cap, cap < itp_max


@_exact
def rate_plan(
    product: ProductFacts,
    dosing_weight_kg: Decimal | int,
    at_risk: bool,
    config: DosingConfig = DEFAULT_CONFIG,
) -> RatePlan | None:
    """Pump rates for ITP (A4): start at the label's initial rate, double at each step-up while below the
    effective maximum, and end on that maximum. None when the catalogue lacks the label values."""
    if missing_rate_fields(product):
        return None
    weight = _positive(dosing_weight_kg, "dosing_weight_kg", "dosing weight")
    concentration = product.concentration_percent
    initial = product.initial_rate_mg_per_kg_min
    assert concentration is not None and initial is not None  # checked by missing_rate_fields
    concentration_mg_per_ml = concentration * _MG_PER_ML_PER_PERCENT
    maximum, capped = _effective_max_mg_per_kg_min(product, at_risk)

    def step(rate_mg_per_kg_min: Decimal) -> RateStep:
        rate_ml_per_kg_min = rate_mg_per_kg_min / concentration_mg_per_ml
        rate_ml_per_h = round_half_up(rate_ml_per_kg_min * weight * _MINUTES_PER_HOUR, _PUMP_RATE_STEP_ML_PER_H)
        return RateStep(rate_mg_per_kg_min, rate_ml_per_kg_min, rate_ml_per_h)

    rates: list[Decimal] = []
    rate = initial
    while rate < maximum:
        rates.append(rate)
        rate *= 2
    rates.append(maximum)  # no step ever exceeds the effective maximum
    steps = tuple(step(value) for value in rates)
    interval = product.step_up_interval_min or config.default_step_up_interval_min
    label_cap = product.at_risk_max_rate_mg_per_kg_min
    label_capped = capped and label_cap is not None and label_cap > 0
    itp_max = product.itp_max_rate_mg_per_kg_min
    assert itp_max is not None  # checked by missing_rate_fields
    return RatePlan(
        steps=steps,
        step_up_interval_min=interval,
        max_rate_ml_per_h=steps[-1].rate_ml_per_h,
        at_risk_capped=capped,
        basis_weight_kg=weight,
        label_max_rate_ml_per_h=steps[-1].rate_ml_per_h if label_capped else step(itp_max).rate_ml_per_h,
        at_risk_cap_source=("label" if label_capped else "design") if capped else None,
    )


# --------------------------------------------------------------------------------------------------
# Risk and IgA (A4, B 6.5)
# --------------------------------------------------------------------------------------------------


def at_risk_reasons(patient: PatientFacts, config: DosingConfig = DEFAULT_CONFIG) -> tuple[str, ...]:
    """A4 at-risk criteria that apply, in clinician wording (empty when not at risk)."""
    reasons: list[str] = []
    if patient.cardiac_dysfunction:
        reasons.append("cardiac dysfunction")
    if patient.renal_impairment:
        reasons.append("renal impairment")
    if patient.age_years > config.at_risk_age_over_years:
        reasons.append(f"age over {config.at_risk_age_over_years}")
    if patient.thrombosis_risk:
        reasons.append("thrombosis risk factors")
    reasons.extend(factor for factor in patient.other_risk_factors if factor not in reasons)
    return tuple(reasons)


def is_at_risk(patient: PatientFacts, config: DosingConfig = DEFAULT_CONFIG) -> bool:
    """A4 and A13: cardiac dysfunction, renal impairment, age over 65, thrombosis risk factors, or any other at-risk
    factor recorded."""
    return bool(at_risk_reasons(patient, config))


def iga_product_conflict(iga_deficient: bool | None, product: ProductFacts) -> bool:
    """A4: an IgA-deficient patient must get an IgA-depleted product (unknown status is not a conflict).

    Whether a patient is IgA-deficient is ``patients.rules.is_iga_deficient`` (the laboratory's cut-off)."""
    return iga_deficient is True and not product.iga_depleted


# --------------------------------------------------------------------------------------------------
# The whole calculation
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DoseWarning:
    code: str
    message: str


@dataclass(frozen=True)
class DoseCalculation:
    regimen: Regimen
    dosing_weight: DosingWeight
    dose_per_day_g: Decimal  # calculated, full precision
    rounded_dose_per_day_g: Decimal
    rounding_step_g: Decimal | None  # None when partial-vial fallback
    deviation_percent: Decimal  # (rounded - calc) / calc * 100, quantized 0.1
    partial_vial: bool
    vials_per_day: tuple[VialCount, ...]  # larger sizes first
    days: int
    total_calculated_g: Decimal
    total_dose_g: Decimal  # rounded daily dose x days (A3)
    volume_per_day_ml: Decimal | None  # rounded dose / concentration
    rate_plan: RatePlan | None  # None when the catalogue lacks the label rates (warned)
    warnings: tuple[DoseWarning, ...]


def _warnings(
    patient: PatientFacts,
    product: ProductFacts,
    regimen: Regimen,
    config: DosingConfig,
    *,
    emergency: bool,
    iga_override_reason: str,
    partial: bool,
    plan: RatePlan | None,
) -> tuple[DoseWarning, ...]:
    found: list[DoseWarning] = []

    def warn(code: str, message: str) -> None:
        found.append(DoseWarning(code, message))

    if emergency:
        warn(
            "emergency",
            "Emergency order: combine IVIG with IV corticosteroids; do not delay platelet transfusion.",
        )
    if iga_override_reason.strip() and iga_product_conflict(patient.iga_deficient, product):
        warn(
            "iga_override",
            f"IgA-deficient patient receiving {product.name}, which is not IgA-depleted; "
            f"prescriber override: {iga_override_reason.strip()}",
        )
    if not product.itp_indication:
        warn("no_itp_indication", f"{product.name} has no ITP indication on its label (off-label use).")
    if regimen.code == _PAEDIATRIC_REGIMEN_CODE and patient.age_years >= config.adult_age_years:
        warn(
            "paediatric_regimen_for_adult",
            f"Paediatric regimen: 0.8 g/kg once is for children under {config.adult_age_years} years; "
            f"this patient is {patient.age_years}.",
        )
    if patient.pregnant:
        warn("pregnancy", "Pregnancy: the dose is calculated on actual weight (A2).")
    # docs/clinical-rules.md §A13 "Fluid": with cardiac dysfunction fluids are the prescriber's individual decision, so
    # no warning below tells the nurse to hydrate routinely.
    cardiac = patient.cardiac_dysfunction
    renal = patient.renal_impairment or patient.renal_risk_factor or patient.age_years > config.at_risk_age_over_years
    thrombosis = patient.thrombosis_risk or patient.thrombosis_risk_factor
    if cardiac:
        # §A13: a prophylactic diuretic may be considered (reference Part B §0); it is the prescriber's decision,
        # recorded as a co-therapy like any other.
        diuretic = " A prophylactic diuretic may be considered (the prescriber's decision, recorded as a co-therapy)."
        if regimen.g_per_kg_per_day >= _HIGH_DAILY_DOSE_G_PER_KG:
            # A1: every 1 g/kg/day regimen; Gamunex-C advises against the high-dose regimen when fluid volume
            # is a concern (B 0, B 4.1).
            warn(
                "cardiac_fluid",
                "Cardiac dysfunction: assess fluid status, infuse at the minimum practicable rate "
                f"and consider 0.4 g/kg/day x 5 days ({_FLUID_SPARING_REGIMEN_CODE})." + diuretic,
            )
        else:
            warn(
                "cardiac_fluid",
                "Cardiac dysfunction: assess fluid status before each dose; infuse at the minimum rate." + diuretic,
            )
    if patient.renal_impairment or patient.age_years > config.at_risk_age_over_years:
        # B 6.5 boxed warning: renal predisposition includes renal insufficiency and age > 65.
        warn(
            "renal_risk",
            f"Renal risk (renal impairment or age over {config.at_risk_age_over_years}): "
            + ("" if cardiac else "hydrate before the infusion, ")
            + "infuse at the minimum practicable rate, and monitor creatinine, BUN and urine output.",
        )
    if patient.thrombosis_risk:
        # B 6.5 boxed warning.
        warn(
            "thrombosis_risk",
            "Thrombosis risk factors: "
            + ("" if cardiac else "ensure adequate hydration, ")
            + "use the minimum practicable rate and watch for signs of thrombosis.",
        )
    if cardiac and renal:
        warn(
            "individualise_fluids",
            "Cardiac dysfunction with a renal risk factor: individualise fluids with the prescriber.",
        )
    elif not cardiac and (renal or thrombosis):
        # §A13: the kidneys are protected by hydration, never by a diuretic; a start without a pre-hydration
        # co-therapy meets the bedside stop prehydration_not_given (§A10).
        warn(
            "prehydration",
            "Renal or thrombosis risk factor: ensure adequate hydration before the infusion (pre-hydration, recorded "
            "as a co-therapy); never a diuretic.",
        )
    if partial:
        warn("partial_vial", PARTIAL_VIAL_MESSAGE)
    if plan is None:
        missing = ", ".join(missing_rate_fields(product))
        warn(
            "no_rate_plan",
            f"No rate plan: the catalogue lacks {missing} for {product.name}; use the label's rates.",
        )
    elif plan.at_risk_capped:
        reasons = ", ".join(at_risk_reasons(patient, config))
        maximum = plan.steps[-1]
        warn(
            "at_risk_rate_cap",
            f"At-risk patient ({reasons}): maximum rate capped at {_plain(maximum.rate_mg_per_kg_min)} "
            f"mg/kg/min ({maximum.rate_ml_per_h} mL/h).",
        )
    return tuple(found)


@_exact
def calculate_dose(
    patient: PatientFacts,
    product: ProductFacts,
    regimen_code: str,
    config: DosingConfig = DEFAULT_CONFIG,
    *,
    emergency: bool = False,
    dosing_weight_override_kg: Decimal | int | None = None,
    iga_override_reason: str = "",
) -> DoseCalculation:
    """Dosing weight (A2) -> daily dose rounded to vials (A3) -> rate plan (A4), with the order's warnings.

    IgA refusal is the caller's decision (``iga_product_conflict``); this only records an override.
    """
    regimen = REGIMENS.get(regimen_code)
    if regimen is None:
        raise DosingError("regimen", f"unknown regimen {regimen_code!r}; choose one of {', '.join(REGIMENS)}")
    if not product.vial_sizes_g:
        raise DosingError("product", f"vial sizes of {product.name} are not in the catalogue; choose another product")
    weight = dosing_weight(patient, config, dosing_weight_override_kg, emergency=emergency)
    calculated = regimen.g_per_kg_per_day * weight.dosing_weight_kg
    adult = patient.age_years >= config.adult_age_years
    rounded, step, vials, partial = round_daily_dose(calculated, product.vial_sizes_g, adult, config)
    deviation = ((rounded - calculated) / calculated * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    concentration = product.concentration_percent
    volume = (
        rounded * 1000 / (concentration * _MG_PER_ML_PER_PERCENT)
        if concentration is not None and concentration > 0
        else None
    )
    plan = rate_plan(product, weight.dosing_weight_kg, is_at_risk(patient, config), config)
    return DoseCalculation(
        regimen=regimen,
        dosing_weight=weight,
        dose_per_day_g=calculated,
        rounded_dose_per_day_g=rounded,
        rounding_step_g=step,
        deviation_percent=deviation,
        partial_vial=partial,
        vials_per_day=vials,
        days=regimen.days,
        total_calculated_g=calculated * regimen.days,
        total_dose_g=rounded * regimen.days,
        volume_per_day_ml=volume,
        rate_plan=plan,
        warnings=_warnings(
            patient,
            product,
            regimen,
            config,
            emergency=emergency,
            iga_override_reason=iga_override_reason,
            partial=partial,
            plan=plan,
        ),
    )


# --------------------------------------------------------------------------------------------------
# Near an A2 threshold (A9 near_policy_threshold)
# --------------------------------------------------------------------------------------------------

# [D] How near a threshold a patient must be for the other side to be worked out: the clinical rules name the thresholds
# (152.4 cm; 18 years) but not the distance. One inch of height, a typical measuring error, and the year either side
# of the 18th birthday.
NEAR_HEIGHT_CM = Decimal("2.54")
NEAR_AGE_YEARS = 1


def threshold_neighbours(
    patient: PatientFacts, config: DosingConfig = DEFAULT_CONFIG
) -> tuple[tuple[str, PatientFacts], ...]:
    """The patient as they would be on the other side of an A2 threshold they are near: ("height", facts) for a
    height within NEAR_HEIGHT_CM of 152.4 cm, ("age", facts) for an age within NEAR_AGE_YEARS of 18."""
    found: list[tuple[str, PatientFacts]] = []
    height = patient.height_cm  # None only for an emergency order without a height: no height threshold applies
    if height is not None and abs(height - DEVINE_MIN_HEIGHT_CM) <= NEAR_HEIGHT_CM:
        other = DEVINE_MIN_HEIGHT_CM - Decimal("0.1") if height >= DEVINE_MIN_HEIGHT_CM else DEVINE_MIN_HEIGHT_CM
        found.append(("height", dataclasses.replace(patient, height_cm=other)))
    adult = config.adult_age_years
    if abs(patient.age_years - adult) <= NEAR_AGE_YEARS:
        other_age = adult - 1 if patient.age_years >= adult else adult
        found.append(("age", dataclasses.replace(patient, age_years=other_age)))
    return tuple(found)
