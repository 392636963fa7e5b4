from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from infusions.models import Infusion, Order, Product
from tests.factories import PatientFactory

pytestmark = pytest.mark.db


@pytest.fixture
def form_data(db):
    patient = PatientFactory(sex="male", height_cm=Decimal("178"), weight_kg=Decimal("82"), birth_date=date(1981, 1, 1))
    return {
        "patient": patient.pk,
        "regimen": "one_dose_1g_per_kg",
        "product": Product.objects.get(name="Gamunex-C").pk,
        "baseline_platelet_count": "12",
        "first_infusion_on": str(timezone.localdate()),
    }


def test_the_order_form_preview_shows_the_working_as_the_prescriber_types(client, hematologist, form_data):
    client.force_login(hematologist)
    html = client.post("/orders/preview/", form_data, HTTP_HX_REQUEST="true").content.decode()
    assert "76.7 kg (adjusted" in html
    assert "75 g per day (-2.2 %)" in html
    assert "1 × 40 g + 1 × 20 g + 1 × 10 g + 1 × 5 g" in html
    assert "82 kg" in html  # the current weight is shown wherever a dose is shown
    html = client.post(
        "/orders/preview/", {**form_data, "regimen": "five_days_0_4g_per_kg"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "30 g per day" in html
    assert Order.objects.count() == 0


def test_the_preview_explains_why_no_dose_can_be_worked_out(client, hematologist, form_data):
    client.force_login(hematologist)
    patient = PatientFactory(height_cm=None)
    html = client.post("/orders/preview/", {**form_data, "patient": patient.pk}).content.decode()
    assert "no height on record" in html


def test_a_hematologist_drafts_an_order_and_a_pharmacist_verifies_it_in_the_browser(
    client, hematologist, pharmacist, form_data
):
    client.force_login(hematologist)
    response = client.post("/orders/new/", form_data, follow=True)
    order = Order.objects.get()
    assert response.redirect_chain[-1][0] == f"/orders/{order.pk}/"
    assert "Draft (awaiting verification)" in response.content.decode()

    client.force_login(pharmacist)
    queue = client.get("/pharmacy/").content.decode()
    assert f"Order #{order.pk}" in queue and "75 g per day" in queue
    verified = client.post(f"/orders/{order.pk}/verify/", follow=True).content.decode()
    assert "Order verified" in verified
    assert Infusion.objects.filter(order=order).count() == 1
    assert f"Order #{order.pk}" not in client.get("/pharmacy/").content.decode()


def test_a_form_error_is_shown_on_its_field_and_nothing_is_saved(client, hematologist, form_data):
    client.force_login(hematologist)
    patient = PatientFactory(serum_iga_mg_dl=Decimal("2"))
    html = client.post("/orders/new/", {**form_data, "patient": patient.pk}).content.decode()
    assert "IgA-deficient" in html
    assert Order.objects.count() == 0


def test_the_prescriber_sees_no_verify_button_on_their_own_order(client, hematologist, form_data):
    client.force_login(hematologist)
    client.post("/orders/new/", form_data)
    order = Order.objects.get()
    html = client.get(f"/orders/{order.pk}/").content.decode()
    assert "Verify order" not in html
    response = client.post(f"/orders/{order.pk}/verify/", follow=True)
    assert "never its prescriber" in response.content.decode()
    assert Order.objects.get().status == "draft"


def test_the_patient_page_lists_the_orders(client, hematologist, form_data):
    client.force_login(hematologist)
    client.post("/orders/new/", form_data)
    html = client.get(f"/orders/for-patient/{form_data['patient']}/").content.decode()
    assert "Gamunex-C" in html and "75 g" in html
