"""The bedside fluid balance (docs/clinical-rules.md §A13 "Fluid"): whether one is kept for a course, recording an
intake or an output, and the balance as the bedside page and the API show it. The arithmetic is
``infusions.fluid_rules`` (pure); the rows are read by ``infusions.selectors.fluid_balance``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils import timezone

from core.history import attribute_change
from infusions import fluid_rules, selectors
from infusions.models import FluidEntry, FluidEntryKind, Infusion, Order
from infusions.services import safety
from infusions.services.bedside import typed_number

DESCRIPTION_MAX_LENGTH = 200
# A tablet's clock may run a few seconds ahead of the server (as for every bedside time).
CLOCK_SKEW = timedelta(seconds=5)


def fluid_balance_reasons(order: Order) -> tuple[str, ...]:
    """Why the bedside keeps a fluid balance for this course (§A13): cardiac dysfunction, eGFR < 60, volume depletion
    or sepsis; empty when none is kept. eGFR < 60 is the course's judgement fixed at verification (the order's
    record flag), or, for an order verified before it was stored, the latest creatinine's."""
    patient = order.patient
    flags = order.record_flags or {}
    egfr_below_60 = bool(flags[safety.EGFR_FLAG]) if safety.EGFR_FLAG in flags else bool(safety.low_egfr(patient))
    return fluid_rules.balance_reasons(
        cardiac_dysfunction=patient.cardiac_dysfunction,
        egfr_below_60=egfr_below_60,
        volume_depletion=patient.volume_depletion,
        sepsis=patient.sepsis,
    )


def fluid_balance_kept(order: Order) -> bool:
    return bool(fluid_balance_reasons(order))


def prehydration_due(order: Order, *, start_at: datetime) -> bool:
    """Whether a start of this course at ``start_at`` would meet prehydration_not_given (§A10): a renal or thrombosis
    risk factor without cardiac dysfunction, and no pre-hydration recorded within the window before it."""
    return bool(safety.prehydration_stops(order, start_at=start_at, config=safety.safety_config()))


@dataclass(frozen=True)
class FluidBalanceRow:
    """One entry with the running figures at its time, in whole millilitres."""

    id: int | None
    at: datetime
    kind: str
    kind_label: str
    volume_ml: int
    description: str
    entered_by: str
    ivig_ml: int
    intake_ml: int
    output_ml: int
    balance_ml: int


@dataclass(frozen=True)
class FluidBalanceReport:
    """The balance of one infusion as shown: from its start to ``at`` (now, or when it closed), in whole mL."""

    reasons: tuple[str, ...]
    started_at: datetime
    closes_at: datetime | None
    at: datetime
    rows: tuple[FluidBalanceRow, ...]
    ivig_ml: int
    intake_ml: int
    output_ml: int
    balance_ml: int

    @property
    def closed(self) -> bool:
        return self.closes_at is not None and self.at >= self.closes_at


def fluid_balance(infusion: Infusion, *, at: datetime | None = None) -> FluidBalanceReport | None:
    """The infusion's balance, IVIG volume included, or None where none is kept (the patient has none of the
    §A13 reasons) or the infusion has not started."""
    if infusion.started_at is None:
        return None
    reasons = fluid_balance_reasons(infusion.order)
    if not reasons:
        return None
    closes_at = selectors.fluid_balance_closes_at(infusion)
    balance = selectors.fluid_balance(infusion, at=at, closes_at=closes_at)
    if balance is None:
        return None
    entered_by = {
        entry.pk: entry.entered_by.get_username()
        for entry in infusion.fluid_entries.select_related("entered_by").only("pk", "entered_by__username")
    }
    labels = dict(FluidEntryKind.choices)
    whole = fluid_rules.whole_ml
    rows = tuple(
        FluidBalanceRow(
            id=row.ref,
            at=row.at,
            kind=str(row.kind),
            kind_label=labels[str(row.kind)],
            volume_ml=whole(row.volume_ml),
            description=row.description,
            entered_by=entered_by.get(row.ref or 0, ""),
            ivig_ml=whole(row.ivig_ml),
            intake_ml=whole(row.intake_ml),
            output_ml=whole(row.output_ml),
            balance_ml=whole(row.balance_ml),
        )
        for row in balance.rows
    )
    return FluidBalanceReport(
        reasons=reasons,
        started_at=infusion.started_at,
        closes_at=closes_at,
        at=balance.at,
        rows=rows,
        ivig_ml=whole(balance.ivig_ml),
        intake_ml=whole(balance.intake_ml),
        output_ml=whole(balance.output_ml),
        balance_ml=whole(balance.balance_ml),
    )


