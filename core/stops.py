"""How a safety stop works (docs/clinical-rules.md §A8): the stop itself, who may override it, and how a request's
overrides settle the stops it raises.

Pure: no Django, no database. The rules that raise stops live beside the other clinical rules
(``infusions/safety_rules.py``, ``patients/rules.py``); the services gather the facts, call the rules, and settle
the result here, so pages, the API, the admin and tasks get the same answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

__all__ = [
    "OVERRIDE_REASON_MAX_LENGTH",
    "Actor",
    "Kind",
    "Overrider",
    "Settlement",
    "Stage",
    "Stop",
    "is_late_documentation",
    "may_override",
    "settle",
]

OVERRIDE_REASON_MAX_LENGTH = 500  # A8: a reason of 1-500 characters


class Kind(StrEnum):
    HARD = "hard"  # refused, no override; the message says what to do instead
    OVERRIDE = "override"  # refused unless the request carries a reason from a user in the rule's role
    WARNING = "warning"  # shown and stored, never blocks


class Overrider(StrEnum):
    """Who may override (A8's "who overrides" column)."""

    HEMATOLOGIST = "hematologist"
    PHARMACIST = "pharmacist"
    VERIFIER = "verifier"  # a pharmacist, or a hematologist who did not create the order
    NURSE = "nurse"
    ANY = "any"  # the user recording


class Stage(StrEnum):
    """Where a rule is checked (A8 "When"); ``documented_late`` marks what a late entry would have met."""

    CREATE = "create"
    VERIFY = "verify"
    START = "start"
    RATE = "rate"
    RESUME = "resume"
    COMPLETE = "complete"
    DOCUMENTED_LATE = "documented_late"


@dataclass(frozen=True)
class Stop:
    """One rule's finding. ``fingerprint`` names the facts that raised it, so an override stays valid while they
    hold and is asked again when they change (A8)."""

    code: str
    kind: Kind
    message: str
    overrider: Overrider | None = None
    field: str | None = None
    fingerprint: str = ""

    def __post_init__(self) -> None:
        if (self.kind is Kind.OVERRIDE) != (self.overrider is not None):
            raise ValueError(f"{self.code}: an override stop names who overrides it, and only an override stop does")

    def as_dict(self) -> dict[str, Any]:
        """The API's shape (docs/api.md "Safety stops"): role is null only for a hard stop."""
        return {
            "code": self.code,
            "kind": str(self.kind),
            "message": self.message,
            "role": str(self.overrider) if self.overrider is not None else None,
            "field": self.field,
        }


@dataclass(frozen=True)
class Actor:
    """The user asking, as the rules need them: roles held, and whether they created the order at hand."""

    roles: frozenset[str]
    created_the_order: bool = False
    superuser: bool = False


def may_override(actor: Actor, overrider: Overrider) -> bool:
    """A8's "who overrides" column. It names clinical roles only: an administrator account without the role gives
    no clinical reason."""
    if overrider is Overrider.ANY:
        return True
    if overrider is Overrider.VERIFIER:
        return "pharmacist" in actor.roles or ("hematologist" in actor.roles and not actor.created_the_order)
    return str(overrider) in actor.roles


@dataclass(frozen=True)
class Settlement:
    """What a request's overrides make of the stops it raises.

    - ``refused``: hard stops, and override stops without a reason (the request is refused with every one);
    - ``forbidden``: override stops whose reason came from a user without the role (403, nothing stored);
    - ``overridden``: override stops settled now, each with its reason (stored with the event);
    - ``carried``: override stops settled earlier for the same facts (shown, not asked again);
    - ``awaiting_verifier``: stops only the verifier may override, met at creation: shown as "verifier's reason
      needed" and asked at verification (A8);
    - ``warnings``: shown and stored, never blocking.
    """

    refused: tuple[Stop, ...] = ()
    forbidden: tuple[Stop, ...] = ()
    overridden: tuple[tuple[Stop, str], ...] = ()
    carried: tuple[Stop, ...] = ()
    awaiting_verifier: tuple[Stop, ...] = ()
    warnings: tuple[Stop, ...] = ()
    # Override stops given a reason that is blank or longer than OVERRIDE_REASON_MAX_LENGTH: refused as such.
    badly_reasoned: tuple[Stop, ...] = field(default=())

    @property
    def blank_reasons(self) -> tuple[str, ...]:
        return tuple(stop.code for stop in self.badly_reasoned)

    @property
    def blocked(self) -> bool:
        return bool(self.refused or self.forbidden or self.badly_reasoned)

    @property
    def stops(self) -> tuple[Stop, ...]:
        """Every stop the request raises that it has not settled, for the refusal's ``stops`` list."""
        return self.refused + self.forbidden + self.badly_reasoned


def settle(
    stops: Iterable[Stop],
    *,
    overrides: Mapping[str, str],
    actor: Actor,
    stage: Stage,
    settled_before: Mapping[str, str] | None = None,
) -> Settlement:
    """Settle ``stops`` with the request's ``overrides`` (code -> reason).

    ``settled_before`` maps the codes overridden earlier on the same order to the fingerprint they were given for;
    a stop whose fingerprint still matches is carried, not asked again. An override for a code the request does not
    raise is ignored (and not stored). A reason must be 1-500 characters (A8): a blank or longer one is an error in
    itself. At creation a stop only the verifier may override waits for the verifier, whatever reason is sent.
    """
    earlier = settled_before or {}
    refused: list[Stop] = []
    forbidden: list[Stop] = []
    overridden: list[tuple[Stop, str]] = []
    carried: list[Stop] = []
    awaiting: list[Stop] = []
    warnings: list[Stop] = []
    badly_reasoned: list[Stop] = []
    for stop in _distinct(stops):
        if stop.kind is Kind.WARNING:
            warnings.append(stop)
            continue
        if stop.kind is Kind.HARD:
            refused.append(stop)
            continue
        assert stop.overrider is not None
        if stop.code in earlier and earlier[stop.code] == stop.fingerprint:
            carried.append(stop)
            continue
        if stage is Stage.CREATE and stop.overrider is Overrider.VERIFIER:
            awaiting.append(stop)  # the prescriber never gives the verifier's reason
            continue
        if stop.code in overrides:
            reason = overrides[stop.code].strip()
            if not reason or len(reason) > OVERRIDE_REASON_MAX_LENGTH:
                badly_reasoned.append(stop)
            elif may_override(actor, stop.overrider):
                overridden.append((stop, reason))
            else:
                forbidden.append(stop)
            continue
        refused.append(stop)
    return Settlement(
        refused=tuple(refused),
        forbidden=tuple(forbidden),
        overridden=tuple(overridden),
        carried=tuple(carried),
        awaiting_verifier=tuple(awaiting),
        warnings=tuple(warnings),
        badly_reasoned=tuple(badly_reasoned),
    )


def _distinct(stops: Iterable[Stop]) -> list[Stop]:
    """One finding per code: a rule checked twice for one event (say at verify and at start of day 1) counts once,
    keeping the strictest kind."""
    strictness = {Kind.HARD: 2, Kind.OVERRIDE: 1, Kind.WARNING: 0}
    by_code: dict[str, Stop] = {}
    for stop in stops:
        kept = by_code.get(stop.code)
        if kept is None or strictness[stop.kind] > strictness[kept.kind]:
            by_code[stop.code] = stop
    return list(by_code.values())


def is_late_documentation(event_at: datetime, recorded_at: datetime, *, after: timedelta) -> bool:
    """A8: an event recorded more than ``after`` (15 min by default) after its own time is late documentation; its
    stops are stored as documented deviations instead of refusing it."""
    return recorded_at - event_at > after
