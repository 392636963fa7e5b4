"""Units in the API, the admin and account provisioning (docs/api.md "Units", docs/architecture.md "Wards and
units")."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from core.models import StaffUnits
from tests.factories import PatientFactory, UnitFactory, UserFactory, verified_order

pytestmark = pytest.mark.db


@pytest.fixture
def ward_7(db):
    return UnitFactory(name="Ward 7 — Haematology", kind="ward")


@pytest.fixture
def day_unit(db):
    return UnitFactory(name="Day Unit", kind="day_unit")


def test_every_clinical_role_lists_the_units_open_ones_first(client_for, pharmacist, ward_7, day_unit):
    closed = UnitFactory(name="Ward 3", active=False)

    body = client_for(pharmacist).get("/api/v1/units/").json()

    names = [unit["name"] for unit in body["results"]]
    assert names.index("Ward 3") == len(names) - 1 and {"Ward 7 — Haematology", "Day Unit"} <= set(names)
    assert body["results"][-1] == {
        "id": closed.pk,
        "name": "Ward 3",
        "kind": "ward",
        "site": "City Hospital",
        "active": False,
    }


def test_the_api_filters_patients_orders_and_infusions_by_unit(client_for, hematologist, ward_7, day_unit):
    on_ward = verified_order(prescriber=hematologist, patient=PatientFactory(unit=ward_7))
    verified_order(prescriber=hematologist, patient=PatientFactory(unit=day_unit))
    api = client_for(hematologist)

    patients = api.get(f"/api/v1/patients/?unit={ward_7.pk}").json()["results"]
    orders = api.get(f"/api/v1/orders/?unit={ward_7.pk}").json()["results"]
    infusions = api.get(f"/api/v1/infusions/?unit={ward_7.pk}").json()["results"]

    assert [p["mrn"] for p in patients] == [on_ward.patient.mrn]
    assert [o["id"] for o in orders] == [on_ward.pk]
    assert [i["order"] for i in infusions] == [on_ward.pk]
    unit = {"id": ward_7.pk, "name": "Ward 7 — Haematology"}
    assert patients[0]["unit"] == orders[0]["unit"] == infusions[0]["unit"] == unit


def test_a_unit_filter_naming_no_unit_is_refused_in_words(client_for, hematologist):
    response = client_for(hematologist).get("/api/v1/infusions/?unit=99999")

    assert response.status_code == 400
    assert "unit" in response.json()


def test_a_patient_is_placed_in_a_unit_by_id_and_a_closed_or_unknown_unit_is_refused(client_for, nurse, ward_7):
    closed = UnitFactory(name="Ward 3", active=False)
    patient = PatientFactory(unit=None)
    api = client_for(nurse)

    placed = api.patch(f"/api/v1/patients/{patient.pk}/", {"unit": ward_7.pk}, format="json")
    refused = api.patch(f"/api/v1/patients/{patient.pk}/", {"unit": closed.pk}, format="json")
    garbled = api.patch(f"/api/v1/patients/{patient.pk}/", {"unit": "ward seven"}, format="json")

    assert placed.status_code == 200 and placed.json()["unit"] == {"id": ward_7.pk, "name": ward_7.name}
    assert refused.status_code == 400
    assert refused.json()["unit"] == [f"There is no open unit with id {closed.pk}: see GET /api/v1/units/."]
    assert garbled.status_code == 400 and "unit" in garbled.json()
    patient.refresh_from_db()
    assert patient.unit == ward_7


def test_an_order_written_through_the_api_is_given_in_the_patients_unit_unless_another_is_chosen(
    client_for, hematologist, ward_7, day_unit
):
    from infusions.models import Product

    api = client_for(hematologist)
    body = {
        "regimen": "one_dose_1g_per_kg",
        "product": Product.objects.get(name="Gamunex-C").pk,
        "baseline_platelet_count": 12,
        "first_infusion_on": timezone.localdate().isoformat(),
    }

    by_default = api.post("/api/v1/orders/", {**body, "patient": PatientFactory(unit=ward_7).pk}, format="json")
    chosen = api.post(
        "/api/v1/orders/", {**body, "patient": PatientFactory(unit=ward_7).pk, "unit": day_unit.pk}, format="json"
    )

    assert by_default.status_code == 201, by_default.json()
    assert by_default.json()["unit"] == {"id": ward_7.pk, "name": ward_7.name}
    assert chosen.status_code == 201 and chosen.json()["unit"] == {"id": day_unit.pk, "name": "Day Unit"}


def test_a_nurse_moves_a_day_to_another_unit_through_the_api(client_for, nurse, pharmacist, ward_7, day_unit):
    day = verified_order(patient=PatientFactory(unit=ward_7)).infusions.get()

    moved = client_for(nurse).post(
        f"/api/v1/infusions/{day.pk}/move/", {"unit": day_unit.pk, "reason": "Transfer"}, format="json"
    )
    not_allowed = client_for(pharmacist).post(f"/api/v1/infusions/{day.pk}/move/", {"unit": ward_7.pk}, format="json")
    no_unit = client_for(nurse).post(f"/api/v1/infusions/{day.pk}/move/", {}, format="json")

    assert moved.status_code == 200 and moved.json()["unit"] == {"id": day_unit.pk, "name": "Day Unit"}
    assert not_allowed.status_code == 403
    assert no_unit.status_code == 400 and "unit" in no_unit.json()
    day.refresh_from_db()
    assert day.unit == day_unit


def test_create_staff_user_sets_the_units_the_user_works_in(db, monkeypatch, ward_7, day_unit):
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-enough-passphrase\n"))
    out = io.StringIO()

    call_command("create_staff_user", "dday", "--role", "nurse", "--unit", "Day Unit", "--password-stdin", stdout=out)

    user = get_user_model().objects.get(username="dday")
    assert list(user.staff_units.default_units.all()) == [day_unit]
    assert "in Day Unit" in out.getvalue()


def test_create_staff_user_refuses_an_unknown_unit_and_creates_nobody(db, ward_7):
    with pytest.raises(CommandError, match="No open unit is named 'Ward 9'. Open units: Ward 7 — Haematology."):
        call_command("create_staff_user", "x", "--role", "nurse", "--unit", "Ward 9", "--password-stdin")

    assert not get_user_model().objects.filter(username="x").exists()


def test_a_unit_and_the_default_units_keep_their_history(ward_7, day_unit):
    nurse = UserFactory(role="nurse", units=[ward_7])
    from core.services import set_default_units

    set_default_units(user=nurse, units=[day_unit])
    ward_7.active = False  # the ward closes: its records stay readable
    ward_7.save()

    staff_units = StaffUnits.objects.get(user=nurse)
    assert list(staff_units.default_units.all()) == [day_unit]
    sets = [
        sorted(row.unit_id for row in version.default_units.all())
        for version in staff_units.history.order_by("history_date", "history_id")
    ]
    assert [ward_7.pk] in sets and sets[-1] == [day_unit.pk]
    assert [row.active for row in ward_7.history.order_by("history_date", "history_id")] == [True, False]


def test_the_admin_shows_a_units_history_and_never_deletes_it(admin_client, ward_7):
    history = admin_client.get(f"/admin/core/unit/{ward_7.pk}/history/")
    delete = admin_client.get(f"/admin/core/unit/{ward_7.pk}/delete/")

    assert history.status_code == 200 and "Ward 7 — Haematology" in history.content.decode()
    assert delete.status_code == 403


def test_it_sets_a_users_default_units_in_the_admin_and_keeps_the_change_in_history(admin_client, ward_7, day_unit):
    nurse = UserFactory(role="nurse")

    added = admin_client.post(
        "/admin/core/staffunits/add/", {"user": nurse.pk, "default_units": [ward_7.pk, day_unit.pk]}
    )
    listed = admin_client.get("/admin/core/staffunits/").content.decode()

    assert added.status_code == 302
    staff_units = StaffUnits.objects.get(user=nurse)
    assert set(staff_units.default_units.all()) == {ward_7, day_unit}
    assert staff_units.history.count() >= 1
    assert "Ward 7 — Haematology" in listed
