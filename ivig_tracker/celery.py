"""The Celery application. Settings live in Django settings under the CELERY_ namespace."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ivig_tracker.settings")

app = Celery("ivig_tracker")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def refuse_to_start_with_a_broken_configuration(**kwargs: Any) -> None:
    """The worker runs the configuration checks `manage.py check` runs (monitoring/checks.py): a webhook URL
    without a scheme stops it at start-up rather than failing every delivery. SystemExit, because Celery logs and
    ignores an ordinary exception raised by a signal handler."""
    from django.core import checks

    from monitoring.checks import CONFIGURATION_TAG

    errors = [message for message in checks.run_checks(tags=[CONFIGURATION_TAG]) if message.is_serious()]
    if errors:
        raise SystemExit("The worker cannot start:\n" + "\n".join(str(message) for message in errors))


worker_init.connect(refuse_to_start_with_a_broken_configuration, weak=False)
