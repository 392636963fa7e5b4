from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from infusions.models import Infusion, Order, Product
from patients.models import WeightMeasurement
from tests.factories import PatientFactory, non_responding_order

pytestmark = pytest.mark.db


@pytest.fixture
def gamunex(db) -> Product:
    return Product.objects.get(name="Gamunex-C")


@pytest.fixture
def case1_patient(db):
    """docs/clinical-rules.md reference §9.1 case 1: male, 178 cm, 82 kg, 45 years."""
    return PatientFactory(sex="male", height_cm=Decimal("178"), weight_kg=Decimal("82"), birth_date=date(1981, 1, 1))


def order_payload(patient, product, **extra):
    return {
        "patient": patient.pk,
        "regimen": "one_dose_1g_per_kg",
        "product": product.pk,
        "baseline_platelet_count": 12,
        "baseline_collected_at": (timezone.now() - timedelta(hours=2)).isoformat(),
        "first_infusion_on": str(timezone.localdate()),
        **extra,
    }


def test_an_order_reproduces_public_case_1_and_stores_its_working(client_for, hematologist, case1_patient, gamunex):
    response = client_for(hematologist).post("/api/v1/orders/", order_payload(case1_patient, gamunex))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "draft"
    assert body["dosing_weight_basis"] == "adjusted"
    assert round(body["dosing_weight_kg"], 1) == 76.7
    assert round(body["dose_per_day_g"], 1) == 76.7
    assert body["rounded_dose_per_day_g"] == 75
    assert body["days"] == 1
    assert body["total_dose_g"] == 75
    assert body["vials_per_day"] == [
        {"size_g": 40.0, "count": 1},
        {"size_g": 20.0, "count": 1},
        {"size_g": 10.0, "count": 1},
        {"size_g": 5.0, "count": 1},
    ]
    assert body["warnings"] == []
    assert body["created_by"] == "haem1"
    assert body["verified_by"] is None
    assert body["rate_plan"]["steps"][0]["rate_ml_per_h"] == pytest.approx(46.0, abs=0.1)


def test_the_regimen_two_days_schedules_two_infusions_on_verification(
    client_for, hematologist, pharmacist, case1_patient, gamunex
):
    first_day = timezone.localdate() + timedelta(days=1)
    order_id = (
        client_for(hematologist)
        .post(
            "/api/v1/orders/",
            order_payload(case1_patient, gamunex, regimen="two_days_1g_per_kg", first_infusion_on=str(first_day)),
        )
        .json()["id"]
    )
    response = client_for(pharmacist).post(f"/api/v1/orders/{order_id}/verify/")
    assert response.status_code == 200
    assert response.json()["status"] == "verified"
    assert response.json()["verified_by"] == "pharm1"
    infusions = list(Infusion.objects.filter(order_id=order_id).values_list("day_number", "scheduled_for", "dose_g"))
    assert infusions == [
        (1, first_day, Decimal("75.00")),
        (2, first_day + timedelta(days=1), Decimal("75.00")),
    ]


@pytest.mark.parametrize("role", ["nurse", "pharmacist"])
def test_only_hematologists_create_orders(client_for, role_user, case1_patient, gamunex, role):
    response = client_for(role_user(role)).post("/api/v1/orders/", order_payload(case1_patient, gamunex))
    assert response.status_code == 403
    assert Order.objects.count() == 0


def test_the_prescriber_cannot_verify_their_own_order(client_for, hematologist, case1_patient, gamunex):
    client = client_for(hematologist)
    order_id = client.post("/api/v1/orders/", order_payload(case1_patient, gamunex)).json()["id"]
    response = client.post(f"/api/v1/orders/{order_id}/verify/")
    assert response.status_code == 403
    assert Order.objects.get(pk=order_id).status == "draft"
    assert not Infusion.objects.exists()


