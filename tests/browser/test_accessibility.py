"""Every page passes axe-core (vendored under tests/browser/vendor/axe-core by `make vendor-js`) with no serious or
critical violation, and every control a finger taps is at least 44 x 44 CSS px, on the ward tablet's 768 x 1024
screen with the demo data, as each role sees its pages."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings

from core.tokens import issue_token
from infusions import services
from infusions.models import Infusion, Order, VialLot
from ivig_tracker.demo import DEMO_USERS
from patients.models import Patient
from tests.browser.conftest import sign_in_page
from tests.factories import FULL_CHECKLIST, NORMAL_VITALS, UserFactory, day_vials, verified_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
PASSWORDS = {user.username: user.password for user in DEMO_USERS}
TOUCH_TARGET_PX = 44

# Controls a finger taps. A link inside a sentence is measured too: its padding gives it the height.
TARGETS = "a[href], button, summary, select, input:not([type=hidden]), textarea, [role=button]"

# Each tappable element's box, where it is visible and smaller than the target size in either direction. A
# checkbox or radio is measured by its label (tapping the label ticks it).
SMALL_TARGETS = """([selector, minimum]) => {
  const small = [];
  for (const element of document.querySelectorAll(selector)) {
    let box = element.getBoundingClientRect();
    if (!box.width || !box.height || getComputedStyle(element).visibility === "hidden") continue;
    if (element.matches("input[type=checkbox], input[type=radio]") && element.labels.length) {
      box = [...element.labels].map((label) => label.getBoundingClientRect()).sort((a, b) => b.height - a.height)[0];
    }
    if (box.width < minimum - 0.5 || box.height < minimum - 0.5) {
      const name = (element.innerText || element.value || element.name || element.id || "").trim().slice(0, 40);
      small.push(`${element.tagName.toLowerCase()} "${name}" ${Math.round(box.width)}x${Math.round(box.height)}`);
    }
  }
  return small;
}"""


@pytest.fixture
def demo(db):
    with override_settings(DEBUG=True):  # the demo loads in development only
        call_command("load_demo_data", stdout=io.StringIO())
    # And one infusion running now, with a STOP alert on its last set (the demo's courses are given or to come).
    order = verified_order(mrn="A11Y-0001")
    infusion = order.infusions.get()
    nurse = UserFactory(role="nurse")
    services.record_vitals(infusion_id=infusion.pk, user=nurse, values=NORMAL_VITALS)
    services.start_infusion(infusion_id=infusion.pk, user=nurse, checklist=FULL_CHECKLIST, vials=day_vials(infusion))
    services.record_vitals(infusion_id=infusion.pk, user=nurse, values={**NORMAL_VITALS, "systolic_bp_mmhg": 80})


def sign_in(page, username):
    sign_in_page(page, username, PASSWORDS[username])


def pages_by_role():
    patient = Patient.objects.order_by("pk").first()
    running = Infusion.objects.filter(status="in_progress").order_by("pk").first()
    scheduled = Infusion.objects.filter(status="scheduled").order_by("pk").first()
    completed = Infusion.objects.filter(status="completed").order_by("pk").first()
    draft = Order.objects.filter(status="draft").order_by("pk").first()
    verified = Order.objects.exclude(status="draft").order_by("pk").first()
    lot = VialLot.objects.order_by("pk").first()
    given = Patient.objects.filter(orders__status__in=["in_progress", "completed"]).order_by("pk").first()
    issue_token(get_user_model().objects.get(username="nurse"))  # the API tokens page shows its table
    shared = [
        "/patients/",
        f"/patients/{patient.pk}/",
        f"/orders/{verified.pk}/",
        "/monitoring/inbox/",
    ]
    return {
        "nurse": [
            "/nurse/",
            "/patients/new/",
            f"/patients/{patient.pk}/edit/",
            f"/orders/infusions/{scheduled.pk}/",
            f"/orders/infusions/{running.pk}/",
            f"/orders/infusions/{completed.pk}/",
            "/account/tokens/",
            *shared,
        ],
        "hematologist": [
            "/hematology/",
            f"/hematology/patients/{given.pk}/",
            f"/orders/new/?patient={patient.pk}",
            f"/orders/{draft.pk}/",
            *shared,
        ],
        "pharmacist": [
            "/pharmacy/",
            "/orders/verify/",
            "/orders/catalogue/",
            f"/orders/{draft.pk}/",
            f"/pharmacy/lots/?lot={lot.lot_number}",
            "/pharmacy/lots/?lot=",
            *shared,
        ],
    }


def audit(page):
    """axe-core's serious and critical violations, and the tap targets below 44 px, of the page as shown."""
    page.wait_for_load_state("networkidle")
    # Served from the page's own origin (the Content-Security-Policy refuses inline script), by Playwright.
    page.route("**/__axe__.js", lambda route: route.fulfill(path=str(AXE), content_type="text/javascript"))
    page.add_script_tag(url="/__axe__.js")
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    assert result["testEngine"]["name"] == "axe-core" and result["passes"], "axe-core did not run its rules"
    violations = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[node['target'] for node in v['nodes']][:5]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    small = page.evaluate(SMALL_TARGETS, [TARGETS, TOUCH_TARGET_PX])
    return violations, small


def test_every_page_passes_axe_core_and_has_44_px_touch_targets(tablet, screenshot, demo):
    problems: dict[str, dict[str, list[str]]] = {}
    tablet.goto("/login/")
    violations, small = audit(tablet)
    if violations or small:
        problems["anonymous /login/"] = {"axe": violations, "small targets": small}
    for role, urls in pages_by_role().items():
        sign_in(tablet, role)
        for url in urls:
            response = tablet.goto(url)
            assert response.status in (200, 400), f"{role} {url}: {response.status}"
            violations, small = audit(tablet)
            if violations or small:
                problems[f"{role} {url}"] = {"axe": violations, "small targets": small}
            screenshot(tablet, f"page-{role}{re.sub(r'[^a-z0-9]+', '-', url.lower()).rstrip('-')}")
    # A form showing its errors: the vitals refused beside their fields.
    sign_in(tablet, "nurse")
    tablet.goto(f"/orders/infusions/{Infusion.objects.filter(status='scheduled').order_by('pk').first().pk}/")
    form = tablet.locator("[data-testid=vitals-form]")
    for name, value in NORMAL_VITALS.items():
        form.locator(f"[name={name}]").fill(str(value))
    form.locator("[name=temperature_c]").fill("3a")
    form.locator("button[type=submit]").click()
    tablet.wait_for_selector("[data-testid=field-error]")
    violations, small = audit(tablet)
    if violations or small:
        problems["nurse: vitals form with an error"] = {"axe": violations, "small targets": small}
    assert not problems, json.dumps(problems, indent=1, ensure_ascii=False)
