"""Safety stops on the pages: shown before the tap, with the reason field where the user's role may give one, and
refused at the tap with nothing changed (docs/clinical-rules.md §A8)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from infusions.models import Infusion, Order, Product, SafetyRecord
from tests.factories import NORMAL_VITALS, PatientFactory, day_vials_form, verified_order

pytestmark = pytest.mark.db


def order_form(patient, product, **extra):
    return {
        "patient": patient.pk,
        "regimen": "one_dose_1g_per_kg",
        "product": product.pk,
        "baseline_platelet_count": "12",
        "first_infusion_on": str(timezone.localdate()),
        **extra,
    }


def test_the_order_preview_shows_a_second_open_course_before_the_prescriber_taps(client, hematologist):
    gamunex = Product.objects.get(name="Gamunex-C")
    patient = verified_order(prescriber=hematologist).patient
    client.force_login(hematologist)
    html = client.post("/orders/preview/", order_form(patient, gamunex), HTTP_HX_REQUEST="true").content.decode()
    assert 'data-stop="active_course"' in html
    assert "Refused" in html


def test_an_iga_conflict_on_the_order_form_offers_the_hematologist_the_reason_field_and_keeps_the_reason(
    client, hematologist
):
    gamunex = Product.objects.get(name="Gamunex-C")
    patient = PatientFactory(serum_iga_mg_dl=Decimal("2"))
    client.force_login(hematologist)
    refused = client.post("/orders/new/", order_form(patient, gamunex))
    assert refused.status_code == 200
    html = refused.content.decode()
    assert 'name="override__iga_conflict"' in html
    assert not Order.objects.exists()
    # What was typed is kept in the form.
    assert f'value="{patient.pk}" selected' in html or f'<option value="{patient.pk}" selected>' in html
    saved = client.post(
        "/orders/new/", {**order_form(patient, gamunex), "override__iga_conflict": "anti-IgA antibodies negative"}
    )
    assert saved.status_code == 302
    record = SafetyRecord.objects.get(code="iga_conflict")
    assert (record.kind, record.reason, record.recorded_by) == (
        "override",
        "anti-IgA antibodies negative",
        hematologist,
    )


def test_the_verify_page_shows_the_stops_and_a_refused_verification_changes_nothing(client, hematologist, pharmacist):
    gammagard = Product.objects.get(name="Gammagard S/D")
    patient = PatientFactory()
    client.force_login(hematologist)
    client.post("/orders/new/", order_form(patient, gammagard, prepared_concentration_percent="5"))
    order = Order.objects.get()
    client.force_login(pharmacist)
    page = client.get(f"/orders/{order.pk}/").content.decode()
    assert 'data-stop="rate_plan_incomplete"' in page
    assert "disabled" in page.split('data-testid="verify-form"')[1].split("</form>")[0]
    response = client.post(f"/orders/{order.pk}/verify/", follow=True)
    assert "no complete rate plan" in response.content.decode()
    assert Order.objects.get().status == "draft"


def test_the_bedside_start_control_says_a_start_before_the_scheduled_day_needs_a_reason(client, nurse):
    order = verified_order(first_infusion_on=timezone.localdate() + timedelta(days=3))
    infusion = order.infusions.get()
    client.force_login(nurse)
    client.post(f"/orders/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    page = client.get(f"/orders/infusions/{infusion.pk}/").content.decode()
    assert 'data-stop="before_scheduled_day"' in page
    assert 'name="override__before_scheduled_day"' in page
    form = {code: "on" for code in ("patient_identity", "iga_reviewed", "cardiac_fluid_status", "hydration")}
    form |= {code: "on" for code in ("premedication", "emergency_drugs", "product_and_dose", "dedicated_line")}
    refused = client.post(
        f"/orders/infusions/{infusion.pk}/start/", {**form, **day_vials_form(infusion)}, HTTP_HX_REQUEST="true"
    )
    html = refused.content.decode()
    assert 'data-testid="bedside-error"' in html
    assert Infusion.objects.get(pk=infusion.pk).status == "scheduled"
    # The refused start comes back as the nurse left it: every box ticked, every vial listed again and checked.
    assert html.count('type="checkbox" name="patient_identity" checked') == 1
    assert html.count(" checked>") == len(form)
    typed_lots = day_vials_form(infusion)["vial_lot"]
    assert html.count('data-testid="vial-ok"') == len(typed_lots)
    assert all(f'name="vial_lot" value="{lot}"' in html for lot in typed_lots)
    started = client.post(
        f"/orders/infusions/{infusion.pk}/start/",
        {**form, **day_vials_form(infusion), "override__before_scheduled_day": "theatre slot moved; consultant agreed"},
        HTTP_HX_REQUEST="true",
    )
    assert started.status_code == 200
    assert Infusion.objects.get(pk=infusion.pk).status == "in_progress"
    assert SafetyRecord.objects.get(code="before_scheduled_day").infusion_id == infusion.pk


@pytest.mark.parametrize(
    ("action", "body", "field", "message"),
    [
        ("rate", {"rate_ml_per_h": "NaN"}, "rate_ml_per_h", "Rate (mL/h) must be a number"),
        ("complete", {"volume_infused_ml": "Infinity"}, "volume_infused_ml", "Volume infused (mL) must be a number"),
        ("vitals", {**NORMAL_VITALS, "taken_at": "2025-13-45T10:00"}, "taken_at", "This date and time does not exist"),
    ],
)
def test_a_number_or_a_time_that_is_not_one_is_a_clear_error_beside_its_own_field_not_a_500(
    client, nurse, action, body, field, message
):
    order = verified_order()
    infusion = order.infusions.get()
    client.force_login(nurse)
    client.post(f"/orders/infusions/{infusion.pk}/vitals/", NORMAL_VITALS)
    form = {code: "on" for code in ("patient_identity", "iga_reviewed", "cardiac_fluid_status", "hydration")}
    form |= {code: "on" for code in ("premedication", "emergency_drugs", "product_and_dose", "dedicated_line")}
    client.post(f"/orders/infusions/{infusion.pk}/start/", {**form, **day_vials_form(infusion)})
    response = client.post(f"/orders/infusions/{infusion.pk}/{action}/", body, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    page = response.content.decode()
    assert f'data-field="{field}">{message}' in page
    assert field.replace("_", " ") not in page


def test_an_action_on_an_order_that_does_not_exist_is_404(client, pharmacist):
    client.force_login(pharmacist)
    assert client.post("/orders/999999/verify/").status_code == 404
