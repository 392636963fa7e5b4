from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from infusions.models import Infusion, Order
from patients.models import Patient, WeightMeasurement

pytestmark = pytest.mark.db


def table_counts() -> tuple[int, ...]:
    models = [get_user_model(), Patient, WeightMeasurement, Order, Infusion]
    return tuple(model.objects.count() for model in models)


def test_demo_loader_creates_one_user_per_role_and_patients(db) -> None:
    call_command("load_demo_data")
    user_model = get_user_model()
    for role in ("nurse", "hematologist", "pharmacist"):
        assert user_model.objects.filter(groups__name=role).exists(), role
    assert Patient.objects.count() >= 5
    assert set(Order.objects.values_list("status", flat=True)) >= {"draft", "verified"}


def test_running_the_demo_loader_twice_adds_nothing(db) -> None:
    call_command("load_demo_data")
    first = table_counts()
    call_command("load_demo_data")
    assert table_counts() == first
