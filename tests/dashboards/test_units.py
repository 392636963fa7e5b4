"""The worklist and the response review per ward or unit (docs/architecture.md "Wards and units"): each opens on the
user's units, a selector shows another unit or all, and nothing without a unit disappears from every list."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring import services as monitoring_services
from monitoring.models import Notification
from tests.factories import PatientFactory, UnitFactory, UserFactory, given_order, verified_order

pytestmark = pytest.mark.db


@pytest.fixture
def ward_7(db):
    return UnitFactory(name="Ward 7 — Haematology", kind="ward")


@pytest.fixture
def day_unit(db):
    return UnitFactory(name="Day Unit", kind="day_unit")


def worklist_rows(client, url="/nurse/"):
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_a_ward_7_nurse_sees_ward_7_infusions_today_by_default_and_the_day_units_when_she_picks_it(
    client, hematologist, ward_7, day_unit
):
    on_ward = verified_order(prescriber=hematologist, patient=PatientFactory(unit=ward_7))
    in_day_unit = verified_order(prescriber=hematologist, patient=PatientFactory(unit=day_unit))
    nurse = UserFactory(role="nurse", units=[ward_7])
    client.force_login(nurse)

    by_default = worklist_rows(client)
    picked = worklist_rows(client, f"/nurse/?unit={day_unit.pk}")
    everything = worklist_rows(client, "/nurse/?unit=all")

    assert on_ward.patient.mrn in by_default and in_day_unit.patient.mrn not in by_default
    assert in_day_unit.patient.mrn in picked and on_ward.patient.mrn not in picked
    assert on_ward.patient.mrn in everything and in_day_unit.patient.mrn in everything
    assert by_default.count('data-testid="worklist-row"') == 1
    # The selector says what is shown, and the 30-second refresh keeps the unit picked.
    assert f'<option value="{day_unit.pk}" selected>' in picked
    assert f'hx-get="/nurse/?unit={day_unit.pk}"' in picked
    assert "My units (Ward 7 — Haematology)" in by_default


def test_an_infusion_without_a_unit_is_still_on_every_units_worklist(client, hematologist, ward_7, day_unit):
    unplaced = verified_order(prescriber=hematologist, patient=PatientFactory(unit=None))
    assert unplaced.unit is None and unplaced.infusions.get().unit is None
    ward_nurse = UserFactory(role="nurse", units=[ward_7])
    day_nurse = UserFactory(role="nurse", units=[day_unit])

    client.force_login(ward_nurse)
    ward_list = worklist_rows(client)
    client.force_login(day_nurse)
    day_list = worklist_rows(client)

    assert unplaced.patient.mrn in ward_list and unplaced.patient.mrn in day_list
    assert 'data-testid="infusion-unit">no unit<' in ward_list


def test_a_nurse_with_no_default_units_sees_every_unit_with_a_hint(client, hematologist, ward_7, day_unit):
    on_ward = verified_order(prescriber=hematologist, patient=PatientFactory(unit=ward_7))
    in_day_unit = verified_order(prescriber=hematologist, patient=PatientFactory(unit=day_unit))
    client.force_login(UserFactory(role="nurse"))

    html = worklist_rows(client)

    assert on_ward.patient.mrn in html and in_day_unit.patient.mrn in html
    assert 'data-testid="unit-hint"' in html and "you have no default units" in html


def test_an_unknown_unit_in_the_address_falls_back_to_the_nurses_units_and_says_so(
    client, hematologist, ward_7, day_unit
):
    on_ward = verified_order(prescriber=hematologist, patient=PatientFactory(unit=ward_7))
    in_day_unit = verified_order(prescriber=hematologist, patient=PatientFactory(unit=day_unit))
    client.force_login(UserFactory(role="nurse", units=[ward_7]))

    html = worklist_rows(client, "/nurse/?unit=99999999")

    assert on_ward.patient.mrn in html and in_day_unit.patient.mrn not in html
    assert "That unit does not exist. Showing your units." in html


def test_a_check_due_for_a_day_unit_patient_is_on_the_day_units_worklist_and_still_reminds_every_nurse(
    client, hematologist, ward_7, day_unit
):
    ward_nurse = UserFactory(role="nurse", units=[ward_7])
    day_nurse = UserFactory(role="nurse", units=[day_unit])
    given = given_order(
        prescriber=hematologist, nurse=day_nurse, completed_hours_ago=25, patient=PatientFactory(unit=day_unit)
    )

    monitoring_services.run_sweep()

    client.force_login(ward_nurse)
    ward_list = worklist_rows(client)
    everything = worklist_rows(client, "/nurse/?unit=all")
    client.force_login(day_nurse)
    day_list = worklist_rows(client)
    assert given.patient.mrn in day_list and given.patient.mrn in everything
    assert given.patient.mrn not in ward_list.split('data-testid="checks-due"')[1].split("</table>")[0]
    # The reminder is not filtered by unit: the Ward 7 nurse is reminded too, and sees it among her notifications.
    assert Notification.objects.filter(order=given, recipient=ward_nurse).exists()
    assert Notification.objects.filter(order=given, recipient=day_nurse).exists()


def test_a_check_is_followed_where_the_patient_is_now_as_well_as_where_the_course_was_given(
    client, hematologist, ward_7, day_unit
):
    ward_nurse = UserFactory(role="nurse", units=[ward_7])
    given = given_order(prescriber=hematologist, completed_hours_ago=25, patient=PatientFactory(unit=day_unit))
    monitoring_services.run_sweep()
    from patients import services as patient_services

    patient_services.update_patient(patient_id=given.patient_id, data={"unit": ward_7}, user=hematologist)

    client.force_login(ward_nurse)
    checks = worklist_rows(client).split('data-testid="checks-due"')[1].split("</table>")[0]

    assert given.patient.mrn in checks


def test_the_worklist_of_one_unit_runs_a_constant_number_of_queries(client, hematologist, ward_7, day_unit):
    nurse = UserFactory(role="nurse", units=[ward_7])
    client.force_login(nurse)
    verified_order(prescriber=hematologist, patient=PatientFactory(unit=ward_7))
    given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=25, patient=PatientFactory(unit=ward_7))
    monitoring_services.run_sweep()

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/nurse/").status_code == 200
        return len(captured)

    small = queries()
    for unit in (ward_7, day_unit, None):
        verified_order(prescriber=hematologist, patient=PatientFactory(unit=unit))
        given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=25, patient=PatientFactory(unit=unit))
    monitoring_services.run_sweep()

    assert queries() == small


def test_the_hematologist_reviews_her_units_courses_and_another_unit_on_request(client, ward_7, day_unit):
    haematologist = UserFactory(role="hematologist", units=[ward_7])
    on_ward = verified_order(prescriber=haematologist, patient=PatientFactory(unit=ward_7))
    in_day_unit = verified_order(prescriber=haematologist, patient=PatientFactory(unit=day_unit))
    unplaced = verified_order(prescriber=haematologist, patient=PatientFactory(unit=None))
    client.force_login(haematologist)

    mine = client.get("/hematology/").content.decode()
    picked = client.get(f"/hematology/?unit={day_unit.pk}").content.decode()
    rows_only = client.get(f"/hematology/?unit={day_unit.pk}", headers={"HX-Request": "true"}).content.decode()

    assert on_ward.patient.mrn in mine and unplaced.patient.mrn in mine and in_day_unit.patient.mrn not in mine
    assert in_day_unit.patient.mrn in picked and unplaced.patient.mrn in picked and on_ward.patient.mrn not in picked
    assert rows_only.count('data-testid="course-row"') == 2
    # The counts follow the unit shown, and their links keep it.
    assert f"?category=pending&amp;unit={day_unit.pk}" in picked
