"""The bedside fluid balance (docs/clinical-rules.md §A13 "Fluid"), as pure functions of plain values.

For cardiac dysfunction, eGFR < 60, volume depletion or sepsis the bedside keeps a fluid balance from each
infusion's start until the next day's start or 24 h after its end: the IVIG volume worked out from the pump's rate
segments, other intake and output as the nurse enters them, and the running balance (intake minus output).

Nothing here imports Django: the services gather the segments and entries and pass them in, the current time
included. Volumes are worked out in ``Decimal`` and rounded to whole millilitres only for display (``whole_ml``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

__all__ = [
    "BALANCE_HOURS_AFTER_END",
    "MAX_ENTRY_ML",
    "MIN_ENTRY_ML",
    "BalanceRow",
    "EntryKind",
    "FluidBalance",
    "FluidEntry",
    "Segment",
    "balance_reasons",
    "balance_window_end",
    "ivig_volume_ml",
    "running_balance",
    "volume_problem",
    "whole_ml",
]

# §A13: the balance runs "until the next day's start or 24 h after its end".
BALANCE_HOURS_AFTER_END = 24
# [D] design default: one entry is a drink, a bag, a urine measurement; 1 to 5000 mL. A value outside is a slip
# (litres typed as millilitres, a missing digit) rather than a volume a nurse measures in one go.
MIN_ENTRY_ML = 1
MAX_ENTRY_ML = 5000

_HOUR = Decimal(3600)


class EntryKind(StrEnum):
    INTAKE = "intake"  # any intake other than the IVIG itself: drinks, other infusions, pre-hydration
    OUTPUT = "output"  # urine, vomit, drains


@dataclass(frozen=True)
class Segment:
    """A stretch of the infusion at one pump rate (a pause is a segment at 0 mL/h); open while ``ended_at`` is None."""

    rate_ml_per_h: Decimal
    started_at: datetime
    ended_at: datetime | None = None


@dataclass(frozen=True)
class FluidEntry:
    kind: EntryKind
    volume_ml: Decimal
    at: datetime
    description: str = ""
    ref: int | None = None  # the caller's key for the entry (the stored row's id), carried to its row

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", EntryKind(self.kind))
        object.__setattr__(self, "volume_ml", Decimal(self.volume_ml))


@dataclass(frozen=True)
class BalanceRow:
    """One entry of the balance with the running figures at its time: the IVIG given so far, other intake and
    output so far (this entry included), and the balance (IVIG + other intake - output)."""

    at: datetime
    kind: EntryKind
    volume_ml: Decimal
    description: str
    ivig_ml: Decimal
    intake_ml: Decimal
    output_ml: Decimal
    balance_ml: Decimal
    ref: int | None = None


@dataclass(frozen=True)
class FluidBalance:
    """The balance as of ``at``: its rows in time order and the totals."""

    at: datetime
    rows: tuple[BalanceRow, ...]
    ivig_ml: Decimal
    intake_ml: Decimal
    output_ml: Decimal
    balance_ml: Decimal

    @property
    def total_intake_ml(self) -> Decimal:
        """Everything in: the IVIG and the other intake."""
        return self.ivig_ml + self.intake_ml


def balance_reasons(
    *, cardiac_dysfunction: bool, egfr_below_60: bool, volume_depletion: bool, sepsis: bool
) -> tuple[str, ...]:
    """Why a balance is kept for this patient (§A13), in clinician wording; empty when none is kept."""
    reasons = (
        ("cardiac dysfunction", cardiac_dysfunction),
        ("eGFR below 60", egfr_below_60),
        ("volume depletion", volume_depletion),
        ("sepsis", sepsis),
    )
    return tuple(label for label, present in reasons if present)


def balance_window_end(
    *, ended_at: datetime | None, next_day_started_at: datetime | None, hours_after_end: int = BALANCE_HOURS_AFTER_END
) -> datetime | None:
    """When the balance of an infusion closes: the next day's start or ``hours_after_end`` after its end, whichever
    comes first; None while neither is known (it is still running and no later day has started)."""
    candidates = [moment for moment in (next_day_started_at,) if moment is not None]
    if ended_at is not None:
        candidates.append(ended_at + timedelta(hours=hours_after_end))
    return min(candidates) if candidates else None


def ivig_volume_ml(segments: Sequence[Segment], at: datetime) -> Decimal:
    """The IVIG volume infused by ``at``: each segment's rate times the part of it before ``at`` (an open segment runs
    up to ``at``; a pause counts nothing). Exact: not rounded."""
    total = Decimal(0)
    for segment in segments:
        end = segment.ended_at if segment.ended_at is not None else at
        end = min(end, at)
        if end <= segment.started_at:
            continue
        seconds = Decimal((end - segment.started_at) / timedelta(microseconds=1)) / Decimal(1_000_000)
        total += Decimal(segment.rate_ml_per_h) * seconds / _HOUR
    return total


def running_balance(segments: Sequence[Segment], entries: Sequence[FluidEntry], at: datetime) -> FluidBalance:
    """The balance as of ``at``: one row per entry up to ``at`` in time order (entries at the same moment in the
    order given), each with the IVIG given by its time and the running figures; then the totals at ``at``."""
    ordered = sorted((entry for entry in entries if entry.at <= at), key=lambda entry: entry.at)
    intake = output = Decimal(0)
    rows: list[BalanceRow] = []
    for entry in ordered:
        if entry.kind is EntryKind.INTAKE:
            intake += entry.volume_ml
        else:
            output += entry.volume_ml
        ivig = ivig_volume_ml(segments, entry.at)
        rows.append(
            BalanceRow(
                at=entry.at,
                kind=entry.kind,
                volume_ml=entry.volume_ml,
                description=entry.description,
                ivig_ml=ivig,
                intake_ml=intake,
                output_ml=output,
                balance_ml=ivig + intake - output,
                ref=entry.ref,
            )
        )
    ivig = ivig_volume_ml(segments, at)
    return FluidBalance(
        at=at,
        rows=tuple(rows),
        ivig_ml=ivig,
        intake_ml=intake,
        output_ml=output,
        balance_ml=ivig + intake - output,
    )


def whole_ml(volume: Decimal) -> int:
    """A volume as the bedside shows it: whole millilitres, halves away from zero (-0.5 is -1, 2.5 is 3)."""
    return int(Decimal(volume).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def volume_problem(volume_ml: Decimal | int) -> str | None:
    """Why a volume cannot be recorded as one entry, in clinical words; None when it can."""
    volume = Decimal(volume_ml)
    if not volume.is_finite() or volume != volume.to_integral_value():
        return f"Enter the volume in whole millilitres, {MIN_ENTRY_ML} to {MAX_ENTRY_ML} mL."
    if volume < MIN_ENTRY_ML:
        return f"The volume must be at least {MIN_ENTRY_ML} mL (nothing taken in or passed is not an entry)."
    if volume > MAX_ENTRY_ML:
        shown = f"{whole_ml(volume)} mL" if volume < 10**9 else "This volume"  # 1e999 has no whole mL to show
        return (
            f"{shown} is more than {MAX_ENTRY_ML} mL in one entry: check the unit (litres typed as "
            "millilitres?) or record it as several entries."
        )
    return None
