"""Events the patients app announces (docs/decisions/0002-monitoring-listens-to-infusions-signals.md: the same
reasoning, one layer further down).

Receivers run synchronously inside the sender's transaction, connected in ``monitoring.apps.MonitoringConfig.ready``.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent by the lab-result services once a creatinine, hemoglobin or blood group was recorded, corrected or withdrawn,
# with patient_id=, test=, collected_at= (the sample's) and user=. Receiver: monitoring.receivers.
# on_lab_results_changed answers or reopens the courses' lab checks and looks for a renal decline or a hemoglobin
# fall (§A13 "After the course").
lab_results_changed = Signal()
