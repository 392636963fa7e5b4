"""The unit selector in a browser: the demo's Ward 7 nurse opens on her unit and picks every unit."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from ivig_tracker.demo import DEMO_USERS, WARD_7
from tests.browser.conftest import assert_no_horizontal_scroll

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORDS = {user.username: user.password for user in DEMO_USERS}


def sign_in(page, username):
    page.context.clear_cookies()
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORDS[username])
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def test_the_ward_7_nurse_opens_on_her_unit_and_picks_every_unit(tablet, screenshot, db, settings):
    settings.DEBUG = True  # the demo loads on a development machine only (make run sets DJANGO_DEBUG=true)
    call_command("load_demo_data", stdout=io.StringIO())
    settings.DEBUG = False
    sign_in(tablet, "nurse")
    selector = tablet.locator("[data-testid=unit-select]")
    assert selector.is_visible()
    assert selector.input_value() == ""  # "My units"
    units_shown = tablet.locator("[data-testid=worklist-row] [data-testid=infusion-unit]").all_inner_texts()
    assert units_shown and set(units_shown) == {WARD_7}
    screenshot(tablet, "worklist-my-units")

    tablet.select_option("[data-testid=unit-select]", value="all")
    tablet.click("[data-testid=unit-filter] button[type=submit]")
    tablet.wait_for_load_state("networkidle")

    assert tablet.url.endswith("/nurse/?unit=all")
    assert tablet.locator("[data-testid=unit-select]").input_value() == "all"
    every_row = tablet.locator("[data-testid=worklist-row]").count()
    assert every_row > len(units_shown)
    assert_no_horizontal_scroll(tablet)