def test_a_second_hematologist_may_verify_and_a_second_verification_is_409(
    client_for, hematologist, second_hematologist, case1_patient, gamunex
):
    order_id = client_for(hematologist).post("/api/v1/orders/", order_payload(case1_patient, gamunex)).json()["id"]
    verifier = client_for(second_hematologist)
    assert verifier.post(f"/api/v1/orders/{order_id}/verify/").status_code == 200
    again = verifier.post(f"/api/v1/orders/{order_id}/verify/")
    assert again.status_code == 409
    assert "detail" in again.json()
    assert Infusion.objects.filter(order_id=order_id).count() == 1


def test_a_non_emergency_order_without_an_iga_result_cannot_be_verified(client_for, hematologist, pharmacist, gamunex):
    patient = PatientFactory(serum_iga_mg_dl=None, iga_measured_on=None)
    order_id = client_for(hematologist).post("/api/v1/orders/", order_payload(patient, gamunex)).json()["id"]
    response = client_for(pharmacist).post(f"/api/v1/orders/{order_id}/verify/")
    assert response.status_code == 409
    assert "IgA" in response.json()["detail"]
    assert Order.objects.get(pk=order_id).status == "draft"


def test_an_emergency_order_may_be_verified_before_the_iga_result(client_for, hematologist, pharmacist, gamunex):
    patient = PatientFactory(serum_iga_mg_dl=None, iga_measured_on=None)
    created = client_for(hematologist).post("/api/v1/orders/", order_payload(patient, gamunex, emergency=True)).json()
    assert any("corticosteroids" in w for w in created["warnings"])
    assert client_for(pharmacist).post(f"/api/v1/orders/{created['id']}/verify/").status_code == 200


def test_an_iga_deficient_patient_needs_a_depleted_product_or_an_override_reason(client_for, hematologist, gamunex):
    patient = PatientFactory(serum_iga_mg_dl=Decimal("3"))
    client = client_for(hematologist)
    refused = client.post("/api/v1/orders/", order_payload(patient, gamunex))
    assert refused.status_code == 400
    assert "product" in refused.json()
    assert [stop["code"] for stop in refused.json()["stops"]] == ["iga_conflict"]
    assert Order.objects.count() == 0
    depleted = Product.objects.get(iga_depleted=True)
    assert client.post("/api/v1/orders/", order_payload(patient, depleted)).status_code == 201
    another = PatientFactory(serum_iga_mg_dl=Decimal("3"))  # one open course per patient
    overridden = client.post(
        "/api/v1/orders/", order_payload(another, gamunex, iga_override_reason="anti-IgA antibodies negative")
    )
    assert overridden.status_code == 201
    assert [w["code"] for w in overridden.json()["warning_details"]] == ["iga_override"]


def test_a_repeat_must_reference_an_earlier_order_of_the_same_patient(client_for, hematologist, gamunex):
    patient, other = PatientFactory(), PatientFactory()
    client = client_for(hematologist)
    other_order = client.post("/api/v1/orders/", order_payload(other, gamunex)).json()["id"]
    missing = client.post("/api/v1/orders/", order_payload(patient, gamunex, regimen="repeat_1g_per_kg"))
    wrong = client.post(
        "/api/v1/orders/", order_payload(patient, gamunex, regimen="repeat_1g_per_kg", previous_order=other_order)
    )
    assert missing.status_code == wrong.status_code == 400
    assert "previous_order" in missing.json() and "previous_order" in wrong.json()
    first = non_responding_order(prescriber=hematologist)
    repeat = client.post(
        "/api/v1/orders/",
        order_payload(first.patient, gamunex, regimen="repeat_1g_per_kg", previous_order=first.pk),
    )
    assert repeat.status_code == 201
    assert repeat.json()["previous_order"] == first.pk


