from __future__ import annotations

from celery import shared_task

from core import services


# Celery ships no type hints, so mypy sees its decorator as untyped.
@shared_task(name="core.tasks.record_heartbeat", ignore_result=True)  # type: ignore[untyped-decorator]
def record_heartbeat(name: str) -> None:
    """Beat sends this every minute; the row it writes shows that broker, worker and database all work."""
    services.record_heartbeat(name)
