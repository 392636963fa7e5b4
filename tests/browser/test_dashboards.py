from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import override_settings
from playwright.sync_api import expect

from ivig_tracker.demo import DEMO_USERS
from patients.models import Patient
from tests.browser.conftest import assert_no_horizontal_scroll, sign_in_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORDS = {user.username: user.password for user in DEMO_USERS}


@pytest.fixture
def demo(db):
    with override_settings(DEBUG=True):  # the demo loads in development only
        call_command("load_demo_data", stdout=io.StringIO())


def sign_in(page, username):
    sign_in_page(page, username, PASSWORDS[username])


def test_the_hematologist_reviews_responses_and_filters_the_list(tablet, screenshot, demo):
    sign_in(tablet, "hematologist")
    assert tablet.url.endswith("/hematology/")
    rows = tablet.locator("[data-testid=course-row]")
    assert rows.count() >= 3
    assert tablet.locator("[data-testid=awaiting-decision]").count() == 1
    screenshot(tablet, "dashboard-hematologist")
    tablet.select_option("select[name=category]", value="no_response")
    expect(tablet.locator("[data-testid=course-row]")).to_have_count(1, timeout=10_000)
    assert "no_response" in tablet.get_attribute("[data-testid=course-row]", "data-category")


@pytest.mark.parametrize("mrn, category", [("DEMO-0006", "no_response"), ("DEMO-0007", "complete_response")])
def test_the_response_page_draws_the_trend_for_a_responder_and_a_non_responder(tablet, screenshot, demo, mrn, category):
    sign_in(tablet, "hematologist")
    patient = Patient.objects.get(mrn=mrn)
    tablet.goto(f"/hematology/patients/{patient.pk}/")
    points = tablet.locator("[data-testid=trend-chart] circle.point")
    assert points.count() == 3
    assert tablet.locator(f"[data-testid=trend-chart] circle.point[data-category={category}]").count() >= 1
    screenshot(tablet, f"response-{mrn}")


def test_the_nurse_sees_the_worklist_with_the_demo_data(tablet, screenshot, demo):
    sign_in(tablet, "nurse")
    assert tablet.url.endswith("/nurse/")
    assert tablet.locator("[data-testid=worklist-row]").count() >= 2
    assert tablet.locator("[data-testid=checks-due]").count() == 1
    assert_no_horizontal_scroll(tablet)
    screenshot(tablet, "dashboard-nurse")


def test_the_pharmacist_sees_orders_to_verify_and_monthly_use(tablet, screenshot, demo):
    sign_in(tablet, "pharmacist")
    assert tablet.url.endswith("/pharmacy/")
    # Three demo drafts; Gammagard S/D's awaits the site's rate values (a red rate_plan_incomplete badge).
    assert tablet.locator("[data-testid=queue-entry]").count() == 3
    assert tablet.locator("[data-testid=queue-entry] .badge.high[data-stop=rate_plan_incomplete]").count() == 1
    tablet.locator("[data-testid=queue-entry] details summary").first.click()
    tablet.wait_for_selector("[data-testid=queue-entry] details [data-testid=rounded-dose]")
    assert tablet.locator("[data-testid=monthly-use] tbody tr").count() >= 1
    screenshot(tablet, "dashboard-pharmacist")
