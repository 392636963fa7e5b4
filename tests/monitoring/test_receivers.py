"""Monitoring listens to the infusions app's events: the receivers are connected once the apps are ready."""

from __future__ import annotations

import pytest

from infusions import signals
from monitoring import receivers

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("signal", "receiver"),
    [
        (signals.infusion_ended, receivers.on_infusion_ended),
        (signals.order_verified, receivers.on_order_verified),
        (signals.order_cancelled, receivers.on_order_cancelled),
        (signals.vitals_alert_raised, receivers.on_vitals_alert),
    ],
)
def test_each_infusions_event_reaches_its_monitoring_receiver_exactly_once(signal, receiver) -> None:
    connected = [ref() for _key, ref, *_rest in signal.receivers]
    assert connected.count(receiver) == 1
