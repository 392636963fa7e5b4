"""Events the infusions app announces (docs/decisions/0002-monitoring-listens-to-infusions-signals.md).

Monitoring listens because it may import infusions and never the reverse. Receivers run synchronously inside the
sender's transaction, so what they write commits or rolls back with the event. Each receiver is connected in
``monitoring.apps.MonitoringConfig.ready`` and tests/monitoring/test_receivers.py proves the connection.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent by bedside services when an infusion ends (completed, stopped, or withheld before it started), with infusion=,
# first_of_order= (True when it is the order's first infusion to end having been started) and user= (who ended it:
# the history rows of the checks it writes name them; every signal here carries user= for the same reason).
# Receiver: monitoring.receivers.on_infusion_ended writes the order's platelet checks (§A6, §A12) on the first, and
# works the response out again on a later one (the course may have ended).
infusion_ended = Signal()

# Sent by orders.cancel_order with order=.
# Receiver: monitoring.receivers.on_order_cancelled cancels the order's open platelet checks.
order_cancelled = Signal()

# Sent by bedside.record_vitals when a set raises any alert, with entry=, alerts= (the dicts stored on the entry)
# and infusion=. Receiver: monitoring.receivers.on_vitals_alert notifies the prescriber of a high alert, with its
# email and webhook deliveries (enqueued after commit).
vitals_alert_raised = Signal()

# Sent by safety.record when a late entry is stored with the stops it would have met, with order= and records= (the
# SafetyRecord rows of kind documented_deviation). Receiver: monitoring.receivers.on_safety_deviation_documented
# notifies the ordering hematologist, once per record.
safety_deviation_documented = Signal()

# Sent by bedside.record_reaction when a reaction puts the course on hold (CTCAE grade >= 3 or anaphylaxis with days
# left), with order=. Receiver: monitoring.receivers.on_course_on_hold notifies the ordering hematologist.
course_put_on_hold = Signal()

# Sent by orders.return_order when a verifier returns a draft, with order=. Receiver:
# monitoring.receivers.on_order_returned notifies the prescriber with the reason.
order_returned = Signal()

# Sent by orders.verify_order when a draft is verified, with order=. Receiver: monitoring.receivers.on_order_verified
# writes the four platelet checks of a course begun elsewhere, due from the end of its first outside dose (A6, §A9
# "Courses that change"); a course begun here gets them when its first infusion ends.
order_verified = Signal()

# Sent by bedside.start_infusion when a start is taken with lot numbers only while IVIG_V1_START_COMPAT is on (the
# warning vials_not_detailed), with infusion= and lot_numbers=. Receiver: monitoring.receivers.on_vials_not_detailed
# tells every pharmacist, who can then complete the vials' product, size and expiry for traceability.
vials_not_detailed = Signal()

# Sent by bedside.start_infusion when a course's first infusion starts here, with order= and started_at=. Receiver:
# monitoring.receivers.on_course_started cancels the patient's earlier courses' open follow-up checks (A12:
# "superseded by order #n") and re-attributes their results (the new start closes their window).
course_started = Signal()

# Sent by bedside.withhold_infusion before a scheduled day is withheld, with infusion=. Each receiver answers None
# when the withhold is allowed or a hard core.stops.Stop saying why not. Receiver:
# monitoring.receivers.on_withhold_requested, which judges A1 on the latest result counted toward the course (the
# result lives in monitoring). The service refuses when no receiver answers: a withhold nobody checked is no withhold.
withhold_requested = Signal()
