"""A start records every physical vial, typed or scanned, and vial_mismatch checks them against the order
(docs/clinical-rules.md §A10; docs/api.md "Infusions"). The GTINs are made up (GS1's 0761234500... test range)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from infusions import services
from infusions.models import Product, VialLot
from tests.factories import FULL_CHECKLIST, NORMAL_VITALS, day_vials, verified_order

pytestmark = pytest.mark.db

GS = "\x1d"
SOURCE = "test fixture: not a real GTIN"


@pytest.fixture
def order(db, hematologist):
    return verified_order(prescriber=hematologist)


@pytest.fixture
def infusion(order, nurse):
    infusion = order.infusions.get()
    services.record_vitals(infusion_id=infusion.pk, user=nurse, values=NORMAL_VITALS)
    return infusion


@pytest.fixture
def nurse_api(client_for, nurse):
    return client_for(nurse)


def start(api, infusion, **body):
    return api.post(f"/api/v1/infusions/{infusion.pk}/start/", {"checklist": FULL_CHECKLIST, **body})


def gtin_for(product, size, pharmacist, gtin="07612345000107"):
    services.record_gtins(
        product_id=product.pk, user=pharmacist, gtins=[{"gtin": gtin, "vial_size_g": size}], source=SOURCE
    )
    return gtin


def code(gtin, lot, expiry, serial):
    return f"]d201{gtin}17{expiry:%y%m%d}10{lot}{GS}21{serial}"


def test_the_days_planned_vials_start_the_day_and_are_recorded_each(nurse_api, infusion, order) -> None:
    vials = day_vials(infusion)
    response = start(nurse_api, infusion, vials=vials)
    assert response.status_code == 200, response.json()
    rows = list(VialLot.objects.filter(infusion=infusion))
    assert len(rows) == len(vials) == sum(int(v["count"]) for v in order.vials_per_day)
    assert {row.product_id for row in rows} == {order.product_id}
    assert sorted(response.json()["lot_numbers"]) == sorted(v["lot_number"] for v in vials)


def test_another_product_is_refused_with_the_stop_on_vials(nurse_api, infusion, order) -> None:
    other = Product.objects.exclude(pk=order.product_id).exclude(vial_sizes_g=[]).first()
    vials = day_vials(infusion)
    vials[0] = {**vials[0], "product": other.pk}
    response = start(nurse_api, infusion, vials=vials)
    assert response.status_code == 400
    body = response.json()
    assert [(s["code"], s["kind"], s["field"]) for s in body["stops"]] == [("vial_mismatch", "hard", "vials")]
    assert "is not the ordered product" in body["vials"][0]
    assert not VialLot.objects.filter(infusion=infusion).exists()


def test_too_few_grams_and_an_expired_vial_are_refused(nurse_api, infusion) -> None:
    vials = day_vials(infusion)
    short = start(nurse_api, infusion, vials=vials[:-1])
    assert short.status_code == 400
    assert "the day needs" in short.json()["vials"][0]
    yesterday = timezone.localdate() - timedelta(days=1)
    expired = start(nurse_api, infusion, vials=day_vials(infusion, expiry=yesterday))
    assert expired.status_code == 400
    assert "expired on" in expired.json()["vials"][0]


def test_scanned_vials_name_product_and_size_by_gtin_and_keep_their_serial(
    nurse_api, infusion, order, pharmacist
) -> None:
    size = order.vials_per_day[0]["size_g"]
    gtin = gtin_for(order.product, size, pharmacist)
    expiry = timezone.localdate() + timedelta(days=200)
    planned = day_vials(infusion)
    barcodes = [code(gtin, f"B{n}", expiry, f"S{n}") for n in range(len(planned))]
    # The planned vials may be of several sizes; type the ones the GTIN is not of.
    typed = [v for v in planned if Decimal(v["vial_size_g"]) != Decimal(str(size))]
    barcodes = barcodes[: len(planned) - len(typed)]
    response = start(nurse_api, infusion, barcodes=barcodes, vials=typed)
    assert response.status_code == 200, response.json()
    scanned = VialLot.objects.filter(infusion=infusion, gtin=gtin).order_by("pk")
    assert [(v.lot_number, v.serial, v.expiry_date) for v in scanned][0] == ("B0", "S0", expiry)
    assert scanned[0].product_id == order.product_id


def test_an_unknown_gtin_says_type_the_vial_and_a_non_gs1_code_is_a_field_error(nurse_api, infusion) -> None:
    expiry = timezone.localdate() + timedelta(days=200)
    unknown = start(nurse_api, infusion, barcodes=[code("07612345000503", "X1", expiry, "S1")])
    assert unknown.status_code == 400
    assert "type the vial" in unknown.json()["vials"][0]
    garbage = start(nurse_api, infusion, barcodes=["hello"])
    assert garbage.status_code == 400
    assert "not a GS1 DataMatrix" in garbage.json()["barcodes"][0]


def test_lot_numbers_sent_with_vials_name_the_same_lots(nurse_api, infusion) -> None:
    vials = day_vials(infusion)
    response = start(nurse_api, infusion, vials=vials, lot_numbers=["SOMETHING-ELSE"])
    assert response.status_code == 400
    assert "same lots" in response.json()["lot_numbers"][0]
    same = start(nurse_api, infusion, vials=vials, lot_numbers=sorted({v["lot_number"] for v in vials}))
    assert same.status_code == 200, same.json()


def test_every_typed_vial_names_product_size_lot_and_expiry(nurse_api, infusion) -> None:
    vial = day_vials(infusion)[0]
    for field in ("product", "lot_number", "expiry_date", "vial_size_g"):
        response = start(nurse_api, infusion, vials=[{k: v for k, v in vial.items() if k != field}])
        assert response.status_code == 400
        # DRF keys a list's errors by the entry's index.
        assert field in response.json()["vials"]["0"], response.json()


def test_the_bedside_pages_scan_field_checks_one_vial_in_a_nurses_words(client, nurse, infusion, order) -> None:
    client.force_login(nurse)
    page = client.get(f"/orders/infusions/{infusion.pk}/").content.decode()
    assert 'data-testid="vial-scan"' in page
    url = f"/orders/infusions/{infusion.pk}/vial-check/"
    vial = day_vials(infusion)[0]
    typed = {
        "vial_product": vial["product"],
        "vial_size_g": vial["vial_size_g"],
        "vial_lot": "P-1",
        "vial_expiry": vial["expiry_date"],
    }
    right = client.post(url, typed, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="vial-ok"' in right
    assert 'name="vial_lot" value="P-1"' in right
    other = Product.objects.exclude(pk=order.product_id).exclude(vial_sizes_g=[]).first()
    wrong = client.post(url, {**typed, "vial_product": other.pk}, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="vial-refused"' in wrong
    assert "is not the ordered product" in wrong
    assert 'type="hidden"' not in wrong
    garbage = client.post(url, {"barcode": "hello"}, HTTP_HX_REQUEST="true").content.decode()
    assert "not a GS1 DataMatrix" in garbage


def test_a_start_documented_late_without_its_vials_is_still_refused(client_for, nurse):
    from datetime import timedelta

    from django.utils import timezone

    from infusions.models import Infusion
    from tests.factories import FULL_CHECKLIST, NORMAL_VITALS, verified_order

    started = timezone.now() - timedelta(hours=1)
    infusion = verified_order(first_infusion_on=timezone.localtime(started).date()).infusions.get()
    api = client_for(nurse)
    api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", {**NORMAL_VITALS, "taken_at": started.isoformat()})
    refused = api.post(
        f"/api/v1/infusions/{infusion.pk}/start/",
        {"checklist": FULL_CHECKLIST, "lot_numbers": ["LOT-1"], "started_at": started.isoformat()},
    )
    assert [stop["code"] for stop in refused.json()["stops"]] == ["vials_missing"]
    assert Infusion.objects.get(pk=infusion.pk).status == "scheduled"


def test_the_starts_dry_run_judges_the_vials_it_names_and_records_nothing(nurse_api, infusion, order) -> None:
    other = Product.objects.exclude(pk=order.product_id).exclude(vial_sizes_g=[]).first()
    vials = day_vials(infusion)
    wrong = [{**vials[0], "product": other.pk}, *vials[1:]]
    url = f"/api/v1/infusions/{infusion.pk}/safety/"
    dry = nurse_api.post(url, {"action": "start", "checklist": FULL_CHECKLIST, "vials": wrong})
    assert dry.status_code == 200, dry.json()
    assert [s["code"] for s in dry.json()["stops"]] == ["vial_mismatch"]
    right = nurse_api.post(url, {"action": "start", "checklist": FULL_CHECKLIST, "vials": vials})
    assert right.json()["stops"] == []
    infusion.refresh_from_db()
    assert infusion.status == "scheduled"
    assert not VialLot.objects.filter(infusion=infusion).exists()


def test_a_dry_run_with_a_barcode_that_is_no_vials_code_says_so_beside_barcodes(nurse_api, infusion) -> None:
    dry = nurse_api.post(
        f"/api/v1/infusions/{infusion.pk}/safety/",
        {"action": "start", "checklist": FULL_CHECKLIST, "barcodes": ["not a barcode"]},
    )
    assert dry.status_code == 400
    assert "barcodes" in dry.json()


def test_a_start_documented_late_with_a_vial_of_another_product_is_kept_and_told_to_pharmacy(
    client_for, nurse, hematologist, pharmacist
):
    from monitoring.models import Notification

    started = timezone.now() - timedelta(hours=1)
    order = verified_order(prescriber=hematologist, first_infusion_on=timezone.localtime(started).date())
    infusion = order.infusions.get()
    other = Product.objects.exclude(pk=order.product_id).exclude(vial_sizes_g=[]).first()
    vials = day_vials(infusion)
    api = client_for(nurse)
    api.post(f"/api/v1/infusions/{infusion.pk}/vitals/", {**NORMAL_VITALS, "taken_at": started.isoformat()})

    started_late = start(api, infusion, vials=[{**vials[0], "product": other.pk}, *vials[1:]], started_at=started)

    assert started_late.status_code == 200, started_late.json()
    deviations = [s["code"] for s in started_late.json()["safety"] if s["kind"] == "documented_deviation"]
    assert deviations == ["vial_mismatch"]
    told = Notification.objects.filter(kind="documented_deviation")
    # The prescriber, and every pharmacist (the one who verified the order among them).
    pharmacists = set(type(nurse).objects.filter(groups__name="pharmacist"))
    assert pharmacist in pharmacists and len(pharmacists) == 2
    assert sorted(n.recipient.username for n in told) == sorted(u.username for u in {hematologist, *pharmacists})
    assert all(f"is not the ordered product ({order.product.name})" in n.message for n in told)
