from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The shared kernel every app may import: settings reader, roles, errors, health, the heartbeat."""

    name = "core"
    verbose_name = "IVIG Tracker core"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from core import receivers
        from core.two_factor import forget_second_factor_at_sign_in

        receivers.connect()
        user_logged_in.connect(forget_second_factor_at_sign_in, dispatch_uid="ivig-forget-second-factor")
