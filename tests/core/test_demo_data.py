from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from infusions.models import Infusion, Order, Reaction, SafetyRecord
from patients.models import Patient, WeightMeasurement

pytestmark = pytest.mark.db


@pytest.fixture(autouse=True)
def _development(settings, request):
    # The demo is loaded where DEBUG is on (make run sets DJANGO_DEBUG=true); the tests of DEBUG off say so.
    settings.DEBUG = "production" not in request.node.name


def table_counts() -> tuple[int, ...]:
    models = [get_user_model(), Patient, WeightMeasurement, Order, Infusion, Reaction, SafetyRecord]
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


def test_the_demo_has_a_course_verified_on_an_iga_conflict_override(db) -> None:
    call_command("load_demo_data")
    order = Order.objects.get(patient__mrn="DEMO-0008")
    assert order.status == "verified"
    override = order.safety_records.get(code="iga_conflict", kind="override")
    assert override.reason.startswith("No IgA-depleted product in stock")
    assert override.recorded_by.username == "hematologist"


def test_the_demo_has_a_course_on_hold_after_a_grade_3_reaction_on_day_1(db) -> None:
    call_command("load_demo_data")
    order = Order.objects.get(patient__mrn="DEMO-0009")
    assert order.on_hold and "CTCAE grade 3 on day 1" in order.hold_reason
    day1, day2 = order.infusions.order_by("day_number")
    assert (day1.status, day2.status) == ("stopped", "scheduled")
    assert day1.reactions.get().ctcae_grade == 3


def test_the_demo_products_have_made_up_gtins_marked_demo_once(db) -> None:
    from infusions.models import Product

    call_command("load_demo_data")
    product = Product.objects.exclude(vial_sizes_g=[]).order_by("pk").first()
    assert product.gtins
    assert all(entry["demo"] for entry in product.gtins)
    assert sorted(entry["vial_size_g"] for entry in product.gtins) == sorted(float(s) for s in product.vial_sizes_g)
    history = product.history.count()
    call_command("load_demo_data")
    assert product.history.count() == history


def test_the_demo_shows_a_loss_of_response_a_transfusion_confounded_count_and_a_corrected_result(db) -> None:
    from monitoring.models import OrderResponse, PlateletResult

    call_command("load_demo_data")
    lost = OrderResponse.objects.get(order__patient__mrn="DEMO-0007")
    assert (lost.category, lost.loss_of_response) == ("complete_response", "confirmed")
    transfused = PlateletResult.objects.get(order__patient__mrn="DEMO-0006", platelet_check__isnull=True)
    assert (transfused.platelet_count, transfused.not_attributed_reason) == (48, "after_transfusion")
    assert OrderResponse.objects.get(order__patient__mrn="DEMO-0006").repeat_dose_recommended
    corrected = PlateletResult.objects.get(order__patient__mrn="DEMO-0001", status="corrected")
    assert (corrected.platelet_count, corrected.change_reason) == (45, "Typed 450 for 45 (demo)")


def test_the_demo_shows_a_renal_decline_and_a_creatinine_due_after_the_course(db) -> None:
    from django.utils import timezone

    from monitoring.models import LabCheck, Notification

    call_command("load_demo_data")
    order = Order.objects.get(patient__mrn="DEMO-0010")
    decline = Notification.objects.get(kind="renal_decline", order=order)
    assert decline.recipient.username == "hematologist"
    assert "42 µmol/L above" in decline.message and "the reference 76 µmol/L" in decline.message
    check = LabCheck.objects.get(order=order)
    assert (check.test, check.label, check.status) == ("creatinine", "post_course", "scheduled")
    assert check.due_at <= timezone.now() < check.overdue_at  # the next sweep makes it due on the worklist


def test_in_production_the_demo_loader_refuses_and_creates_nothing(db) -> None:
    before = table_counts()
    with pytest.raises(CommandError, match="Demo data is for development and DEBUG is off"):
        call_command("load_demo_data")
    assert table_counts() == before
    assert not get_user_model().objects.filter(username="admin").exists()


def test_in_production_a_forced_load_gives_random_passwords_printed_once_never_the_published_ones(db) -> None:
    from ivig_tracker.demo import ADMIN_PASSWORD, DEMO_USERS

    out = io.StringIO()
    call_command("load_demo_data", "--force", stdout=out)
    lines = [line.split(" / ") for line in out.getvalue().splitlines() if line.startswith("  ") and " / " in line]
    printed = {username.strip(): password.strip() for username, password in lines}
    users = get_user_model().objects
    assert set(printed) == {user.username for user in DEMO_USERS} | {"admin"}
    for username, password in printed.items():
        user = users.get(username=username)
        assert user.check_password(password)
        assert len(password) >= 20
    assert not users.get(username="admin").check_password(ADMIN_PASSWORD)
    assert not any(users.get(username=demo.username).check_password(demo.password) for demo in DEMO_USERS)
    assert ADMIN_PASSWORD not in out.getvalue()

    again = io.StringIO()
    call_command("load_demo_data", "--force", stdout=again)
    assert "passwords are unchanged" in again.getvalue()
    assert users.get(username="admin").check_password(printed["admin"])
