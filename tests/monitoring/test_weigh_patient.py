"""weigh_patient (docs/clinical-rules.md §A9 "Emergency orders"): an emergency order on an estimated weight with no
weight recorded 12 h after it was written reminds every nurse and the ordering hematologist, once, found by the
reminder sweep beat runs every minute (never an ETA task)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from infusions.models import Order, Product
from monitoring import services
from monitoring.models import Notification
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.db


@pytest.fixture
def nurses(db):
    return [UserFactory(role="nurse", email=f"nurse{i}@ward.example") for i in range(2)]


def emergency_order_on_an_estimate(client_for, hematologist):
    patient = PatientFactory(weight_kg=False)
    response = client_for(hematologist).post(
        "/api/v1/orders/",
        {
            "patient": patient.pk,
            "regimen": "one_dose_1g_per_kg",
            "product": Product.objects.get(name="Gamunex-C").pk,
            "baseline_platelet_count": 4,
            "baseline_collected_at": (timezone.now() - timedelta(hours=1)).isoformat(),
            "first_infusion_on": str(timezone.localdate()),
            "emergency": True,
            "estimated_weight_kg": "70",
        },
    )
    assert response.status_code == 201, response.json()
    return Order.objects.get(pk=response.json()["id"])


def weigh_patient_recipients():
    return sorted(Notification.objects.filter(kind="weigh_patient").values_list("recipient__username", flat=True))


def test_no_weight_within_12_h_tells_the_nurses_and_the_prescriber_once(client_for, nurses, hematologist):
    order = emergency_order_on_an_estimate(client_for, hematologist)

    before = services.run_sweep(now=order.created_at + timedelta(hours=11, minutes=59))
    assert before.weigh_patient == 0
    first = services.run_sweep(now=order.created_at + timedelta(hours=12, minutes=1))
    assert first.weigh_patient == 3
    assert weigh_patient_recipients() == sorted([nurses[0].username, nurses[1].username, hematologist.username])
    notification = Notification.objects.filter(kind="weigh_patient").first()
    assert notification.order_id == order.pk
    assert "estimated weight of 70.0 kg" in notification.message
    second = services.run_sweep(now=order.created_at + timedelta(hours=12, minutes=2))
    assert second.weigh_patient == 0
    assert Notification.objects.filter(kind="weigh_patient").count() == 3


def test_a_weight_within_12_h_tells_nobody(client_for, nurses, hematologist):
    order = emergency_order_on_an_estimate(client_for, hematologist)
    weighed = client_for(nurses[0]).patch(f"/api/v1/patients/{order.patient_id}/", {"weight_kg": 72}, format="json")
    assert weighed.status_code == 200

    result = services.run_sweep(now=order.created_at + timedelta(hours=12, minutes=1))

    assert result.weigh_patient == 0
    assert not Notification.objects.filter(kind="weigh_patient").exists()


def test_a_cancelled_emergency_order_tells_nobody(client_for, nurses, hematologist):
    order = emergency_order_on_an_estimate(client_for, hematologist)
    assert (
        client_for(hematologist).post(f"/api/v1/orders/{order.pk}/cancel/", {"reason": "transferred"}).status_code
        == 200
    )

    services.run_sweep(now=order.created_at + timedelta(hours=13))

    assert not Notification.objects.filter(kind="weigh_patient").exists()
