"""Pure patient rules (no Django): the IgA-deficiency test of docs/clinical-rules.md §A4, and the body-size stops of
§A9 "Recording body size" (a weight or height that is probably a kg/lb or cm/in slip needs a confirmation reason)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from core.stops import Kind, Overrider, Stop

# Characters a name or an MRN must not hold: Unicode format characters (Cf: zero-width spaces and joiners U+200B-
# U+200D, the direction marks and embeddings U+200E-U+200F, U+202A-U+202E, U+2066-U+2069, U+FEFF, the soft hyphen),
# controls (Cc: tab, newline, NUL), line and paragraph separators, surrogates and private-use code points. They print
# nothing or reorder what prints, so "SMITH" and "SMITH" followed by a zero-width space, or an MRN that reads
# backwards on screen, are different records that look the same: the wrong-patient error the MRN exists to prevent.
# Joiners are refused too, although some scripts use them (a Persian name may carry U+200C): the name is then
# written without them, as the hospital's other systems commonly store it.
HIDDEN_CHARACTER_CATEGORIES = frozenset({"Cf", "Cc", "Zl", "Zp", "Cs", "Co"})


def hidden_character_problem(text: str) -> str | None:
    """Why ``text`` cannot be a patient's name or MRN because of an invisible or text-direction character, naming
    the first one and where it is; None when it has none."""
    for position, character in enumerate(text, start=1):
        if unicodedata.category(character) in HIDDEN_CHARACTER_CATEGORIES:
            name = unicodedata.name(character, "control character")
            return (
                f"This contains an invisible or text-direction character (U+{ord(character):04X} {name}) at "
                f"character {position}: retype it without it."
            )
    return None


# docs/clinical-rules.md §A4: serum IgA below 7 mg/dL (0.07 g/L) is IgA-deficient; the lab's own cut-off is a setting.
DEFAULT_IGA_DEFICIENCY_CUTOFF_MG_DL = Decimal("7")

# Exact conversions, used to name the likely slip.
KG_PER_LB = Decimal("0.45359237")
CM_PER_IN = Decimal("2.54")

WEIGHT_CHANGE = "weight_change"
IMPLAUSIBLE_BODY_SIZE = "implausible_body_size"

# A height typed in inches is named as the likely slip only when it converts to a height a person can have.
TALLEST_CM = Decimal("250")

# §A9 "Birth dates give an age of 0-120 years".
MAX_AGE_YEARS = 120


def is_iga_deficient(
    serum_iga_mg_dl: Decimal | None, cutoff_mg_dl: Decimal = DEFAULT_IGA_DEFICIENCY_CUTOFF_MG_DL
) -> bool | None:
    """True below the cut-off, False at or above it, None when no result is known."""
    if serum_iga_mg_dl is None:
        return None
    level = Decimal(serum_iga_mg_dl)
    if level < 0:
        raise ValueError("serum IgA must not be negative")
    return level < Decimal(cutoff_mg_dl)


def age_in_years(birth_date: date, on: date) -> int:
    """Completed years on ``on`` (a birthday on 29 February counts on 1 March in other years)."""
    years = on.year - birth_date.year
    if (on.month, on.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def birth_date_problem(birth_date: date, today: date) -> str | None:
    """§A9: a birth date gives an age of 0-120 years; the message to show when it does not."""
    if birth_date > today:
        return "This date is in the future."
    if age_in_years(birth_date, today) > MAX_AGE_YEARS:
        return f"This birth date gives an age over {MAX_AGE_YEARS} years: check the year."
    return None


def before_birth_problem(day: date, birth_date: date) -> str | None:
    """Nothing in a patient's record happens before their birth (a sample, a test, a reaction, a pregnancy's end):
    such a date is a typing error in the year. The message to show, or None."""
    if day < birth_date:
        return f"This date is before the patient's birth ({birth_date:%Y-%m-%d}): check the year."
    return None


@dataclass(frozen=True)
class BodySizeConfig:
    """§A9 "Recording body size" **[D]**: each number a setting with this default."""

    weight_change_percent: Decimal = Decimal("10")
    weight_change_window_days: int = 90
    infant_under_years: int = 2
    infant_loss_percent: Decimal = Decimal("10")
    infant_gain_percent: Decimal = Decimal("25")
    adult_from_years: int = 18
    adult_bmi_min: Decimal = Decimal("13")
    adult_bmi_max: Decimal = Decimal("60")
    child_bmi_min: Decimal = Decimal("10")
    child_bmi_max: Decimal = Decimal("40")


DEFAULT_BODY_SIZE = BodySizeConfig()


def _shown(value: Decimal, places: str = "0.1") -> str:
    """A number as a clinician writes it: 70 rather than 70.0, 70.5 kept."""
    text = f"{Decimal(value).quantize(Decimal(places), rounding=ROUND_HALF_UP):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _override(code: str, message: str, field: str, fingerprint: str) -> Stop:
    return Stop(
        code=code, kind=Kind.OVERRIDE, message=message, overrider=Overrider.ANY, field=field, fingerprint=fingerprint
    )


def weight_change(
    new_kg: Decimal,
    previous_kg: Decimal | None,
    *,
    previous_within_90_days: bool,
    age_years: int,
    previous_on: date | None = None,
    config: BodySizeConfig = DEFAULT_BODY_SIZE,
) -> list[Stop]:
    """§A9 ``weight_change``: a weight more than 10 % away from the previous one recorded within 90 days; under 2
    years more than 10 % below or more than 25 % above (infants gain weight fast). Override, by the user recording.

    ``previous_within_90_days`` says whether the previous weight was measured within the window before the new one
    (the caller knows both times); an older or missing previous weight raises nothing."""
    if previous_kg is None or not previous_within_90_days:
        return []
    new = Decimal(new_kg)
    previous = Decimal(previous_kg)
    if new <= 0 or previous <= 0:
        raise ValueError("weights must be positive")
    change_percent = (new - previous) / previous * 100
    if age_years < config.infant_under_years:
        too_low, too_high = -config.infant_loss_percent, config.infant_gain_percent
    else:
        too_low, too_high = -config.weight_change_percent, config.weight_change_percent
    if too_low <= change_percent <= too_high:
        return []
    direction = "more" if change_percent > 0 else "less"
    when = f" on {previous_on.isoformat()}" if previous_on is not None else ""
    message = (
        f"{_shown(new)} kg is {_shown(abs(change_percent), '1')} % {direction} than {_shown(previous)} kg{when}: "
        f"{_weight_slip(new, previous)}"
    )
    return [_override(WEIGHT_CHANGE, message, "weight_kg", f"{_shown(previous)}->{_shown(new)}")]


def previous_within_window(previous_at: datetime, new_at: datetime, config: BodySizeConfig = DEFAULT_BODY_SIZE) -> bool:
    """§A9: the previous weight counts when measured at most 90 days before the new one."""
    return timedelta(0) <= new_at - previous_at <= timedelta(days=config.weight_change_window_days)


def _near(value: Decimal, target: Decimal, percent: Decimal) -> bool:
    return abs(value - target) <= target * percent / 100


def _weight_slip(new: Decimal, previous: Decimal) -> str:
    """Name the likely slip: the new weight typed in pounds, or the previous one."""
    if _near(new * KG_PER_LB, previous, Decimal("10")):
        return f"was it typed in pounds ({_shown(new)} lb is {_shown(new * KG_PER_LB)} kg)?"
    if _near(previous * KG_PER_LB, new, Decimal("10")):
        return f"was the earlier weight typed in pounds ({_shown(previous)} lb is {_shown(previous * KG_PER_LB)} kg)?"
    return "check the scale and the entry, and confirm with a reason."


def body_mass_index(weight_kg: Decimal, height_cm: Decimal) -> Decimal:
    """kg / m^2, full precision."""
    weight = Decimal(weight_kg)
    height_m = Decimal(height_cm) / 100
    if weight <= 0 or height_m <= 0:
        raise ValueError("weight and height must be positive")
    return weight / (height_m * height_m)


def bmi_bounds(age_years: int, config: BodySizeConfig = DEFAULT_BODY_SIZE) -> tuple[Decimal, Decimal]:
    if age_years >= config.adult_from_years:
        return config.adult_bmi_min, config.adult_bmi_max
    return config.child_bmi_min, config.child_bmi_max


def implausible_body_size(
    weight_kg: Decimal,
    height_cm: Decimal,
    age_years: int,
    *,
    sent: frozenset[str] = frozenset({"weight_kg", "height_cm"}),
    config: BodySizeConfig = DEFAULT_BODY_SIZE,
) -> list[Stop]:
    """§A9 ``implausible_body_size``: a BMI below 13 or above 60 from 18 years, below 10 or above 40 under 18.
    Override, by the user recording.

    ``sent`` names the values the request brings (``weight_kg``, ``height_cm``): the stop names the field of the
    likely slip among them (a weight in pounds, a height in inches), else the first one sent."""
    bmi = body_mass_index(weight_kg, height_cm)
    low, high = bmi_bounds(age_years, config)
    if low <= bmi <= high:
        return []
    weight, height = Decimal(weight_kg), Decimal(height_cm)
    slips: list[tuple[str, str]] = []
    if low <= body_mass_index(weight * KG_PER_LB, height) <= high:
        slips.append(
            ("weight_kg", f"was the weight typed in pounds ({_shown(weight)} lb is {_shown(weight * KG_PER_LB)} kg)?")
        )
    if height * CM_PER_IN <= TALLEST_CM and low <= body_mass_index(weight, height * CM_PER_IN) <= high:
        slips.append(
            ("height_cm", f"was the height typed in inches ({_shown(height)} in is {_shown(height * CM_PER_IN)} cm)?")
        )
    likely = [(field, hint) for field, hint in slips if field in sent]
    order = [name for name in ("weight_kg", "height_cm") if name in sent] or ["weight_kg"]
    field = likely[0][0] if likely else order[0]
    hint = (
        " or ".join(hint for _field, hint in (likely or slips))
        or "check the weight and the height, and confirm with a reason."
    )
    who = "an adult" if age_years >= config.adult_from_years else f"a {age_years}-year-old"
    message = (
        f"{_shown(weight)} kg and {_shown(height)} cm give a BMI of {_shown(bmi)}, "
        f"outside {_shown(low)}–{_shown(high)} for {who}: {hint}"
    )
    return [_override(IMPLAUSIBLE_BODY_SIZE, message, field, f"{_shown(weight)}kg:{_shown(height)}cm")]


# --- At-risk factors (docs/clinical-rules.md §A13) ------------------------------------------------------------------

# code, clinician wording. Every one applies A4's at-risk rate cap.
RISK_FACTORS: tuple[tuple[str, str], ...] = (
    ("cardiac_dysfunction", "cardiac dysfunction"),
    ("renal_impairment", "renal impairment"),
    ("diabetes", "diabetes"),
    ("volume_depletion", "volume depletion"),
    ("sepsis", "sepsis"),
    ("paraproteinemia", "paraproteinaemia"),
    ("nephrotoxic_drugs", "nephrotoxic drugs"),
    ("immobilization", "immobilization"),
    ("hypercoagulable_state", "hypercoagulable state"),
    ("previous_thrombosis", "previous thrombosis"),
    ("estrogens", "estrogens"),
    ("central_venous_catheter", "central venous catheter"),
    ("hyperviscosity", "hyperviscosity"),
    ("cardiovascular_disease", "cardiovascular disease"),
    ("thrombosis_risk", "thrombosis risk (factor not specified)"),
    ("pregnant", "pregnancy or the 6 weeks after it (hypercoagulable state)"),
)
RENAL_FACTORS = frozenset(
    {"renal_impairment", "diabetes", "volume_depletion", "sepsis", "paraproteinemia", "nephrotoxic_drugs"}
)
THROMBOSIS_FACTORS = frozenset(
    {
        "immobilization",
        "hypercoagulable_state",
        "previous_thrombosis",
        "estrogens",
        "central_venous_catheter",
        "hyperviscosity",
        "cardiovascular_disease",
        "thrombosis_risk",
        "pregnant",
    }
)
# Acute factors change quickly: shown "to reassess" this long after they were assessed [D].
ACUTE_FACTORS = frozenset({"volume_depletion", "sepsis", "nephrotoxic_drugs", "immobilization"})
REASSESS_ACUTE_AFTER_DAYS = 7


def risk_factors_present(flags: dict[str, bool]) -> tuple[str, ...]:
    """The clinician wording of every at-risk factor recorded as present (A13), in a fixed order."""
    return tuple(label for code, label in RISK_FACTORS if flags.get(code))


def acute_factors_to_reassess(flags: dict[str, bool], assessed_on: date | None, today: date) -> tuple[str, ...]:
    """Acute factors recorded as present whose assessment is older than 7 days (or undated): "to reassess"."""
    present = [label for code, label in RISK_FACTORS if code in ACUTE_FACTORS and flags.get(code)]
    if not present:
        return ()
    if assessed_on is not None and (today - assessed_on).days <= REASSESS_ACUTE_AFTER_DAYS:
        return ()
    return tuple(present)


# --- Pregnancy (docs/clinical-rules.md §A13) ------------------------------------------------------------------------

PREGNANCY_ENDS_DAYS_AFTER_EXPECTED = 14  # ended 14 days after the expected delivery date
PREGNANCY_REVIEW_WITHIN_DAYS = 28  # "not yet known": a review date within 4 weeks
POSTPARTUM_HYPERCOAGULABLE_DAYS = 42  # [D] pregnancy and 6 weeks after delivery are a hypercoagulable state
LONGEST_PREGNANCY_AHEAD_DAYS = 294  # 42 weeks: an expected date further ahead is a slip
PREGNANCY_PROMPT_DAYS_BEFORE_END = 7  # "with a prompt a week before"


def pregnancy_ends_on(expected_delivery: date | None, ended_on: date | None) -> date | None:
    """When the recorded pregnancy ends: the delivery or end date, else 14 days after the expected date."""
    if ended_on is not None:
        return ended_on
    if expected_delivery is not None:
        return expected_delivery + timedelta(days=PREGNANCY_ENDS_DAYS_AFTER_EXPECTED)
    return None


def pregnancy_open(pregnant: bool, expected_delivery: date | None, ended_on: date | None, today: date) -> bool:
    """A13: a pregnancy counts while recorded and not ended (by a delivery or end date, or 14 days after the
    expected date)."""
    if not pregnant:
        return False
    ends = pregnancy_ends_on(expected_delivery, ended_on)
    return ends is None or today < ends


def hypercoagulable_after_pregnancy(
    pregnant: bool, expected_delivery: date | None, ended_on: date | None, today: date
) -> bool:
    """A13 [D]: pregnancy and the 6 weeks after it count as a hypercoagulable state."""
    if not pregnant:
        return False
    ends = pregnancy_ends_on(expected_delivery, ended_on)
    return ends is None or today < ends + timedelta(days=POSTPARTUM_HYPERCOAGULABLE_DAYS)


def pregnancy_errors(
    *,
    pregnant: bool,
    expected_delivery: date | None,
    review_on: date | None,
    ended_on: date | None,
    today: date,
) -> dict[str, list[str]]:
    """What a pregnancy record needs (A13): an expected delivery date, or "not yet known" with a review date within
    4 weeks; dates a pregnancy can have."""
    errors: dict[str, list[str]] = {}
    if not pregnant:
        return errors
    if expected_delivery is None and review_on is None and ended_on is None:
        errors["expected_delivery_date"] = [
            "Give the expected delivery date, or, if not yet known, a date within 4 weeks to review it."
        ]
    if expected_delivery is not None and expected_delivery > today + timedelta(days=LONGEST_PREGNANCY_AHEAD_DAYS):
        errors["expected_delivery_date"] = ["An expected delivery date more than 42 weeks ahead is not possible."]
    review_window = today + timedelta(days=PREGNANCY_REVIEW_WITHIN_DAYS)
    if review_on is not None and expected_delivery is None and not today <= review_on <= review_window:
        errors["pregnancy_review_on"] = ["The review date is within the next 4 weeks."]
    if ended_on is not None and ended_on > today:
        errors["pregnancy_ended_on"] = ["The pregnancy cannot end in the future: record it once it has."]
    return errors
