from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from core import services, tokens


# Celery ships no type hints, so mypy sees its decorator as untyped.
@shared_task(name="core.tasks.record_heartbeat", ignore_result=True)  # type: ignore[untyped-decorator]
def record_heartbeat(name: str) -> None:
    """Beat sends this every minute; the row it writes shows that broker, worker and database all work."""
    services.record_heartbeat(name)


@shared_task(name="core.tasks.delete_expired_api_tokens", ignore_result=True)  # type: ignore[untyped-decorator]
def delete_expired_api_tokens() -> None:
    """Hourly housekeeping; idempotent (a second run finds nothing)."""
    tokens.delete_expired_tokens(older_than=timedelta(days=settings.IVIG_EXPIRED_TOKENS_KEPT_DAYS))
