"""Every state change of monitoring, one function each (docs/architecture.md "The domain apps").

Split by sub-domain: ``results`` (platelet checks, results, the IWG response and the repeat-dose decision),
``notifications`` (the inbox, deliveries through external channels) and ``sweep`` (the reminder sweep beat
ticks). Callers import this package and write ``services.record_platelet_result``.
"""

from __future__ import annotations

from monitoring.services.notifications import (
    DELIVER_TASK,
    create_notifications,
    deliver,
    delivery_failed,
    enqueue_pending_deliveries,
    mark_read,
    notify,
    reap_expired_leases,
    users_with_role,
)
from monitoring.services.results import (
    OPEN_CHECK_STATUSES,
    apply_assessment,
    cancel_open_checks,
    close_check_with_result,
    create_platelet_checks,
    decide_repeat_dose,
    non_response_message,
    reading_of,
    reassess_response,
    record_platelet_result,
)
from monitoring.services.sweep import SWEEP_HEARTBEAT, SweepResult, remind_batch, reminder_message, run_sweep

__all__ = [
    "DELIVER_TASK",
    "OPEN_CHECK_STATUSES",
    "SWEEP_HEARTBEAT",
    "SweepResult",
    "apply_assessment",
    "cancel_open_checks",
    "close_check_with_result",
    "create_notifications",
    "create_platelet_checks",
    "decide_repeat_dose",
    "deliver",
    "delivery_failed",
    "enqueue_pending_deliveries",
    "mark_read",
    "non_response_message",
    "notify",
    "reading_of",
    "reap_expired_leases",
    "reassess_response",
    "record_platelet_result",
    "remind_batch",
    "reminder_message",
    "run_sweep",
    "users_with_role",
]
