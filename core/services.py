from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.models import Heartbeat, StaffUnits, Unit


def record_heartbeat(name: str, *, now: datetime | None = None) -> Heartbeat:
    heartbeat, _ = Heartbeat.objects.update_or_create(name=name, defaults={"last_seen_at": now or timezone.now()})
    return heartbeat


@transaction.atomic
def set_default_units(*, user: Any, units: Iterable[Unit]) -> StaffUnits:
    """Replace the units ``user`` works in (the worklist and review open on them); history keeps the earlier set."""
    staff_units, _ = StaffUnits.objects.select_for_update().get_or_create(user=user)
    staff_units.default_units.set(list(units))
    staff_units.save()  # a history row with the new set
    return staff_units
