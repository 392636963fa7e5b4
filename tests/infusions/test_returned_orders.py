"""An order the verifier returns goes back to its prescriber, who sees it and recalculates or cancels it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from core.errors import SafetyStopped
from infusions import services
from infusions.models import Order, Product
from patients import services as patient_services
from tests.factories import PatientFactory

pytestmark = pytest.mark.db


@pytest.fixture
def returned(hematologist, pharmacist):
    order = services.create_order(
        data={
            "patient": PatientFactory(),
            "regimen": "one_dose_1g_per_kg",
            "product": Product.objects.get(name="Gamunex-C"),
            "baseline_platelet_count": 12,
            "first_infusion_on": timezone.localdate(),
        },
        user=hematologist,
    )
    return services.return_order(order_id=order.pk, user=pharmacist, reason="Please weigh the patient again")


def test_the_prescriber_sees_the_returned_order_with_its_reason_on_the_dashboard(client, hematologist, returned):
    client.force_login(hematologist)
    html = client.get("/hematology/").content.decode()
    section = html.split('data-testid="returned-to-you"')[1].split("</section>")[0]
    assert f"Order #{returned.pk}" in section and "Please weigh the patient again" in section


def test_another_hematologist_does_not_see_it_returned_to_them(client, second_hematologist, returned):
    client.force_login(second_hematologist)
    assert 'data-testid="returned-to-you"' not in client.get("/hematology/").content.decode()


def test_the_order_page_offers_the_prescriber_recalculation_and_cancellation(client, hematologist, returned):
    client.force_login(hematologist)
    html = client.get(f"/orders/{returned.pk}/").content.decode()
    assert 'data-testid="returned"' in html
    assert f"/orders/{returned.pk}/recalculate/" in html and f"/orders/{returned.pk}/cancel/" in html


def test_recalculating_a_returned_draft_clears_the_return_and_keeps_it_in_history(
    client, hematologist, nurse, returned
):
    patient_services.record_weight(patient_id=returned.patient_id, weight_kg=Decimal("80"), user=nurse)
    client.force_login(hematologist)
    client.post(f"/orders/{returned.pk}/recalculate/")
    order = Order.objects.get(pk=returned.pk)
    assert (order.returned_reason, order.returned_by, order.returned_at) == ("", None, None)
    assert order.actual_weight_kg == Decimal("80")
    before = order.history.order_by("-history_date", "-history_id")[1]
    assert before.returned_reason == "Please weigh the patient again"
    assert order.history.latest().history_change_reason == "recalculated after its return to the prescriber"
    assert 'data-testid="returned-to-you"' not in client.get("/hematology/").content.decode()


def test_a_refused_recalculation_leaves_the_return_in_place(hematologist, returned):
    from datetime import date

    with pytest.raises(SafetyStopped):  # the first infusion date moved into the past: first_infusion_date
        services.recalculate_order(
            order_id=returned.pk, user=hematologist, changes={"first_infusion_on": date(2000, 1, 1)}
        )
    assert Order.objects.get(pk=returned.pk).returned_reason == "Please weigh the patient again"


def test_a_long_recalculation_reason_fits_the_history_and_the_recalculation_goes_ahead(hematologist, returned):
    reason = "the patient was weighed again on the ward scale after the bag was changed " * 3
    order = services.recalculate_order(order_id=returned.pk, user=hematologist, reason=reason)
    change = order.history.latest().history_change_reason
    assert len(change) == 100 and change.endswith("…")
