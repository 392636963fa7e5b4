"""Where a course and its days are given: the order takes the patient's unit, each day the order's, and a nurse
moves one day to another unit (a transfer) with its history (docs/architecture.md "Wards and units")."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from core.errors import Conflict
from infusions import services
from tests.factories import PatientFactory, UnitFactory, UserFactory, given_order, verified_order

pytestmark = pytest.mark.db


@pytest.fixture
def ward_7(db):
    return UnitFactory(name="Ward 7 — Haematology", kind="ward")


@pytest.fixture
def day_unit(db):
    return UnitFactory(name="Day Unit", kind="day_unit")


def test_an_order_is_given_in_the_patients_unit_and_each_of_its_days_in_the_orders(ward_7):
    order = verified_order(regimen="two_days_1g_per_kg", patient=PatientFactory(unit=ward_7))

    assert order.unit == ward_7
    assert [infusion.unit for infusion in order.infusions.order_by("day_number")] == [ward_7, ward_7]


def test_a_transfer_moves_the_day_to_the_other_unit_with_who_moved_it_and_why_in_its_history(ward_7, day_unit):
    order = verified_order(regimen="two_days_1g_per_kg", patient=PatientFactory(unit=ward_7))
    day_2 = order.infusions.get(day_number=2)
    nurse = UserFactory(role="nurse")

    services.move_infusion_to_unit(infusion_id=day_2.pk, unit_id=day_unit.pk, user=nurse, reason="Stable: day case")

    day_2.refresh_from_db()
    assert day_2.unit == day_unit
    assert order.infusions.get(day_number=1).unit == ward_7  # the other day stays
    latest = day_2.history.order_by("-history_date", "-history_id").first()
    assert latest.unit_id == day_unit.pk and latest.history_user == nurse
    assert latest.history_change_reason == "Moved from Ward 7 — Haematology to Day Unit: Stable: day case"
    assert day_2.history.filter(unit_id=ward_7.pk).exists()  # where it was planned is kept


def test_a_day_already_given_stays_in_the_unit_where_it_was_given(ward_7, day_unit):
    order = given_order(patient=PatientFactory(unit=ward_7))
    given_day = order.infusions.get()
    versions = given_day.history.count()

    with pytest.raises(Conflict, match="a day already given stays in the unit where it was given"):
        services.move_infusion_to_unit(infusion_id=given_day.pk, unit_id=day_unit.pk, user=UserFactory(role="nurse"))

    given_day.refresh_from_db()
    assert given_day.unit == ward_7 and given_day.history.count() == versions


def test_a_day_is_not_moved_to_a_closed_unit_or_to_the_unit_it_is_already_in(ward_7):
    closed = UnitFactory(name="Ward 3 (closed)", active=False)
    day = verified_order(patient=PatientFactory(unit=ward_7)).infusions.get()
    nurse = UserFactory(role="nurse")

    with pytest.raises(ValidationError) as to_closed:
        services.move_infusion_to_unit(infusion_id=day.pk, unit_id=closed.pk, user=nurse)
    with pytest.raises(ValidationError) as to_same:
        services.move_infusion_to_unit(infusion_id=day.pk, unit_id=ward_7.pk, user=nurse)

    assert to_closed.value.message_dict == {"unit": ["Choose an open unit to move this day to."]}
    assert to_same.value.message_dict == {"unit": ["This day is already in Ward 7 — Haematology."]}
    day.refresh_from_db()
    assert day.unit == ward_7


def test_a_nurse_moves_a_day_from_the_bedside_page_and_sees_where_it_is_now(client, ward_7, day_unit):
    day = verified_order(patient=PatientFactory(unit=ward_7)).infusions.get()
    nurse = UserFactory(role="nurse")
    client.force_login(nurse)

    page = client.get(f"/orders/infusions/{day.pk}/").content.decode()
    moved = client.post(f"/orders/infusions/{day.pk}/move/", {"unit": day_unit.pk, "reason": "Transfer"}, follow=True)

    assert 'data-testid="move-form"' in page and "Ward 7 — Haematology" in page
    assert moved.status_code == 200
    assert "This day is now given in Day Unit" in moved.content.decode()
    day.refresh_from_db()
    assert day.unit == day_unit


def test_a_move_without_a_unit_is_refused_beside_the_field_keeping_the_reason(client, ward_7):
    day = verified_order(patient=PatientFactory(unit=ward_7)).infusions.get()
    UnitFactory(name="Day Unit")
    client.force_login(UserFactory(role="nurse"))

    refused = client.post(f"/orders/infusions/{day.pk}/move/", {"unit": "", "reason": "Bed moved"})

    html = refused.content.decode()
    assert refused.status_code == 400
    assert 'id="move-unit-error"' in html and "Choose an open unit to move this day to." in html
    assert 'value="Bed moved"' in html
    day.refresh_from_db()
    assert day.unit == ward_7


def test_only_those_who_document_infusions_move_a_day_from_the_page(client, ward_7, day_unit):
    day = verified_order(patient=PatientFactory(unit=ward_7)).infusions.get()
    client.force_login(UserFactory(role="pharmacist"))

    refused = client.post(f"/orders/infusions/{day.pk}/move/", {"unit": day_unit.pk})

    assert refused.status_code == 403
    day.refresh_from_db()
    assert day.unit == ward_7


def test_the_order_page_says_where_the_course_is_given(client, ward_7):
    order = verified_order(patient=PatientFactory(unit=ward_7))
    unplaced = verified_order(patient=PatientFactory(unit=None))
    client.force_login(UserFactory(role="nurse"))

    placed_page = client.get(f"/orders/{order.pk}/").content.decode()
    unplaced_page = client.get(f"/orders/{unplaced.pk}/").content.decode()

    assert 'data-testid="order-unit">Ward 7 — Haematology (City Hospital)<' in placed_page
    assert "no unit (shown to every unit)" in unplaced_page
