"""Monitoring listens to the infusions and patients apps' events: the receivers are connected once the apps are
ready."""

from __future__ import annotations

import pytest

from infusions import signals
from monitoring import receivers
from patients import signals as patient_signals

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("signal", "receiver"),
    [
        (signals.infusion_ended, receivers.on_infusion_ended),
        (signals.order_verified, receivers.on_order_verified),
        (signals.order_cancelled, receivers.on_order_cancelled),
        (signals.vitals_alert_raised, receivers.on_vitals_alert),
        (signals.safety_deviation_documented, receivers.on_safety_deviation_documented),
        (signals.course_put_on_hold, receivers.on_course_on_hold),
        (signals.order_returned, receivers.on_order_returned),
        (signals.vials_not_detailed, receivers.on_vials_not_detailed),
        (signals.course_started, receivers.on_course_started),
        (signals.withhold_requested, receivers.on_withhold_requested),
        (patient_signals.lab_results_changed, receivers.on_lab_results_changed),
    ],
)
def test_each_infusions_event_reaches_its_monitoring_receiver_exactly_once(signal, receiver) -> None:
    connected = [ref() for _key, ref, *_rest in signal.receivers]
    assert connected.count(receiver) == 1
