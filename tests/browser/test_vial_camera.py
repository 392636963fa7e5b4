"""The tablet's camera reads vials' GS1 DataMatrix codes on the bedside page.

Chromium here has no camera and no BarcodeDetector for Data Matrix (it has one only on some platforms), so this
is the ZXing path the ward tablets without one take. The "camera" is a canvas stream shown to the page through
getUserMedia: the test draws each vial's code on it with ZXing's own Data Matrix writer, as a vial held up to the
lens, and the page reads the frames as it would a camera's."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from infusions import services
from infusions.models import Product
from tests.browser.test_bedside import fill_vitals
from tests.factories import verified_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GS = "\x1d"

# A camera in front of the vials: a 640x480 stream of white with the code being shown, redrawn ten times a
# second as a camera's frames are.
FAKE_CAMERA = """() => {
  const canvas = document.createElement("canvas");
  canvas.width = 640; canvas.height = 480;
  const context = canvas.getContext("2d");
  let modules = null;
  const draw = () => {
    context.fillStyle = "#fff";
    context.fillRect(0, 0, canvas.width, canvas.height);
    if (!modules) return;
    const scale = Math.floor(300 / modules.getWidth());
    const left = (canvas.width - modules.getWidth() * scale) / 2;
    const top = (canvas.height - modules.getHeight() * scale) / 2;
    context.fillStyle = "#000";
    for (let y = 0; y < modules.getHeight(); y++)
      for (let x = 0; x < modules.getWidth(); x++)
        if (modules.get(x, y)) context.fillRect(left + x * scale, top + y * scale, scale, scale);
  };
  window.setInterval(draw, 100);
  window.showVial = (text) => {
    modules = text ? new ZXing.DataMatrixWriter().encode(text, ZXing.BarcodeFormat.DATA_MATRIX, 0, 0, new Map()) : null;
    draw();
  };
  navigator.mediaDevices.getUserMedia = async () => canvas.captureStream(10);
}"""


def test_a_nurse_holds_three_vials_to_the_camera_one_refused_two_accepted_and_starts(
    tablet, login, screenshot, nurse, pharmacist
):
    # 80 kg, below his ideal weight at 190 cm: 80 g a day, planned as 2 x 40 g vials of Gamunex-C.
    order = verified_order(sex="male", height_cm=Decimal("190"), weight_kg=Decimal("80"))
    infusion = order.infusions.get()
    other = Product.objects.exclude(pk=order.product_id).exclude(vial_sizes_g=[]).order_by("name").first()
    for product, gtin, size in (
        (order.product, "07612345000107", 40),
        (other, "07612345000206", other.vial_sizes_g[0]),
    ):
        services.record_gtins(
            product_id=product.pk,
            user=pharmacist,
            gtins=[{"gtin": gtin, "vial_size_g": size, "demo": True}],
            source="test fixture: not a real GTIN",
        )
    expiry = f"{timezone.localdate() + timedelta(days=200):%y%m%d}"
    login(tablet, "nurse1")
    tablet.goto(f"/orders/infusions/{infusion.pk}/")
    fill_vitals(tablet)
    tablet.wait_for_selector("text=baseline taken")
    for checkbox in tablet.locator("[data-testid=start-form] input[type=checkbox]").all():
        checkbox.check()
    # By its URL, as the page itself loads it: the Content-Security-Policy refuses an inline copy.
    tablet.add_script_tag(url="/static/vendor/zxing/zxing-library.min.js")
    tablet.evaluate(FAKE_CAMERA)

    tablet.click("[data-testid=vial-camera]")
    tablet.wait_for_selector("[data-testid=vial-camera-video]", state="visible")
    assert tablet.locator("[data-testid=vial-camera]").is_hidden()
    # ZXing reads FNC1 as GS: a GS1 DataMatrix decodes to GS and the element string, as drawn here.
    tablet.evaluate("code => window.showVial(code)", f"{GS}010761234500020617{expiry}10WRONG1{GS}21S9")
    tablet.wait_for_selector("[data-testid=vial-refused]")
    assert "is not the ordered product" in tablet.inner_text("[data-testid=vial-refused]")
    for n in (1, 2):
        tablet.evaluate("code => window.showVial(code)", f"{GS}010761234500010717{expiry}10RIGHT{n}{GS}21S{n}")
        expect(tablet.locator("[data-testid=vial-ok]")).to_have_count(n, timeout=10_000)
    # Held in view, a vial is added once.
    tablet.wait_for_timeout(600)
    assert tablet.locator("[data-testid=vial-ok]").count() == 2
    assert "Vial read" in tablet.inner_text("[data-camera-status]")
    screenshot(tablet, "bedside-vials-camera")
    tablet.click("[data-vial-camera-close]")
    assert tablet.locator("[data-testid=vial-camera-video]").is_hidden()
    assert tablet.locator("[data-testid=vial-camera]").is_visible()

    tablet.click("[data-testid=start-form] button[type=submit]")
    tablet.wait_for_selector("[data-testid=current-rate]")
    lots = sorted(infusion.vial_lots.values_list("lot_number", "serial", "gtin"))
    assert lots == [("RIGHT1", "S1", "07612345000107"), ("RIGHT2", "S2", "07612345000107")]


def test_a_tablet_without_a_camera_says_so_and_leaves_the_scanner_and_typing(tablet, login, nurse):
    order = verified_order()
    login(tablet, "nurse1")
    tablet.goto(f"/orders/infusions/{order.infusions.get().pk}/")
    tablet.evaluate(
        "() => { navigator.mediaDevices.getUserMedia = async () => "
        "{ throw new DOMException('no camera', 'NotFoundError'); }; }"
    )
    tablet.click("[data-testid=vial-camera]")
    tablet.wait_for_selector("text=The camera could not be opened (NotFoundError)")
    assert tablet.locator("[data-testid=vial-scan]").is_visible()
