"""Which units a page shows: the user's default units unless another unit, or all, is chosen.

The worklist and the hematologist's review open on the units the user works in (``StaffUnits``); the choice is
carried in the query string (``?unit=<id>`` or ``?unit=all``). A record with no unit (recorded before units
existed, or never placed) is shown in every unit's list, so that nothing disappears from every list because it
has no unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Q

from core.models import StaffUnits, Unit

ALL_UNITS = "all"


@dataclass(frozen=True)
class UnitChoice:
    """What a list shows. ``unit_ids`` is None for every unit."""

    unit_ids: tuple[int, ...] | None
    selected: str  # the query-string value: "" (the user's units), "all", or a unit's id
    units: list[Unit]  # the selector's options, each with ``is_default``
    hint: str = ""

    @property
    def defaults(self) -> list[Unit]:
        return [unit for unit in self.units if getattr(unit, "is_default", False)]

    def q(self, field: str = "unit", *also: str) -> Q:
        """The filter on ``field`` (a unit foreign key): records in the chosen units, and records with no unit.
        A record is also shown when any of the ``also`` fields is in the chosen units (a check is followed where
        the course was given and where the patient is now)."""
        if self.unit_ids is None:
            return Q()
        shown = Q(**{f"{field}__in": self.unit_ids}) | Q(**{f"{field}__isnull": True})
        for other in also:
            shown |= Q(**{f"{other}__in": self.unit_ids})
        return shown

    @property
    def query_string(self) -> str:
        """``unit=<value>`` to carry the choice on links, empty for the user's own units."""
        return f"unit={self.selected}" if self.selected else ""


def unit_options(user: Any) -> list[Unit]:
    """The active units and the user's default units (even an inactive one), in one query, each annotated with
    ``is_default``."""
    mine = StaffUnits.default_units.through.objects.filter(unit=OuterRef("pk"), staffunits__user_id=user.pk)
    return list(Unit.objects.annotate(is_default=Exists(mine)).filter(Q(active=True) | Q(is_default=True)))


def choose_units(user: Any, value: str | None) -> UnitChoice:
    """The units a page shows for the query-string ``value`` ("" or absent: the user's units)."""
    units = unit_options(user)
    value = (value or "").strip()
    if value == ALL_UNITS:
        return UnitChoice(unit_ids=None, selected=ALL_UNITS, units=units)
    hint = ""
    if value:
        chosen = next((unit for unit in units if str(unit.pk) == value), None)
        if chosen is None and value.isascii() and value.isdigit() and len(value) < 12:
            chosen = Unit.objects.filter(pk=int(value)).first()  # an inactive unit is still readable
        if chosen is not None:
            return UnitChoice(unit_ids=(chosen.pk,), selected=str(chosen.pk), units=units)
        hint = "That unit does not exist. "
    defaults = tuple(unit.pk for unit in units if getattr(unit, "is_default", False))
    if not defaults:
        return UnitChoice(
            unit_ids=None,
            selected=ALL_UNITS,
            units=units,
            hint=hint + "Showing every unit: you have no default units (IT sets them in the admin).",
        )
    return UnitChoice(unit_ids=defaults, selected="", units=units, hint=hint + "Showing your units." if hint else "")
