"""Events the infusions app announces. Monitoring listens (it may import infusions; never the reverse), and
receivers run inside the sender's transaction, so what they write commits or rolls back with the event."""

from __future__ import annotations

from django.dispatch import Signal

# infusion: the Infusion that ended; first_of_order: True when it is the order's first infusion to end given.
infusion_ended = Signal()
# order: the cancelled Order.
order_cancelled = Signal()
# entry: the VitalSignsEntry; alerts: the list of alert dicts stored on it.
vitals_alert_raised = Signal()
