"""Celery tasks: thin, taking ids, idempotent (docs/architecture.md, habit 3)."""

from __future__ import annotations

from celery import shared_task
from celery.utils.log import get_task_logger
from django.conf import settings

from monitoring import services
from monitoring.channels import DeliveryError

logger = get_task_logger(__name__)

MAX_DELIVERY_RETRIES = 5
# A send must end before its lease does, or the reaper could hand the same delivery to a second worker while
# the first is still sending: the hard limit stays under half the lease (60 s with the default 300 s lease).
DELIVERY_TIME_LIMIT_SECONDS = max(5, min(60, settings.IVIG_DELIVERY_LEASE_SECONDS // 2))


@shared_task(name="monitoring.tasks.sweep_reminders", ignore_result=True, time_limit=120, soft_time_limit=100)
def sweep_reminders() -> dict[str, int]:
    result = services.run_sweep()
    logger.info("reminder sweep: %s", result)
    return result.__dict__


@shared_task(
    bind=True,
    name=services.DELIVER_TASK,
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_DELIVERY_RETRIES,
    time_limit=DELIVERY_TIME_LIMIT_SECONDS,
    soft_time_limit=max(DELIVERY_TIME_LIMIT_SECONDS - 5, 3),
)
def deliver(self, delivery_id: int) -> str:
    try:
        return services.deliver(delivery_id)
    except DeliveryError as exc:
        final = self.request.retries >= MAX_DELIVERY_RETRIES
        services.delivery_failed(delivery_id, str(exc), final=final)
        if final:
            logger.error("delivery %s failed for good: %s", delivery_id, exc)
            return "failed"
        # Exponential backoff: 10 s, 20 s, 40 s ... (capped), well inside the visibility timeout.
        raise self.retry(exc=exc, countdown=min(10 * 2**self.request.retries, 300)) from exc
