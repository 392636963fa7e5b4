"""What the bedside screen shows: the plan's current and next step, progress, when vitals are due, the
timeline. Read-only; every change goes through infusions.services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from infusions import selectors, services, vitals_rules
from infusions.models import FluidEntryKind, Infusion, InfusionStatus
from patients import selectors as patient_selectors


@dataclass(frozen=True)
class PlanPosition:
    steps: list[dict[str, Any]]
    current_index: int | None
    next_step: dict[str, Any] | None
    next_step_allowed_at: datetime | None
    at_max_since: datetime | None


def plan_position(infusion: Infusion, segments: list[Any]) -> PlanPosition:
    plan = infusion.order.rate_plan or {}
    steps = plan.get("steps", [])
    running = [s for s in segments if s.rate_ml_per_h > 0]
    current_rate = infusion.current_rate_ml_per_h
    current_index = None
    if current_rate is not None:
        for index, step in enumerate(steps):
            if Decimal(str(step["rate_ml_per_h"])) <= current_rate:
                current_index = index
    next_step = None
    allowed_at = None
    if steps and infusion.status == InfusionStatus.IN_PROGRESS:
        following = 0 if current_index is None else current_index + 1
        if following < len(steps):
            next_step = steps[following]
            last_change = running[-1].started_at if running else infusion.started_at
            allowed_at = last_change + timedelta(minutes=plan.get("step_up_interval_min") or 30)
    at_max_since = None
    maximum = services.max_rate_ml_per_h(infusion.order)
    if maximum is not None and current_rate is not None and current_rate >= maximum and running:
        at_max_since = running[-1].started_at
    return PlanPosition(steps, current_index, next_step, allowed_at, at_max_since)


def extended_observation(infusion: Infusion) -> bool:
    previous = (
        Infusion.objects.filter(order__patient_id=infusion.order.patient_id, status=InfusionStatus.COMPLETED)
        .exclude(pk=infusion.pk)
        .select_related("order")
        .order_by("-completed_at")
        .first()
    )
    gap = (infusion.started_at or timezone.now()) - previous.completed_at if previous else None
    return vitals_rules.extended_observation_required(
        first_ever_infusion=previous is None,
        product_switched=previous is not None and previous.order.product_id != infusion.order.product_id,
        weeks_since_last_ivig=max(gap / timedelta(weeks=1), 0.0) if gap is not None else None,
    )


def vitals_due(infusion: Infusion, vitals: list[Any], position: PlanPosition, now: datetime) -> Any:
    ended_at = infusion.ended_at
    if infusion.status == InfusionStatus.STOPPED and infusion.started_at is None:
        return None
    next_increase = position.next_step_allowed_at if position.next_step else None
    return vitals_rules.next_vitals_due(
        now=now,
        started_at=infusion.started_at,
        completed_at=ended_at,
        last_vitals_at=vitals[-1].taken_at if vitals else None,
        at_max_rate_since=position.at_max_since,
        next_rate_increase_at=next_increase,
        extended_observation=extended_observation(infusion) if ended_at else False,
        post_completion_sets_taken=sum(1 for v in vitals if ended_at and v.taken_at >= ended_at),
        stopped=infusion.status == InfusionStatus.STOPPED,
    )


def progress(infusion: Infusion, now: datetime) -> dict[str, Any]:
    planned = infusion.volume_ml or Decimal("0")
    given = infusion.volume_infused_ml if infusion.ended_at else services.volume_infused_ml(infusion, until=now)
    percent = int(min(given / planned * 100, 100)) if planned else 0
    expected_end = None
    rate = infusion.current_rate_ml_per_h
    if infusion.status == InfusionStatus.IN_PROGRESS and rate and planned > given:
        expected_end = now + timedelta(hours=float((planned - given) / rate))
    return {"planned_ml": planned, "given_ml": given, "percent": percent, "expected_end": expected_end}


def timeline(infusion: Infusion, vitals: list[Any], segments: list[Any], reactions: list[Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for entry in vitals:
        events.append({"at": entry.taken_at, "kind": "vitals", "entry": entry})
    for segment in segments:
        events.append({"at": segment.started_at, "kind": "rate", "segment": segment})
    for reaction in reactions:
        events.append({"at": reaction.noted_at, "kind": "reaction", "reaction": reaction})
    if infusion.completed_at:
        events.append({"at": infusion.completed_at, "kind": "completed"})
    if infusion.stopped_at:
        events.append({"at": infusion.stopped_at, "kind": "stopped", "reason": infusion.stop_reason})
    return sorted(events, key=lambda event: event["at"], reverse=True)


@dataclass(frozen=True)
class ChildLimits:
    """What the nurse reads beside the vitals form for a child under 12 (§A11): the band for today's age."""

    band: vitals_rules.ChildVitalsBand
    hypotension_below_mmhg: int


