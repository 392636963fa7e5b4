from __future__ import annotations

from django.apps import AppConfig


class IvigTrackerConfig(AppConfig):
    """The composition root: settings, URLs, the API router, Celery, demo data. It imports the apps; no app
    imports it. It keeps its migration history (the role groups) and the demo-data command."""

    name = "ivig_tracker"
    verbose_name = "IVIG Tracker site"