@pytest.mark.parametrize(
    "patient_kwargs, expected_message",
    [
        ({"height_cm": None}, "no height"),
        ({"weight_kg": False}, "no weight"),
    ],
)
def test_a_patient_without_height_or_weight_cannot_be_ordered_for(
    client_for, hematologist, gamunex, patient_kwargs, expected_message
):
    patient = PatientFactory(**patient_kwargs)
    response = client_for(hematologist).post("/api/v1/orders/", order_payload(patient, gamunex))
    assert response.status_code == 400
    assert expected_message in " ".join(response.json()["patient"])
    assert Order.objects.count() == 0


def test_a_weight_older_than_30_days_warns_at_creation_and_is_refused_at_verification(
    client_for, hematologist, pharmacist, gamunex
):
    patient = PatientFactory(weight_kg__measured_at=timezone.now() - timedelta(days=31))
    created = client_for(hematologist).post("/api/v1/orders/", order_payload(patient, gamunex))
    assert created.status_code == 201
    assert [s["code"] for s in created.json()["safety"] if s["kind"] == "warning"] == ["weight_stale"]
    refused = client_for(pharmacist).post(f"/api/v1/orders/{created.json()['id']}/verify/")
    assert refused.status_code == 409
    assert [s["code"] for s in refused.json()["stops"]] == ["weight_stale"]
    assert Order.objects.get().status == "draft"


@pytest.mark.parametrize(
    "field, value",
    [("product", 999999), ("regimen", "three_days"), ("baseline_platelet_count", 2001), ("patient", 999999)],
)
def test_unknown_or_implausible_order_inputs_are_400_on_their_field(
    client_for, hematologist, case1_patient, gamunex, field, value
):
    response = client_for(hematologist).post("/api/v1/orders/", {**order_payload(case1_patient, gamunex), field: value})
    assert response.status_code == 400
    assert field in response.json()
    assert Order.objects.count() == 0


def test_a_product_without_known_vial_sizes_is_refused_with_a_reason(client_for, hematologist, case1_patient):
    octagam = Product.objects.get(name__startswith="Octagam")
    response = client_for(hematologist).post("/api/v1/orders/", order_payload(case1_patient, octagam))
    assert response.status_code == 400
    assert "vial sizes" in " ".join(response.json()["product"])


def test_a_dosing_weight_override_needs_a_reason_and_is_recorded(client_for, hematologist, case1_patient, gamunex):
    client = client_for(hematologist)
    no_reason = client.post("/api/v1/orders/", order_payload(case1_patient, gamunex, dosing_weight_override_kg=70))
    assert no_reason.status_code == 400
    assert "dosing_weight_override_reason" in no_reason.json()
    body = client.post(
        "/api/v1/orders/",
        order_payload(case1_patient, gamunex, dosing_weight_override_kg=70, dosing_weight_override_reason="ascites"),
    ).json()
    assert (body["dosing_weight_kg"], body["dosing_weight_exclusion"], body["rounded_dose_per_day_g"]) == (
        70.0,
        "prescriber_override",
        70.0,
    )
    assert body["dosing_weight_override_reason"] == "ascites"
    above_actual = client.post(
        "/api/v1/orders/",
        order_payload(case1_patient, gamunex, dosing_weight_override_kg=90, dosing_weight_override_reason="x"),
    )
    assert above_actual.status_code == 400


def test_a_later_weight_never_changes_an_order_until_it_is_recalculated(
    client_for, hematologist, case1_patient, gamunex
):
    client = client_for(hematologist)
    order_id = client.post("/api/v1/orders/", order_payload(case1_patient, gamunex)).json()["id"]
    WeightMeasurement.objects.create(patient=case1_patient, weight_kg=Decimal("100"), measured_at=timezone.now())
    assert client.get(f"/api/v1/orders/{order_id}/").json()["rounded_dose_per_day_g"] == 75
    recalculated = client.post(f"/api/v1/orders/{order_id}/recalculate/").json()
    assert recalculated["actual_weight_kg"] == 100
    assert recalculated["rounded_dose_per_day_g"] == 85  # AdjBW 73.18 + 0.4 x 26.82 = 83.9 -> 85
    order = Order.objects.get(pk=order_id)
    assert [h.rounded_dose_per_day_g for h in order.history.order_by("history_date")] == [
        Decimal("75.00"),
        Decimal("85.00"),
    ]


