from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from core.models import Heartbeat


def record_heartbeat(name: str, *, now: datetime | None = None) -> Heartbeat:
    heartbeat, _ = Heartbeat.objects.update_or_create(name=name, defaults={"last_seen_at": now or timezone.now()})
    return heartbeat
