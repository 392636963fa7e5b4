"""Bounds of the bedside and the catalogue: a vitals time in year 1, a volume infused beyond what the record
holds and a vial size that is not a number are refused in clinical words, and the admin reads the catalogue's
numbers with the catalogue page's rules."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from infusions import services
from infusions.admin import ProductAdminForm
from infusions.models import Product, VitalSignsEntry
from tests.factories import FULL_CHECKLIST, NORMAL_VITALS, day_vials, verified_order

pytestmark = pytest.mark.db


def test_a_vitals_set_typed_in_year_1_on_the_bedside_page_is_refused_beside_its_time(client, nurse):
    infusion = verified_order().infusions.get()
    client.force_login(nurse)
    page = client.post(
        f"/orders/infusions/{infusion.pk}/vitals/",
        {**{name: str(value) for name, value in NORMAL_VITALS.items()}, "taken_at": "0001-01-01T00:00"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert 'data-field="taken_at">Check the year: a date from 1900 to 2100 is expected.' in page
    assert 'value="0001-01-01T00:00"' in page
    assert not VitalSignsEntry.objects.filter(infusion=infusion).exists()


def test_a_volume_infused_beyond_what_the_record_holds_is_refused_and_the_infusion_keeps_running(nurse):
    infusion = verified_order().infusions.get()
    services.record_vitals(infusion_id=infusion.pk, user=nurse, values=NORMAL_VITALS)
    services.start_infusion(infusion_id=infusion.pk, user=nurse, checklist=FULL_CHECKLIST, vials=day_vials(infusion))
    with pytest.raises(ValidationError) as refused:
        services.complete_infusion(infusion_id=infusion.pk, user=nurse, volume_infused_ml=Decimal("1e999"))
    assert refused.value.message_dict == {
        "volume_infused_ml": ["The volume cannot be more than 9999999.9 mL: check the number."]
    }
    infusion.refresh_from_db()
    assert infusion.status == "in_progress"


@pytest.mark.parametrize("size", ["²", "NaN", "-5", "abc"])
def test_a_typed_vial_size_that_is_not_grams_is_refused_at_the_start(nurse, size):
    infusion = verified_order().infusions.get()
    services.record_vitals(infusion_id=infusion.pk, user=nurse, values=NORMAL_VITALS)
    vials = [{**vial, "vial_size_g": size} for vial in day_vials(infusion)]
    with pytest.raises(ValidationError) as refused:
        services.start_infusion(infusion_id=infusion.pk, user=nurse, checklist=FULL_CHECKLIST, vials=vials)
    assert "is not a number of grams" in refused.value.message_dict["vials"][0]
    infusion.refresh_from_db()
    assert infusion.status == "scheduled"


def admin_form(product, **changes):
    data = {
        field: ("" if value is None else value)
        for field, value in {field: getattr(product, field) for field in ProductAdminForm._meta.fields}.items()
    }
    data["vial_sizes_g"] = "[5, 10]"
    data.update(changes)
    for flag in (
        "iga_depleted",
        "itp_indication",
        "discontinued",
        "on_formulary",
        "contains_sorbitol",
        "contains_maltose",
        "contains_glucose",
        "reconstituted",
    ):
        if not data.get(flag):
            data.pop(flag, None)
    return ProductAdminForm(data=data, instance=product)


def test_the_admin_refuses_a_negative_vial_size_and_a_zero_rate_as_the_catalogue_page_does(db):
    product = Product.objects.get(name="Gamunex-C")
    form = admin_form(product, vial_sizes_g="[-5, 10]", initial_rate_mg_per_kg_min="0")
    assert not form.is_valid()
    assert form.errors["vial_sizes_g"] == ["Every vial size is a positive number of grams."]
    assert form.errors["initial_rate_mg_per_kg_min"] == ["A rate must be above 0 mg/kg/min."]
    assert admin_form(product).is_valid(), admin_form(product).errors
