"""Where a course and its days are given (docs/architecture.md "Wards and units")."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from core.errors import Conflict
from core.history import attribute_change
from core.models import Unit
from infusions.models import Infusion, InfusionStatus

# A day still to give, or being given, may move with its patient; a day already given stays where it was given.
MOVABLE_STATUSES = (InfusionStatus.SCHEDULED, InfusionStatus.IN_PROGRESS, InfusionStatus.PAUSED)


@transaction.atomic
def move_infusion_to_unit(*, infusion_id: int, unit_id: int | None, user: Any, reason: str = "") -> Infusion:
    """Give one day of a course in another unit (a transfer, a day moved to the day unit). The unit it was planned
    in stays in the infusion's history with who moved it and why; the order and the other days keep theirs."""
    unit = Unit.objects.filter(pk=unit_id, active=True).first() if unit_id is not None else None
    if unit is None:
        raise ValidationError({"unit": ["Choose an open unit to move this day to."]})
    infusion = Infusion.objects.select_for_update().get(pk=infusion_id)
    if infusion.status not in MOVABLE_STATUSES:
        raise Conflict(
            f"This infusion is {infusion.get_status_display().lower()}; a day already given stays in the unit where "
            "it was given."
        )
    if infusion.unit_id == unit.pk:
        raise ValidationError({"unit": [f"This day is already in {unit.name}."]})
    before = Unit.objects.get(pk=infusion.unit_id).name if infusion.unit_id is not None else "no unit"
    infusion.unit = unit
    change = f"Moved from {before} to {unit.name}"
    reason = (reason or "").strip()
    attribute_change(infusion, user, f"{change}: {reason}" if reason else change)
    infusion.save(update_fields=["unit", "updated_at"])
    return infusion
