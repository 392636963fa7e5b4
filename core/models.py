from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """When a background process last proved it is alive (the worker, the reminder sweep).

    ``/healthz`` reads these rows: a sweep that has stopped ticking is as dangerous as a database that is down,
    because reminders silently stop.
    """

    name = models.CharField(max_length=64, unique=True)
    last_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]
        db_table = "ivig_tracker_heartbeat"  # the table predates the core app (core/migrations/0001)

    def __str__(self) -> str:
        return f"{self.name} at {self.last_seen_at:%Y-%m-%d %H:%M:%S %Z}"
