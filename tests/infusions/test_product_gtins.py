"""Pharmacy records the GTINs of a product's vials, with their sizes and a source, kept in the product's history
(docs/clinical-rules.md §A10 vial_mismatch). The GTINs here are made up (GS1's 0761234500... test range), as the
test values of test_catalogue.py are."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from infusions import services
from infusions.models import Product

pytestmark = pytest.mark.db

SOURCE = "test fixture: not a real GTIN"


@pytest.fixture
def product(db) -> Product:
    product = Product.objects.exclude(vial_sizes_g=[]).order_by("name").first()
    assert product is not None
    return product


def size(product: Product, index: int = 0) -> float:
    return sorted(product.vial_sizes_g)[index]


def test_pharmacy_records_gtins_with_size_demo_flag_and_source_in_history(product, pharmacist) -> None:
    recorded = services.record_gtins(
        product_id=product.pk,
        user=pharmacist,
        gtins=[{"gtin": "7612345000107", "vial_size_g": size(product), "demo": True}],
        source=SOURCE,
    )
    assert recorded.gtins == [{"gtin": "07612345000107", "vial_size_g": float(size(product)), "demo": True}]
    assert recorded.site_values["gtins"]["source"] == SOURCE
    assert recorded.site_values["gtins"]["by"] == pharmacist.get_username()
    latest = recorded.history.latest()
    assert latest.history_user == pharmacist
    assert latest.gtins == recorded.gtins
    assert "GTINs" in latest.history_change_reason


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({"gtin": "07612345000108", "vial_size_g": None}, "check digit"),
        ({"gtin": "761234500", "vial_size_g": None}, "8, 12, 13 or 14 digits"),
        ({"gtin": "07612345000107", "vial_size_g": 0.3}, "does not come in 0.3 g vials"),
    ],
)
def test_a_wrong_gtin_or_size_is_refused_and_changes_nothing(product, pharmacist, entry, says) -> None:
    entry = {**entry, "vial_size_g": entry["vial_size_g"] or size(product)}
    with pytest.raises(ValidationError, match=says):
        services.record_gtins(product_id=product.pk, user=pharmacist, gtins=[entry], source=SOURCE)
    product.refresh_from_db()
    assert product.gtins == []


def test_a_gtin_is_one_products_and_given_once(product, pharmacist) -> None:
    other = Product.objects.exclude(pk=product.pk).exclude(vial_sizes_g=[]).first()
    services.record_gtins(
        product_id=other.pk,
        user=pharmacist,
        gtins=[{"gtin": "07612345000206", "vial_size_g": size(other)}],
        source=SOURCE,
    )
    with pytest.raises(ValidationError, match=f"is {other.name}'s"):
        services.record_gtins(
            product_id=product.pk,
            user=pharmacist,
            gtins=[{"gtin": "07612345000206", "vial_size_g": size(product)}],
            source=SOURCE,
        )
    twice = [{"gtin": "07612345000503", "vial_size_g": size(product)}] * 2
    with pytest.raises(ValidationError, match="given twice"):
        services.record_gtins(product_id=product.pk, user=pharmacist, gtins=twice, source=SOURCE)


def test_a_source_is_required_and_only_pharmacy_records_gtins(product, pharmacist, nurse) -> None:
    entry = [{"gtin": "07612345000107", "vial_size_g": size(product)}]
    with pytest.raises(ValidationError, match="source"):
        services.record_gtins(product_id=product.pk, user=pharmacist, gtins=entry, source=" ")
    with pytest.raises(PermissionDenied):
        services.record_gtins(product_id=product.pk, user=nurse, gtins=entry, source=SOURCE)


def test_pharmacy_records_gtins_through_the_api_and_the_product_shows_them(product, client_for, pharmacist) -> None:
    response = client_for(pharmacist).post(
        f"/api/v1/products/{product.pk}/gtins/",
        {"gtins": [{"gtin": "07612345000107", "vial_size_g": size(product)}], "source": SOURCE},
    )
    assert response.status_code == 200, response.json()
    assert [entry["gtin"] for entry in response.json()["gtins"]] == ["07612345000107"]


def test_the_api_refuses_a_wrong_gtin_beside_gtins_and_a_nurse_outright(product, client_for, pharmacist, nurse) -> None:
    url = f"/api/v1/products/{product.pk}/gtins/"
    wrong = client_for(pharmacist).post(
        url, {"gtins": [{"gtin": "07612345000108", "vial_size_g": size(product)}], "source": SOURCE}
    )
    assert wrong.status_code == 400
    assert "check digit" in wrong.json()["gtins"][0]
    no_source = client_for(pharmacist).post(
        url, {"gtins": [{"gtin": "07612345000107", "vial_size_g": size(product)}], "source": " "}
    )
    assert no_source.status_code == 400
    assert "source" in no_source.json()
    by_nurse = client_for(nurse).post(
        url, {"gtins": [{"gtin": "07612345000107", "vial_size_g": size(product)}], "source": SOURCE}
    )
    assert by_nurse.status_code == 403
    product.refresh_from_db()
    assert product.gtins == []
