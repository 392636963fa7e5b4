"""The pages work under the Content-Security-Policy: Chromium reports no violation, htmx's refresh of the nurse
worklist still runs (from a static file, without eval), and Swagger UI and the admin render."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from monitoring.models import PlateletCheck
from tests.factories import UserFactory, given_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def violations_of(page) -> list[str]:
    """Chromium's console reports of what the policy refused, collected as the page runs."""
    seen: list[str] = []
    page.on("console", lambda message: seen.append(message.text) if "Content Security Policy" in message.text else None)
    return seen


def test_the_nurse_worklist_refreshes_itself_every_30_seconds_under_the_policy(tablet, login, nurse, hematologist):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    PlateletCheck.objects.filter(order=order, label="24h").update(status="due")
    violations = violations_of(tablet)
    tablet.clock.install()
    login(tablet, "nurse1")
    assert tablet.url.endswith("/nurse/")

    # The refresh keeps the unit chosen (?unit=...): the page's path is what identifies it.
    with tablet.expect_request(lambda r: urlparse(r.url).path == "/nurse/" and r.headers.get("hx-request") == "true"):
        tablet.clock.fast_forward(31_000)

    assert violations == []


def test_swagger_ui_renders_the_api_under_the_policy(tablet, login, nurse):
    violations = violations_of(tablet)
    login(tablet, "nurse1")
    tablet.goto("/api/v1/docs/")
    tablet.wait_for_selector(".opblock-tag", timeout=20_000)
    assert tablet.locator(".opblock").count() > 10
    assert violations == []


def test_the_admin_renders_under_the_policy(tablet, login, db):
    UserFactory(username="it-admin", is_staff=True, is_superuser=True)
    violations = violations_of(tablet)
    login(tablet, "it-admin")
    tablet.goto("/admin/patients/patient/add/")
    tablet.wait_for_selector("#patient_form")
    assert violations == []
