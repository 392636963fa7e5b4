"""The nurse enters a platelet count on the worklist at a tablet (768×1024)."""

from __future__ import annotations

import pytest

from monitoring.models import PlateletCheck, PlateletResult
from tests.browser.conftest import assert_no_horizontal_scroll
from tests.factories import given_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_refused_count_stays_beside_its_reason_the_refresh_leaves_it_and_a_saved_count_is_confirmed(
    tablet, login, screenshot, nurse, hematologist
):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    check = PlateletCheck.objects.get(order=order, label="24h")
    PlateletCheck.objects.filter(pk=check.pk).update(status="due")
    login(tablet, "nurse1")
    assert tablet.url.endswith("/nurse/")
    row = tablet.locator(f"#check-{check.pk}")
    assert tablet.evaluate("worklistBusy()") is False  # nothing typed: the list refreshes

    row.locator("[name=platelet_count]").fill("4a5")
    assert tablet.evaluate("worklistBusy()") is True  # a count being typed: the refresh waits
    row.locator("button[type=submit]").click()
    error = tablet.wait_for_selector(f"#check-{check.pk} [data-field=platelet_count]")
    assert "Platelet count must be a whole number" in error.inner_text()
    assert tablet.locator(f"#check-{check.pk} [name=platelet_count]").input_value() == "4a5"
    tablet.locator("body").click(position={"x": 5, "y": 5})  # focus leaves the row; the refused count is still there
    assert tablet.evaluate("worklistBusy()") is True
    screenshot(tablet, "worklist-count-refused")
    assert_no_horizontal_scroll(tablet)

    tablet.locator(f"#check-{check.pk} [name=platelet_count]").fill("150")
    tablet.locator(f"#check-{check.pk} button[type=submit]").click()
    confirmation = tablet.wait_for_selector(f"#check-{check.pk} [data-testid=result-recorded]")
    assert "Recorded: 150 ×10⁹/L" in confirmation.inner_text()
    assert tablet.evaluate("worklistBusy()") is False
    assert PlateletResult.objects.get(platelet_check=check).platelet_count == 150
