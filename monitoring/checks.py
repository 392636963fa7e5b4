"""System checks of the notification channels' configuration: `manage.py check`, every management command that
runs checks, and the Celery worker's start (ivig_tracker/celery.py) fail on them, so a broken configuration stops
a process at start-up instead of leaving deliveries failing one by one."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from core.env import http_url_problem

# The tag the worker runs at start-up: checks of settings a worker needs, cheap and database-free.
CONFIGURATION_TAG = "ivig_configuration"


@checks.register(CONFIGURATION_TAG)
def webhook_url_is_usable(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    url = settings.IVIG_WEBHOOK_URL
    problem = http_url_problem(url) if url else None
    if problem is None:
        return []
    return [
        checks.Error(
            f"IVIG_WEBHOOK_URL {problem}",
            hint="Set the receiver's full URL, or leave IVIG_WEBHOOK_URL empty to send no webhook.",
            id="monitoring.E001",
        )
    ]
