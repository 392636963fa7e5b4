from __future__ import annotations

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Platelet monitoring"

    def ready(self) -> None:
        from infusions import signals
        from monitoring import checks, receivers  # noqa: F401  # checks registers the configuration checks
        from patients import signals as lab_signals

        signals.infusion_ended.connect(receivers.on_infusion_ended, dispatch_uid="monitoring.infusion_ended")
        signals.withhold_requested.connect(
            receivers.on_withhold_requested, dispatch_uid="monitoring.withhold_requested"
        )
        signals.course_started.connect(receivers.on_course_started, dispatch_uid="monitoring.course_started")
        signals.order_verified.connect(receivers.on_order_verified, dispatch_uid="monitoring.order_verified")
        signals.order_cancelled.connect(receivers.on_order_cancelled, dispatch_uid="monitoring.order_cancelled")
        signals.vitals_alert_raised.connect(receivers.on_vitals_alert, dispatch_uid="monitoring.vitals_alert")
        signals.safety_deviation_documented.connect(
            receivers.on_safety_deviation_documented, dispatch_uid="monitoring.safety_deviation_documented"
        )
        signals.course_put_on_hold.connect(receivers.on_course_on_hold, dispatch_uid="monitoring.course_on_hold")
        signals.order_returned.connect(receivers.on_order_returned, dispatch_uid="monitoring.order_returned")
        signals.vials_not_detailed.connect(
            receivers.on_vials_not_detailed, dispatch_uid="monitoring.vials_not_detailed"
        )
        lab_signals.lab_results_changed.connect(
            receivers.on_lab_results_changed, dispatch_uid="monitoring.lab_results_changed"
        )

        from datetime import timedelta

        from django.conf import settings

        from core import health
        from monitoring.services import SWEEP_HEARTBEAT

        # /healthz turns 503 when reminders have silently stopped (the sweep has not ticked for a few minutes).
        health.REQUIRED_HEARTBEATS[SWEEP_HEARTBEAT] = timedelta(seconds=settings.IVIG_SWEEP_STALE_AFTER_SECONDS)
