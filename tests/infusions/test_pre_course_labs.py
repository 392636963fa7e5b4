"""At verification the pharmacist sees whether the pre-course labs are there (docs/clinical-rules.md §A9, §A13): an
at-risk patient's order needs a recent creatinine, a high-dose course a hemoglobin and a blood group."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from infusions.models import Order, Product
from tests.factories import PatientFactory
from tests.infusions.test_safety_stops import order_payload

pytestmark = pytest.mark.django_db


def codes(response):
    return [stop["code"] for stop in response.json().get("stops", [])]


@pytest.fixture
def gamunex(db):
    return Product.objects.get(name="Gamunex-C")


def draft(api, patient, product, **extra):
    created = api.post("/api/v1/orders/", order_payload(patient, product, **extra))
    assert created.status_code == 201, created.json()
    return created.json()["id"]


def record_lab(api, patient, test, value, unit="", days_ago=1):
    taken = (timezone.now() - timedelta(days=days_ago)).isoformat()
    recorded = api.post(
        f"/api/v1/patients/{patient.pk}/labs/", {"test": test, "value": value, "unit": unit, "collected_at": taken}
    )
    assert recorded.status_code == 201, recorded.json()


def test_an_at_risk_patients_order_needs_a_creatinine_before_verification(
    client_for, hematologist, pharmacist, nurse, gamunex
):
    patient = PatientFactory(labs=False, diabetes=True)
    record_lab(client_for(nurse), patient, "blood_group", "O+")
    order_id = draft(client_for(hematologist), patient, gamunex)

    refused = client_for(pharmacist).post(f"/api/v1/orders/{order_id}/verify/", {})

    assert refused.status_code == 409
    assert codes(refused) == ["renal_labs_missing"]
    assert "(diabetes)" in refused.json()["stops"][0]["message"]
    assert Order.objects.get(pk=order_id).status == "draft"
    # A creatinine 10 days old is not recent enough for a patient with diabetes; yesterday's is.
    record_lab(client_for(nurse), patient, "creatinine", "95", "umol/L", days_ago=10)
    assert codes(client_for(pharmacist).post(f"/api/v1/orders/{order_id}/verify/", {})) == ["renal_labs_missing"]
    record_lab(client_for(nurse), patient, "creatinine", "97", "umol/L")
    assert client_for(pharmacist).post(f"/api/v1/orders/{order_id}/verify/", {}).status_code == 200


def test_the_verifier_may_override_a_missing_creatinine_with_a_reason(client_for, hematologist, pharmacist, gamunex):
    patient = PatientFactory(labs=False)
    order_id = draft(client_for(hematologist), patient, gamunex)
    overridden = client_for(pharmacist).post(
        f"/api/v1/orders/{order_id}/verify/",
        {
            "overrides": {
                "renal_labs_missing": "creatinine normal last month at the referring hospital",
                "hemolysis_labs_missing": "group O+ on the referral letter, Hb 131 g/L yesterday there",
            }
        },
        format="json",
    )
    assert overridden.status_code == 200, overridden.json()
    recorded = {
        entry["code"]: entry["override"]["reason"] for entry in overridden.json()["safety"] if entry["override"]
    }
    assert recorded["renal_labs_missing"].startswith("creatinine normal")


def test_a_two_day_course_needs_a_recent_hemoglobin_and_warns_without_a_group(
    client_for, hematologist, pharmacist, nurse, gamunex
):
    patient = PatientFactory(labs=False)
    record_lab(client_for(nurse), patient, "creatinine", "70", "umol/L")
    record_lab(client_for(nurse), patient, "hemoglobin", "13.1", "g/dL", days_ago=5)
    order_id = draft(client_for(hematologist), patient, gamunex, regimen="two_days_1g_per_kg")

    dry = client_for(pharmacist).get(f"/api/v1/orders/{order_id}/safety/", {"action": "verify"}).json()

    assert {stop["code"] for stop in dry["stops"]} == {"hemolysis_labs_missing"}
    assert "blood_group_missing" in [warning["code"] for warning in dry["warnings"]]


def test_the_order_page_shows_the_latest_labs_and_the_stop_before_the_tap(
    client, hematologist, pharmacist, gamunex, client_for
):
    patient = PatientFactory(labs=False)
    order_id = draft(client_for(hematologist), patient, gamunex)
    client.force_login(pharmacist)
    html = client.get(f"/orders/{order_id}/").content.decode()
    assert "renal_labs_missing" in html
    assert 'data-testid="order-labs"' in html and "none recorded" in html


def test_a_maltose_product_for_a_patient_on_corticosteroids_adds_the_glucose_method_to_the_checklist(nurse):
    from infusions import services
    from monitoring import services as monitoring_services
    from tests.factories import verified_order

    order = verified_order()
    product = order.product
    product.contains_maltose = True  # as Octagam 10 % (its vial sizes are not in the catalogue to order it here)
    product.save(update_fields=["contains_maltose"])
    assert "glucose_method_checked" not in services.checklist_items(order)

    monitoring_services.record_co_therapy(
        patient_id=order.patient_id,
        user=nurse,
        data={
            "kind": "corticosteroid",
            "drug": "dexamethasone",
            "dose": "40",
            "given_from": timezone.now() - timedelta(hours=30),
        },
    )

    assert "glucose_method_checked" in services.checklist_items(order)
    assert "glucose_method_checked" not in services.checklist_items(order, now=timezone.now() + timedelta(hours=24))
