"""The order page shows the body size the dose was worked from in both unit systems, the BMI and the age on the first
infusion date, so a kg/lb or cm/in slip is seen before the dose is verified (docs/clinical-rules.md §A9)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from infusions.models import Product
from tests.factories import PatientFactory, verified_order

pytestmark = pytest.mark.db


def born_years_before(day: date, years: int) -> date:
    return day.replace(year=day.year - years)


def test_the_order_form_shows_weight_in_lb_height_in_inches_bmi_and_age_on_the_first_infusion_date(
    client, hematologist
) -> None:
    today = timezone.localdate()
    first_infusion_on = today + timedelta(days=5)
    # 44 today, 45 on the first infusion date.
    patient = PatientFactory(
        height_cm=Decimal("178"),
        weight_kg=Decimal("82"),
        birth_date=born_years_before(today + timedelta(days=3), 45),
    )
    client.force_login(hematologist)

    html = client.post(
        "/orders/preview/",
        {
            "patient": patient.pk,
            "regimen": "one_dose_1g_per_kg",
            "product": Product.objects.get(name="Gamunex-C").pk,
            "baseline_platelet_count": "12",
            "first_infusion_on": str(first_infusion_on),
        },
        HTTP_HX_REQUEST="true",
    ).content.decode()

    assert '<dd data-testid="weight">82 kg (180.8 lb)' in html
    assert '<dd data-testid="height">178 cm (70.1 in)</dd>' in html
    assert '<dd data-testid="bmi">25.9</dd>' in html
    assert '<dd data-testid="age">45 years on the first infusion date</dd>' in html


def test_the_order_page_shows_the_stored_weight_in_lb_and_height_in_inches(client, hematologist) -> None:
    order = verified_order(height_cm=Decimal("165"), weight_kg=Decimal("70"), birth_date=date(1980, 1, 1))
    client.force_login(hematologist)

    html = client.get(f"/orders/{order.pk}/").content.decode()

    assert '<dd data-testid="weight">70 kg (154.3 lb)' in html
    assert '<dd data-testid="height">165 cm (65 in)</dd>' in html
    assert '<dd data-testid="bmi">25.7</dd>' in html