def fluid_balance_ml(infusion: Infusion) -> int | None:
    """The balance from the infusion's start, IVIG volume included, in whole mL; None where none is kept. Reads only
    what a list prefetches (the segments, the entries, the course's days)."""
    if infusion.started_at is None or not fluid_balance_reasons(infusion.order):
        return None
    balance = selectors.fluid_balance(infusion)
    return fluid_rules.whole_ml(balance.balance_ml) if balance is not None else None


def _checked_values(kind: Any, volume_ml: Any, description: Any) -> tuple[str, int, str]:
    """The entry's own values, each error against its field in clinical words, all at once."""
    errors: dict[str, list[str]] = {}
    kind = str(kind or "").strip()
    if kind not in FluidEntryKind.values:
        errors["kind"] = ["Choose intake or output."]
    volume: int | None = None
    if volume_ml is None or isinstance(volume_ml, bool) or str(volume_ml).strip() == "":
        errors["volume_ml"] = ["Enter the volume in mL."]
    else:
        number = typed_number(volume_ml)
        problem = (
            fluid_rules.volume_problem(number)
            if number is not None
            else (
                f"Enter the volume in whole millilitres, {fluid_rules.MIN_ENTRY_ML} to {fluid_rules.MAX_ENTRY_ML} mL."
            )
        )
        if problem:
            errors["volume_ml"] = [problem]
        else:
            volume = int(number) if number is not None else None
    description = str(description or "").strip()
    if len(description) > DESCRIPTION_MAX_LENGTH:
        errors["description"] = [
            f"Keep the description to {DESCRIPTION_MAX_LENGTH} characters (it has {len(description)})."
        ]
    if errors:
        raise ValidationError(errors)
    assert volume is not None
    return kind, volume, description


def _local(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


def record_fluid_entry(
    *,
    infusion_id: int,
    user: Any,
    kind: str,
    volume_ml: Any,
    recorded_at: datetime | None = None,
    description: str = "",
) -> FluidEntry:
    """Record an intake (other than the IVIG) or an output on the infusion's fluid balance (§A13), at
    ``recorded_at`` (default now: never in the future, never before the infusion's start, never after its balance
    closed). Refused when no balance is kept for the patient or the infusion has not started. Append-only."""
    kind, volume, description = _checked_values(kind, volume_ml, description)
    now = timezone.now()
    moment = recorded_at or now
    if moment > now + CLOCK_SKEW:
        raise ValidationError({"recorded_at": ["This time is in the future."]})
    with transaction.atomic():
        # Entries of one infusion are recorded one after another, and never beside its start or end being recorded:
        # the window an entry is judged against is the one it lands in. of=("self",): the order and patient rows are
        # read, not locked; NO KEY: the entry's own insert, which references this row, is not blocked by it.
        infusion = (
            Infusion.objects.select_for_update(no_key=True, of=("self",))
            .select_related("order__patient")
            .get(pk=infusion_id)
        )
        reasons = fluid_balance_reasons(infusion.order)
        if not reasons:
            raise ValidationError(
                {
                    NON_FIELD_ERRORS: [
                        "No fluid balance is kept for this patient: it is kept for cardiac dysfunction, eGFR below 60, "
                        "volume depletion or sepsis (none recorded)."
                    ]
                }
            )
        if infusion.started_at is None:
            raise ValidationError(
                {NON_FIELD_ERRORS: ["This infusion has not started: its fluid balance begins at the start."]}
            )
        if moment < infusion.started_at:
            raise ValidationError(
                {
                    "recorded_at": [
                        f"This time is before the infusion's start ({_local(infusion.started_at)}): the balance "
                        "begins at the start."
                    ]
                }
            )
        closes_at = selectors.fluid_balance_closes_at(infusion)
        if closes_at is not None and moment > closes_at:
            raise ValidationError(
                {
                    "recorded_at": [
                        f"This infusion's fluid balance closed at {_local(closes_at)} (the next day's start or 24 h "
                        "after its end): record the entry on the balance it belongs to."
                    ]
                }
            )
        entry = FluidEntry(
            infusion=infusion,
            kind=kind,
            volume_ml=volume,
            recorded_at=moment,
            description=description,
            entered_by=user,
        )
        attribute_change(entry, user)
        entry.save()
    return entry