def test_cancelling_needs_a_reason_and_stops_infusions_not_yet_given(
    client_for, hematologist, pharmacist, case1_patient, gamunex
):
    client = client_for(hematologist)
    order_id = client.post(
        "/api/v1/orders/", order_payload(case1_patient, gamunex, regimen="two_days_1g_per_kg")
    ).json()["id"]
    client_for(pharmacist).post(f"/api/v1/orders/{order_id}/verify/")
    assert client.post(f"/api/v1/orders/{order_id}/cancel/", {"reason": ""}).status_code == 400
    assert Order.objects.get(pk=order_id).status == "verified"
    response = client.post(f"/api/v1/orders/{order_id}/cancel/", {"reason": "platelets recovered"})
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert set(Infusion.objects.filter(order_id=order_id).values_list("status", flat=True)) == {"stopped"}
    assert client.post(f"/api/v1/orders/{order_id}/cancel/", {"reason": "again"}).status_code == 409


def test_orders_are_listed_by_patient_and_status(client_for, hematologist, case1_patient, gamunex):
    client = client_for(hematologist)
    order_id = client.post("/api/v1/orders/", order_payload(case1_patient, gamunex)).json()["id"]
    PatientFactory()
    assert [o["id"] for o in client.get(f"/api/v1/orders/?patient={case1_patient.pk}").json()["results"]] == [order_id]
    assert client.get("/api/v1/orders/?status=verified").json()["count"] == 0


def test_the_preview_works_the_dose_out_without_saving(client_for, hematologist, case1_patient, gamunex):
    response = client_for(hematologist).post("/api/v1/orders/preview/", order_payload(case1_patient, gamunex))
    assert response.status_code == 200
    assert response.json()["rounded_dose_per_day_g"] == 75
    assert Order.objects.count() == 0


def test_products_are_listed_read_only(client_for, nurse):
    client = client_for(nurse)
    names = [p["name"] for p in client.get("/api/v1/products/?page_size=100").json()["results"]]
    assert "Gamunex-C" in names and "Gammagard S/D" in names
    assert client.post("/api/v1/products/", {"name": "X"}).status_code == 405


def test_a_calculation_and_a_stored_order_carry_the_same_working_fields(case1_patient, gamunex, hematologist):
    from infusions import services

    data = {
        "patient": case1_patient,
        "regimen": "one_dose_1g_per_kg",
        "product": gamunex,
        "baseline_platelet_count": 12,
        "first_infusion_on": timezone.localdate(),
    }
    assert tuple(services.working_fields(*services.calculate(data))) == services.WORKING_FIELDS


def test_an_iga_override_given_at_creation_is_not_asked_again_at_verification(hematologist, pharmacist, gamunex):
    # The IgA typed as 5 is read back from the database as 5.00: the same facts, so the override still holds.
    from infusions import services
    from infusions.models import SafetyRecord

    patient = PatientFactory(serum_iga_mg_dl=Decimal("5"))
    order = services.create_order(
        data={
            "patient": patient,
            "regimen": "one_dose_1g_per_kg",
            "product": gamunex,
            "baseline_platelet_count": 12,
            "first_infusion_on": timezone.localdate(),
            "iga_override_reason": "Anti-IgA antibodies negative at the referring hospital",
        },
        user=hematologist,
    )
    assert services.verify_order(order_id=order.pk, user=pharmacist).status == "verified"
    overrides = SafetyRecord.objects.filter(order=order, kind="override")
    assert list(overrides.values_list("code", "stage")) == [("iga_conflict", "create")]
