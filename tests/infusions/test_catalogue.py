"""The site's catalogue values (docs/clinical-rules.md §A9 rate_plan_incomplete; docs/api.md "Products"), and
Gammagard S/D from order to bedside once pharmacy has recorded them.

The values recorded here are test values with an explicit test source, never clinical values: the shipped catalogue
keeps Gammagard S/D's rates unknown."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from infusions import services
from infusions.models import Infusion, Order, Product
from tests.factories import FULL_CHECKLIST, NORMAL_VITALS, PatientFactory, day_vials_form

pytestmark = pytest.mark.db

TEST_SOURCE = "test fixture: not a clinical value"
# Test values only (see the module docstring).
SITE_RATES = {"initial_rate_mg_per_kg_min": "0.5", "itp_max_rate_mg_per_kg_min": "4", "step_up_interval_min": 30}


@pytest.fixture
def gammagard_sd(db) -> Product:
    return Product.objects.get(name="Gammagard S/D")


@pytest.fixture
def patient(db):
    """docs/clinical-rules.md reference §9.1 case 1: male, 178 cm, 82 kg, 45 years (dosing weight 76.7 kg)."""
    return PatientFactory(sex="male", height_cm=Decimal("178"), weight_kg=Decimal("82"), birth_date=date(1981, 1, 1))


def record_test_rates(product: Product, pharmacist, **values) -> Product:
    return services.record_site_values(
        product_id=product.pk, user=pharmacist, values={**SITE_RATES, **values}, source=TEST_SOURCE
    )


def order_payload(patient, product, **extra):
    return {
        "patient": patient.pk,
        "regimen": "one_dose_1g_per_kg",
        "product": product.pk,
        "baseline_platelet_count": 12,
        "first_infusion_on": str(timezone.localdate()),
        **extra,
    }


def product_row(product: Product) -> dict:
    product.refresh_from_db()
    return {
        "initial": product.initial_rate_mg_per_kg_min,
        "maximum": product.itp_max_rate_mg_per_kg_min,
        "interval": product.step_up_interval_min,
        "vials": product.vial_sizes_g,
        "site_values": product.site_values,
        "history": product.history.count(),
    }


# --- The service ------------------------------------------------------------------------------------------


def test_pharmacy_records_the_sites_initial_rate_and_itp_maximum_with_their_source(gammagard_sd, pharmacist):
    before = gammagard_sd.history.count()
    product = record_test_rates(gammagard_sd, pharmacist)
    product.refresh_from_db()
    assert product.initial_rate_mg_per_kg_min == Decimal("0.5")
    assert product.itp_max_rate_mg_per_kg_min == Decimal("4")
    assert product.step_up_interval_min == 30
    entry = product.site_values["initial_rate_mg_per_kg_min"]
    assert (entry["value"], entry["source"], entry["by"]) == (0.5, TEST_SOURCE, "pharm1")
    assert set(product.site_values) == set(SITE_RATES)
    assert product.history.count() == before + 1
    latest = product.history.first()
    assert latest.history_user == pharmacist
    assert latest.history_change_reason.startswith("site values: initial_rate_mg_per_kg_min")


def test_a_label_value_is_never_replaced_by_a_site_value(gammagard_sd, pharmacist):
    gamunex = Product.objects.get(name="Gamunex-C")
    before = product_row(gamunex), product_row(gammagard_sd)
    with pytest.raises(ValidationError) as refused:
        services.record_site_values(
            product_id=gamunex.pk, user=pharmacist, values={"itp_max_rate_mg_per_kg_min": "6"}, source=TEST_SOURCE
        )
    assert "never replaced" in refused.value.message_dict["itp_max_rate_mg_per_kg_min"][0]
    # Gammagard S/D's label gives its vial sizes: refused, and the valid rates sent with them are not kept either.
    with pytest.raises(ValidationError) as refused:
        record_test_rates(gammagard_sd, pharmacist, vial_sizes_g=[1, 2])
    assert list(refused.value.message_dict) == ["vial_sizes_g"]
    assert (product_row(gamunex), product_row(gammagard_sd)) == before


def test_a_site_value_may_be_corrected_by_pharmacy_with_a_new_source(gammagard_sd, pharmacist):
    record_test_rates(gammagard_sd, pharmacist)
    services.record_site_values(
        product_id=gammagard_sd.pk,
        user=pharmacist,
        values={"itp_max_rate_mg_per_kg_min": "3"},
        source="test fixture: corrected",
    )
    gammagard_sd.refresh_from_db()
    assert gammagard_sd.itp_max_rate_mg_per_kg_min == Decimal("3")
    assert gammagard_sd.site_values["itp_max_rate_mg_per_kg_min"]["source"] == "test fixture: corrected"
    assert gammagard_sd.site_values["initial_rate_mg_per_kg_min"]["source"] == TEST_SOURCE


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"initial_rate_mg_per_kg_min": "0"}, "initial_rate_mg_per_kg_min"),
        ({"initial_rate_mg_per_kg_min": "-1"}, "initial_rate_mg_per_kg_min"),
        ({"initial_rate_mg_per_kg_min": "fast"}, "initial_rate_mg_per_kg_min"),
        ({"initial_rate_mg_per_kg_min": "0.0005"}, "initial_rate_mg_per_kg_min"),
        ({"initial_rate_mg_per_kg_min": "5", "itp_max_rate_mg_per_kg_min": "4"}, "initial_rate_mg_per_kg_min"),
        ({"step_up_interval_min": "0"}, "step_up_interval_min"),
        ({"step_up_interval_min": "15.5"}, "step_up_interval_min"),
        ({"itp_min_age_years": "-1"}, "itp_min_age_years"),
        ({"bogus": "1"}, "bogus"),
        ({}, "values"),
    ],
)
def test_an_impossible_site_value_is_refused_and_nothing_changes(gammagard_sd, pharmacist, values, field):
    before = product_row(gammagard_sd)
    with pytest.raises(ValidationError) as refused:
        services.record_site_values(product_id=gammagard_sd.pk, user=pharmacist, values=values, source=TEST_SOURCE)
    assert field in refused.value.message_dict
    assert product_row(gammagard_sd) == before


def test_an_initial_rate_above_a_known_itp_maximum_is_refused(gammagard_sd, pharmacist):
    record_test_rates(gammagard_sd, pharmacist)
    with pytest.raises(ValidationError) as refused:
        services.record_site_values(
            product_id=gammagard_sd.pk,
            user=pharmacist,
            values={"initial_rate_mg_per_kg_min": "4.5"},
            source=TEST_SOURCE,
        )
    assert "not be above the ITP maximum" in refused.value.message_dict["initial_rate_mg_per_kg_min"][0]


def test_vial_sizes_are_positive_numbers_of_grams(pharmacist):
    alyglo = Product.objects.get(name="Alyglo")
    assert alyglo.vial_sizes_g in ([], None)
    with pytest.raises(ValidationError) as refused:
        services.record_site_values(
            product_id=alyglo.pk, user=pharmacist, values={"vial_sizes_g": [5, 0]}, source=TEST_SOURCE
        )
    assert "vial_sizes_g" in refused.value.message_dict
    services.record_site_values(
        product_id=alyglo.pk, user=pharmacist, values={"vial_sizes_g": "10, 5"}, source=TEST_SOURCE
    )
    alyglo.refresh_from_db()
    assert alyglo.vial_sizes_g == [5.0, 10.0]


def test_every_site_value_needs_its_source(gammagard_sd, pharmacist):
    before = product_row(gammagard_sd)
    with pytest.raises(ValidationError) as refused:
        services.record_site_values(product_id=gammagard_sd.pk, user=pharmacist, values=SITE_RATES, source="  ")
    assert "source" in refused.value.message_dict
    assert product_row(gammagard_sd) == before


@pytest.mark.parametrize("role", ["nurse", "hematologist"])
def test_only_pharmacy_records_site_values(gammagard_sd, role_user, role):
    before = product_row(gammagard_sd)
    with pytest.raises(PermissionDenied):
        record_test_rates(gammagard_sd, role_user(role))
    assert product_row(gammagard_sd) == before


# --- The API ----------------------------------------------------------------------------------------------


def test_products_show_their_safety_fields_and_the_source_of_each_site_value(client_for, nurse, pharmacist):
    gammagard = Product.objects.get(name="Gammagard S/D")
    record_test_rates(gammagard, pharmacist)
    body = client_for(nurse).get(f"/api/v1/products/{gammagard.pk}/").json()
    assert body["reconstituted"] is True
    assert body["contains_glucose"] is True
    assert (body["contains_sorbitol"], body["contains_maltose"], body["itp_min_age_years"]) == (False, False, None)
    assert body["site_values"]["itp_max_rate_mg_per_kg_min"]["source"] == TEST_SOURCE
    assert body["itp_max_rate_mg_per_kg_min"] == 4.0


def test_a_pharmacist_records_site_values_through_the_api(client_for, pharmacist, gammagard_sd):
    response = client_for(pharmacist).post(
        f"/api/v1/products/{gammagard_sd.pk}/site-values/",
        {"values": SITE_RATES, "source": TEST_SOURCE},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["initial_rate_mg_per_kg_min"] == 0.5
    assert response.json()["site_values"]["step_up_interval_min"]["value"] == 30


def test_a_refused_site_value_is_a_400_under_values_and_nothing_changes(client_for, pharmacist, gammagard_sd):
    before = product_row(gammagard_sd)
    response = client_for(pharmacist).post(
        f"/api/v1/products/{gammagard_sd.pk}/site-values/",
        {"values": {"initial_rate_mg_per_kg_min": "0", "vial_sizes_g": [1]}, "source": ""},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"source", "values"}
    assert set(body["values"]) == {"initial_rate_mg_per_kg_min", "vial_sizes_g"}
    assert product_row(gammagard_sd) == before


@pytest.mark.parametrize("role", ["nurse", "hematologist"])
def test_a_nurse_or_a_hematologist_may_not_record_site_values(client_for, role_user, gammagard_sd, role):
    before = product_row(gammagard_sd)
    response = client_for(role_user(role)).post(
        f"/api/v1/products/{gammagard_sd.pk}/site-values/", {"values": SITE_RATES, "source": TEST_SOURCE}, format="json"
    )
    assert response.status_code == 403
    assert product_row(gammagard_sd) == before


# --- The pages --------------------------------------------------------------------------------------------


def test_the_pharmacy_dashboard_links_the_catalogue_page_which_lists_unknown_values(client, pharmacist):
    client.force_login(pharmacist)
    assert 'href="/orders/catalogue/"' in client.get("/pharmacy/").content.decode()
    html = client.get("/orders/catalogue/").content.decode()
    assert "Gammagard S/D" in html
    assert "Unknown: initial rate (mg/kg/min), step-up interval (min), ITP maximum rate (mg/kg/min)" in html
    assert "a hematologist recalculates them" in html


def test_a_pharmacist_records_site_values_on_the_catalogue_page(client, pharmacist, gammagard_sd):
    client.force_login(pharmacist)
    prefix = f"product{gammagard_sd.pk}"
    response = client.post(
        f"/orders/catalogue/{gammagard_sd.pk}/",
        {
            f"{prefix}-initial_rate_mg_per_kg_min": "0.5",
            f"{prefix}-itp_max_rate_mg_per_kg_min": "4",
            f"{prefix}-source": TEST_SOURCE,
        },
    )
    assert response.status_code == 302
    gammagard_sd.refresh_from_db()
    assert (gammagard_sd.initial_rate_mg_per_kg_min, gammagard_sd.itp_max_rate_mg_per_kg_min) == (
        Decimal("0.5"),
        Decimal("4"),
    )
    assert gammagard_sd.step_up_interval_min is None
    html = client.get("/orders/catalogue/").content.decode()
    assert TEST_SOURCE in html


def test_a_refused_value_is_shown_beside_its_field_keeping_what_was_typed(client, pharmacist, gammagard_sd):
    client.force_login(pharmacist)
    prefix = f"product{gammagard_sd.pk}"
    before = product_row(gammagard_sd)
    response = client.post(
        f"/orders/catalogue/{gammagard_sd.pk}/",
        {
            f"{prefix}-initial_rate_mg_per_kg_min": "5",
            f"{prefix}-itp_max_rate_mg_per_kg_min": "4",
            f"{prefix}-source": "",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "may not be above the ITP maximum" in html
    assert "Name the source of these values" in html
    assert f'name="{prefix}-initial_rate_mg_per_kg_min" value="5"' in html
    assert product_row(gammagard_sd) == before


def test_a_nurse_may_not_open_or_post_the_catalogue_page(client, nurse, gammagard_sd):
    client.force_login(nurse)
    before = product_row(gammagard_sd)
    assert client.get("/orders/catalogue/").status_code == 403
    prefix = f"product{gammagard_sd.pk}"
    response = client.post(
        f"/orders/catalogue/{gammagard_sd.pk}/",
        {f"{prefix}-initial_rate_mg_per_kg_min": "0.5", f"{prefix}-source": TEST_SOURCE},
    )
    assert response.status_code == 403
    assert product_row(gammagard_sd) == before


def test_the_product_admin_shows_site_values_read_only(client, gammagard_sd, pharmacist, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "x")
    record_test_rates(gammagard_sd, pharmacist)
    client.force_login(admin)
    html = client.get(f"/admin/infusions/product/{gammagard_sd.pk}/change/").content.decode()
    assert TEST_SOURCE in html
    assert 'name="site_values"' not in html


# --- Gammagard S/D end to end -----------------------------------------------------------------------------


def test_gammagard_sd_is_not_verified_until_pharmacy_records_the_sites_initial_rate_and_itp_maximum(
    client_for, hematologist, pharmacist, patient, gammagard_sd
):
    order_id = (
        client_for(hematologist)
        .post("/api/v1/orders/", order_payload(patient, gammagard_sd, prepared_concentration_percent="5"))
        .json()["id"]
    )
    response = client_for(pharmacist).post(f"/api/v1/orders/{order_id}/verify/", format="json")
    assert response.status_code == 409
    assert [stop["code"] for stop in response.json()["stops"]] == ["rate_plan_incomplete"]
    assert Order.objects.get(pk=order_id).status == "draft"
    assert not Infusion.objects.exists()


def test_an_order_drafted_before_the_site_values_is_verified_only_after_a_hematologist_recalculates_it(
    client_for, hematologist, pharmacist, patient, gammagard_sd
):
    order_id = (
        client_for(hematologist)
        .post("/api/v1/orders/", order_payload(patient, gammagard_sd, prepared_concentration_percent="5"))
        .json()["id"]
    )
    record_test_rates(gammagard_sd, pharmacist)
    refused = client_for(pharmacist).post(f"/api/v1/orders/{order_id}/verify/", format="json")
    assert refused.status_code == 409
    assert "recalculates" in refused.json()["detail"]
    assert client_for(hematologist).post(f"/api/v1/orders/{order_id}/recalculate/").status_code == 200
    verified = client_for(pharmacist).post(f"/api/v1/orders/{order_id}/verify/", format="json")
    assert verified.status_code == 200, verified.json()
    assert verified.json()["rate_plan"]["steps"][0]["rate_ml_per_h"] == pytest.approx(46.0, abs=0.1)


@pytest.mark.parametrize(("percent", "first_ml_per_h", "max_ml_per_h"), [("5", 46.0, 368.0), ("10", 23.0, 184.0)])
def test_a_gammagard_sd_order_gets_a_rate_plan_at_its_prepared_concentration(
    client_for, hematologist, pharmacist, patient, gammagard_sd, percent, first_ml_per_h, max_ml_per_h
):
    # 76.7 kg: 0.5 mg/kg/min is 0.01 mL/kg/min at 5 % (50 mg/mL) and 0.005 at 10 %; the ITP maximum 4 mg/kg/min.
    record_test_rates(gammagard_sd, pharmacist)
    response = client_for(hematologist).post(
        "/api/v1/orders/", order_payload(patient, gammagard_sd, prepared_concentration_percent=percent)
    )
    assert response.status_code == 201, response.json()
    plan = response.json()["rate_plan"]
    assert plan["steps"][0]["rate_ml_per_h"] == pytest.approx(first_ml_per_h, abs=0.1)
    assert plan["max_rate_ml_per_h"] == pytest.approx(max_ml_per_h, abs=0.2)
    assert plan["step_up_interval_min"] == 30
    verified = client_for(pharmacist).post(f"/api/v1/orders/{response.json()['id']}/verify/", format="json")
    assert verified.status_code == 200, verified.json()
    volume = Order.objects.get(pk=response.json()["id"]).volume_per_day_ml
    grams = Order.objects.get(pk=response.json()["id"]).rounded_dose_per_day_g
    assert volume == (grams * 100 / Decimal(percent)).quantize(Decimal("0.1"))


def test_a_gammagard_sd_order_without_its_prepared_concentration_is_not_verified(
    client_for, hematologist, pharmacist, patient, gammagard_sd
):
    record_test_rates(gammagard_sd, pharmacist)
    order_id = client_for(hematologist).post("/api/v1/orders/", order_payload(patient, gammagard_sd)).json()["id"]
    response = client_for(pharmacist).post(f"/api/v1/orders/{order_id}/verify/", format="json")
    assert response.status_code == 409
    assert "prepared concentration" in response.json()["detail"]
    assert Order.objects.get(pk=order_id).status == "draft"


def test_the_order_form_asks_the_prepared_concentration_of_a_reconstituted_product(
    client, hematologist, pharmacist, patient, gammagard_sd
):
    record_test_rates(gammagard_sd, pharmacist)
    client.force_login(hematologist)
    data = {
        "patient": patient.pk,
        "regimen": "one_dose_1g_per_kg",
        "product": gammagard_sd.pk,
        "baseline_platelet_count": "12",
        "first_infusion_on": str(timezone.localdate()),
    }
    response = client.post("/orders/new/", data)
    assert response.status_code == 200
    assert "choose the concentration pharmacy prepares it at" in response.content.decode()
    assert not Order.objects.exists()
    response = client.post("/orders/new/", {**data, "prepared_concentration_percent": "10"})
    assert response.status_code == 302
    order = Order.objects.get()
    assert order.prepared_concentration_percent == Decimal("10")
    assert order.rate_plan["steps"][0]["rate_ml_per_h"] == pytest.approx(23.0, abs=0.1)


def test_gammagard_sd_starts_on_the_bedside_page_at_the_plans_first_step(
    client, client_for, hematologist, pharmacist, nurse, patient, gammagard_sd
):
    record_test_rates(gammagard_sd, pharmacist)
    order_id = (
        client_for(hematologist)
        .post("/api/v1/orders/", order_payload(patient, gammagard_sd, prepared_concentration_percent="5"))
        .json()["id"]
    )
    assert client_for(pharmacist).post(f"/api/v1/orders/{order_id}/verify/", format="json").status_code == 200
    infusion = Infusion.objects.get(order_id=order_id)
    services.record_vitals(infusion_id=infusion.pk, user=nurse, values=NORMAL_VITALS)
    client.force_login(nurse)
    page = client.get(f"/orders/infusions/{infusion.pk}/").content.decode()
    assert "Start at 46.0 mL/h" in page
    response = client.post(
        f"/orders/infusions/{infusion.pk}/start/",
        {**{code: "on" for code in FULL_CHECKLIST}, **day_vials_form(infusion, lots=["LOT-SD-1"])},
    )
    assert response.status_code == 302
    infusion.refresh_from_db()
    assert infusion.status == "in_progress"
    assert infusion.current_rate_ml_per_h == Decimal("46.0")
    assert list(infusion.rate_segments.values_list("rate_ml_per_h", flat=True)) == [Decimal("46.0")]
