"""Laboratory values beside the platelet count (docs/clinical-rules.md §A13): creatinine, hemoglobin and ABO/Rh
group, converted by the unit the laboratory sent (never by the test's code), checked for plausibility, and eGFR.

Pure functions over plain values: no Django, no clock. Every number is a default in ``LabConfig``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

__all__ = [
    "DEFAULT_LAB_CONFIG",
    "BloodGroupError",
    "Egfr",
    "EgfrEquation",
    "LabConfig",
    "LabTest",
    "LabValueError",
    "UNITS",
    "blood_group",
    "egfr",
    "to_si",
]


class LabTest(StrEnum):
    CREATININE = "creatinine"
    HEMOGLOBIN = "hemoglobin"
    BLOOD_GROUP = "blood_group"


# The SI unit each numeric test is stored in (A13).
SI_UNITS = {LabTest.CREATININE: "umol/L", LabTest.HEMOGLOBIN: "g/L"}

# A13: the factor from each unit a laboratory sends to the stored SI unit. Keys are UCUM as sent, compared without
# case; "µmol/L" (micro sign) is the same unit as "umol/L".
UNITS: dict[LabTest, dict[str, Decimal]] = {
    LabTest.CREATININE: {"umol/l": Decimal(1), "mmol/l": Decimal(1000), "mg/dl": Decimal("88.4")},
    LabTest.HEMOGLOBIN: {"g/l": Decimal(1), "g/dl": Decimal(10), "mmol/l": Decimal("16.11")},
}

# CKD-EPI works in mg/dL: 1 mg/dL of creatinine is 88.4 µmol/L (A13's factor).
UMOL_PER_MG_DL = Decimal("88.4")


@dataclass(frozen=True)
class LabConfig:
    """A13's defaults; each a hospital setting."""

    # [D] plausible ranges, in the stored SI unit.
    creatinine_min_umol_l: Decimal = Decimal(10)
    creatinine_max_umol_l: Decimal = Decimal(2500)
    hemoglobin_min_g_l: Decimal = Decimal(20)
    hemoglobin_max_g_l: Decimal = Decimal(250)
    # eGFR is "not reliable" when creatinine moved this much in the previous 48 h (KDIGO's 0.3 mg/dL).
    unstable_creatinine_change_umol_l: Decimal = Decimal("26.5")
    unstable_creatinine_hours: int = 48


DEFAULT_LAB_CONFIG = LabConfig()


