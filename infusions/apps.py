from __future__ import annotations

from django.apps import AppConfig


class InfusionsConfig(AppConfig):
    name = "infusions"
    verbose_name = "IVIG orders and infusions"
