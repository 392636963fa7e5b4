from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from monitoring import services


class Command(BaseCommand):
    help = "Run the reminder sweep that Celery beat runs every minute; print how many reminders it sent."

    def handle(self, *args: Any, **options: Any) -> None:
        result = services.run_sweep()
        self.stdout.write(
            f"Sent {result.notifications} reminder(s): {result.due} check(s) became due, {result.overdue} overdue; "
            f"{result.enqueued} delivery(ies) enqueued, {result.reaped} expired lease(s) returned."
        )