def child_limits(birth_date: Any, now: datetime) -> ChildLimits | None:
    """The §A11 limits for the patient's age on the hospital's date, or None from 12 years (§A5 applies)."""
    today = timezone.localdate(now)
    if today < birth_date:
        return None
    age = vitals_rules.AgeAtSet.on(birth_date, today)
    band = vitals_rules.child_band(age)
    if band is None:
        return None
    return ChildLimits(band=band, hypotension_below_mmhg=vitals_rules.child_hypotension_limit_mmhg(age)[0])


def baseline_of(infusion: Infusion, vitals: list[Any]) -> Any:
    """The latest set at or before the start (§A10); before the start, the latest set so far (the one a start now
    would be judged on)."""
    before = [v for v in vitals if infusion.started_at is None or v.taken_at <= infusion.started_at]
    return before[-1] if before else None


def bedside_context(infusion_id: int, now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    infusion = (
        Infusion.objects.select_related("order__patient", "order__product")
        .prefetch_related("vial_lots")
        .get(pk=infusion_id)
    )
    vitals = list(infusion.vitals.all())
    segments = list(infusion.rate_segments.all())
    reactions = list(infusion.reactions.all())
    position = plan_position(infusion, segments)
    return {
        "infusion": infusion,
        "order": infusion.order,
        "patient": infusion.order.patient,
        # The banner: the day's product at the concentration its rates were worked out at, and every IVIG
        # reaction the patient has had, here or reported from elsewhere.
        "product": infusion.given_product,
        "concentration_percent": infusion.given_product.concentration_for(
            infusion.order.prepared_concentration_percent
        ),
        "ivig_reactions": patient_selectors.ivig_reactions(infusion.order.patient, every_grade=True),
        "co_therapies": patient_selectors.recent_co_therapies(infusion.order.patient_id, now=now),
        "child_limits": child_limits(infusion.order.patient.birth_date, now),
        "vitals": vitals,
        "latest_vitals": vitals[-1] if vitals else None,
        "baseline": baseline_of(infusion, vitals),
        "position": position,
        "next_step_ready": position.next_step_allowed_at is not None and position.next_step_allowed_at <= now,
        "vitals_due": vitals_due(infusion, vitals, position, now),
        "progress": progress(infusion, now),
        "timeline": timeline(infusion, vitals, segments, reactions),
        "checklist_items": services.checklist_items(infusion.order),
        "reaction_types": vitals_rules.REACTION_TYPES,
        "ctcae_grades": vitals_rules.CTCAE_GRADES,
        "overrides": list(selectors.overrides_of_order(infusion.order_id, infusion_id=infusion.pk)),
        # §A13 "Fluid": why a balance is kept for this course (empty: none), and the balance once the day started.
        "fluid_reasons": services.fluid_balance_reasons(infusion.order),
        "fluid_balance": services.fluid_balance(infusion, at=now),
        "fluid_kinds": FluidEntryKind.choices,
        "suggested_resume_rate": services.suggested_resume_rate_ml_per_h(infusion)
        if infusion.status == InfusionStatus.PAUSED
        else None,
        "now": now,
    }


def worklist_vitals_due(infusion: Infusion, now: datetime) -> Any:
    """When the next set is due, from what the worklist query annotated (no query per row): the last set
    and the infusion's own times; titration steps are not known here, so the 15-min rule applies."""
    if infusion.status == InfusionStatus.SCHEDULED:
        return None
    return vitals_rules.next_vitals_due(
        now=now,
        started_at=infusion.started_at,
        completed_at=infusion.ended_at,
        last_vitals_at=getattr(infusion, "last_vitals_at", None),
        at_max_rate_since=None,
        next_rate_increase_at=None,
        extended_observation=False,
        post_completion_sets_taken=0,
        stopped=infusion.status == InfusionStatus.STOPPED,
    )
