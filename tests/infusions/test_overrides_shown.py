"""Overrides are shown wherever the order is shown: the bedside, the response page, the admin (§A8)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from infusions import services
from infusions.models import Product
from tests.factories import PatientFactory

pytestmark = pytest.mark.db

REASON = "Anti-IgA antibodies negative; no IgA-depleted product in stock"


@pytest.fixture
def overridden(hematologist, pharmacist):
    """A verified course for an IgA-deficient patient whose prescriber overrode iga_conflict."""
    order = services.create_order(
        data={
            "patient": PatientFactory(serum_iga_mg_dl=Decimal("2")),
            "regimen": "one_dose_1g_per_kg",
            "product": Product.objects.get(name="Gamunex-C"),
            "baseline_platelet_count": 12,
            "first_infusion_on": timezone.localdate(),
        },
        user=hematologist,
        overrides={"iga_conflict": REASON},
    )
    return services.verify_order(order_id=order.pk, user=pharmacist)


def overrides_section(html, testid):
    return html.split(f'data-testid="{testid}"')[1].split("</section>")[0]


def test_the_bedside_lists_the_orders_override_with_code_reason_who_and_when(client, nurse, hematologist, overridden):
    client.force_login(nurse)
    infusion = overridden.infusions.get()
    section = overrides_section(client.get(f"/orders/infusions/{infusion.pk}/").content.decode(), "bedside-overrides")
    assert 'data-override="iga_conflict"' in section and REASON in section
    assert hematologist.get_full_name() in section and str(timezone.localdate()) in section


def test_the_response_page_lists_the_orders_overrides(client, hematologist, overridden):
    client.force_login(hematologist)
    html = client.get(f"/hematology/patients/{overridden.patient_id}/").content.decode()
    section = overrides_section(html, "response-overrides")
    assert 'data-override="iga_conflict"' in section and REASON in section


def test_a_course_without_overrides_shows_no_overrides_list_at_the_bedside(client, nurse):
    from tests.factories import verified_order

    infusion = verified_order().infusions.get()
    client.force_login(nurse)
    assert 'data-testid="bedside-overrides"' not in client.get(f"/orders/infusions/{infusion.pk}/").content.decode()


def test_the_admin_lists_safety_records_read_only_and_filters_them_by_code_and_kind(client, overridden):
    admin = get_user_model().objects.create_superuser("it-admin", "it@example.org", "pw-it-admin-123")
    client.force_login(admin)
    html = client.get("/admin/infusions/safetyrecord/?code=iga_conflict&kind__exact=override").content.decode()
    assert REASON in html
    assert client.get("/admin/infusions/safetyrecord/?code=high_dose").content.decode().count(REASON) == 0
    assert client.get("/admin/infusions/safetyrecord/add/").status_code == 403


def test_an_iga_override_given_at_creation_is_not_asked_again_at_verification(overridden):
    # The patient object of creation held IgA 2 (as typed), the database 2.00: the same facts, the same fingerprint.
    assert overridden.status == "verified"
    assert overridden.safety_records.filter(code="iga_conflict", kind="override").count() == 1
