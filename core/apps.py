from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The shared kernel every app may import: settings reader, roles, errors, health, the heartbeat."""

    name = "core"
    verbose_name = "IVIG Tracker core"

    def ready(self) -> None:
        from core import receivers

        receivers.connect()