class LabValueError(ValueError):
    """A value or unit the system refuses; the message is shown beside the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class BloodGroupError(LabValueError):
    pass


def _unit_key(unit: str) -> str:
    return unit.strip().replace("µ", "u").replace("μ", "u").lower()


def to_si(test: LabTest, value: Decimal, unit: str, config: LabConfig = DEFAULT_LAB_CONFIG) -> Decimal:
    """The value in the stored SI unit, converted by the unit sent; refused (``LabValueError``) for a unit not
    listed for the test, a value that is not a finite positive number, or one outside the plausible range."""
    factors = UNITS.get(test)
    if factors is None:
        raise LabValueError("test", f"{test} has no numeric value.")
    factor = factors.get(_unit_key(unit))
    if factor is None:
        allowed = ", ".join(("µmol/L" if u == "umol/l" else u[:-1] + "L") for u in factors)
        raise LabValueError("unit", f"The unit {unit!r} is not one this system converts for {test} ({allowed}).")
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise LabValueError("value", f"The {test} value must be a positive number.")
    if value.adjusted() > 6 or value.adjusted() < -6:
        # Beyond any plausible value in any unit (and "9e999999" would overflow the arithmetic).
        raise LabValueError("value", f"The {test} value {value} is not plausible: check the value and its unit.")
    si = value * factor
    low, high = _plausible(test, config)
    if not low <= si <= high:
        unit_si = "µmol/L" if test == LabTest.CREATININE else "g/L"
        raise LabValueError(
            "value",
            f"A {test} of {_shown(si)} {unit_si} is not plausible (expected {_shown(low)}–{_shown(high)} {unit_si}): "
            "check the value and its unit.",
        )
    return si.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _plausible(test: LabTest, config: LabConfig) -> tuple[Decimal, Decimal]:
    if test == LabTest.CREATININE:
        return config.creatinine_min_umol_l, config.creatinine_max_umol_l
    return config.hemoglobin_min_g_l, config.hemoglobin_max_g_l


def _shown(value: Decimal) -> str:
    text = f"{value.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


_GROUPS = {"O", "A", "B", "AB"}
_RH = {"+": "+", "POS": "+", "POSITIVE": "+", "-": "-", "NEG": "-", "NEGATIVE": "-"}


def blood_group(text: str) -> str:
    """ABO/Rh as stored (A13): ``O+``, ``A-``, ``AB+``... from what a laboratory or a person writes ("O pos",
    "A Rh-", "ab neg", "0+" for O). Refused (``BloodGroupError``) when either part is missing or unknown."""
    cleaned = text.strip().upper()
    for noise in ("BLOOD GROUP", "GROUP", "RH(D)", "(D)", "RHD", "RH", "(", ")", ":"):
        cleaned = cleaned.replace(noise, " ")
    cleaned = cleaned.replace("0", "O")
    compact = cleaned.replace(" ", "")
    for group in sorted(_GROUPS, key=len, reverse=True):
        if compact.startswith(group):
            rh = _RH.get(compact[len(group) :])
            if rh is not None:
                return f"{group}{rh}"
            break
    raise BloodGroupError("value", f"{text!r} is not an ABO and Rh group (write it like O+, A-, AB+).")


class EgfrEquation(StrEnum):
    CKD_EPI_2021 = "ckd_epi_2021"
    BEDSIDE_SCHWARTZ = "bedside_schwartz"


@dataclass(frozen=True)
class Egfr:
    """An eGFR in mL/min/1.73 m², with the equation used, or none (under 1 year, or a child without a height);
    ``not_reliable`` says why it should not be trusted, when A13 says so."""

    value: Decimal | None
    equation: EgfrEquation | None
    not_reliable: str = ""


def egfr(
    *,
    creatinine_umol_l: Decimal,
    collected_on: date,
    birth_date: date,
    female: bool,
    height_cm: Decimal | None = None,
    pregnant: bool = False,
    previous_creatinines: tuple[tuple[datetime, Decimal], ...] = (),
    collected_at: datetime | None = None,
    config: LabConfig = DEFAULT_LAB_CONFIG,
) -> Egfr:
    """A13: CKD-EPI 2021 from 18 years, bedside Schwartz from 1 to 17 years, none under 1 year. Rounded half up to
    a whole mL/min/1.73 m², as laboratories report it.

    ``previous_creatinines`` are (collected at, µmol/L) of the patient's earlier results: a move of 26.5 µmol/L or
    more in the 48 h before ``collected_at`` marks the value "not reliable", as pregnancy does."""
    if creatinine_umol_l <= 0:
        raise ValueError("creatinine must be positive")
    years = _age_years(birth_date, collected_on)
    reasons = []
    if pregnant:
        reasons.append("pregnancy")
    if collected_at is not None and _creatinine_moved(creatinine_umol_l, collected_at, previous_creatinines, config):
        reasons.append("creatinine changed by 26.5 µmol/L or more in the previous 48 h")
    not_reliable = "; ".join(reasons)
    scr = creatinine_umol_l / UMOL_PER_MG_DL
    if years < 1:
        return Egfr(value=None, equation=None, not_reliable=not_reliable)
    if years < 18:
        if height_cm is None or height_cm <= 0:
            return Egfr(value=None, equation=EgfrEquation.BEDSIDE_SCHWARTZ, not_reliable=not_reliable)
        value = Decimal("0.413") * height_cm / scr
        return Egfr(value=_whole(value), equation=EgfrEquation.BEDSIDE_SCHWARTZ, not_reliable=not_reliable)
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)
    ratio = float(scr) / kappa
    value_float = 142 * min(ratio, 1) ** alpha * max(ratio, 1) ** -1.200 * 0.9938**years
    if female:
        value_float *= 1.012
    if not math.isfinite(value_float):
        raise ValueError("eGFR is not a finite number")
    return Egfr(value=_whole(Decimal(repr(value_float))), equation=EgfrEquation.CKD_EPI_2021, not_reliable=not_reliable)


def _whole(value: Decimal) -> Decimal:
    return value.quantize(Decimal(1), rounding=ROUND_HALF_UP)


def _age_years(birth_date: date, on: date) -> int:
    years = on.year - birth_date.year
    if (on.month, on.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def _creatinine_moved(
    value: Decimal,
    collected_at: datetime,
    previous: tuple[tuple[datetime, Decimal], ...],
    config: LabConfig,
) -> bool:
    since = collected_at - timedelta(hours=config.unstable_creatinine_hours)
    return any(
        since <= at < collected_at and abs(value - earlier) >= config.unstable_creatinine_change_umol_l
        for at, earlier in previous
    )
