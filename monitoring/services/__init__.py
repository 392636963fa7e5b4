"""Every state change of monitoring, one function each (docs/architecture.md "The domain apps").

Split by sub-domain: ``results`` (platelet checks, results, corrections, the IWG response and the repeat-dose
decision), ``lab_checks`` (the creatinine and hemoglobin a course owes after it, renal decline and
haemolysis), ``co_therapy`` (treatments beside the IVIG that change what a count means),
``notifications`` (the inbox, deliveries through external channels) and ``sweep`` (the reminder sweep beat
ticks). Callers import this package and write ``services.record_platelet_result``.
"""

from __future__ import annotations

from monitoring.services.co_therapy import record_co_therapy, withdraw_co_therapy
from monitoring.services.lab_checks import (
    answer_lab_checks,
    ensure_lab_checks,
    lab_results_changed,
    watch_course_labs,
)
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
    correct_platelet_result,
    course_for_sample,
    course_times,
    create_platelet_checks,
    decide_repeat_dose,
    non_response_message,
    overdue_after_hours,
    reading_of,
    reassess_response,
    record_bleeding_grade,
    record_platelet_result,
    supersede_follow_ups,
    withdraw_platelet_result,
)
from monitoring.services.sweep import SWEEP_HEARTBEAT, SweepResult, remind_batch, reminder_message, run_sweep

__all__ = [
    "answer_lab_checks",
    "ensure_lab_checks",
    "lab_results_changed",
    "watch_course_labs",
    "DELIVER_TASK",
    "OPEN_CHECK_STATUSES",
    "SWEEP_HEARTBEAT",
    "SweepResult",
    "apply_assessment",
    "cancel_open_checks",
    "close_check_with_result",
    "correct_platelet_result",
    "course_for_sample",
    "course_times",
    "create_notifications",
    "create_platelet_checks",
    "decide_repeat_dose",
    "deliver",
    "delivery_failed",
    "enqueue_pending_deliveries",
    "mark_read",
    "non_response_message",
    "overdue_after_hours",
    "notify",
    "reading_of",
    "reap_expired_leases",
    "reassess_response",
    "record_bleeding_grade",
    "record_co_therapy",
    "record_platelet_result",
    "remind_batch",
    "reminder_message",
    "run_sweep",
    "supersede_follow_ups",
    "users_with_role",
    "withdraw_co_therapy",
    "withdraw_platelet_result",
]
