from __future__ import annotations

from django.apps import AppConfig


class IvigTrackerConfig(AppConfig):
    name = "ivig_tracker"
    verbose_name = "IVIG Tracker core"
