"""The platelet count entered on the nurse's worklist: a count that is refused stays in its field with the reason
beside it, a recorded one is confirmed in its row, and the 30-second refresh leaves a count being typed alone."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from monitoring.models import PlateletCheck, PlateletResult
from tests.factories import given_order

pytestmark = pytest.mark.db


def local_input(moment):
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def check(client, nurse, hematologist):
    order = given_order(prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    client.force_login(nurse)
    return PlateletCheck.objects.get(order=order, label="24h")


def enter(client, check, count, collected_at=None):
    collected_at = collected_at or local_input(timezone.now() - timedelta(hours=5))
    return client.post(
        f"/monitoring/checks/{check.pk}/worklist-result/",
        {"check": check.pk, "platelet_count": count, "collected_at": collected_at},
        HTTP_HX_REQUEST="true",
    )


@pytest.mark.parametrize("typed", ["4a5", "-45", "45.5", "45,5", ""])
def test_a_count_that_is_not_a_whole_number_is_refused_beside_the_count_keeping_what_was_typed(client, check, typed):
    response = enter(client, check, typed)
    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-field="platelet_count">Platelet count must be a whole number of ×10⁹/L' in page
    assert f'name="platelet_count" inputmode="numeric" autocomplete="off" required value="{typed}"' in page
    assert page.lstrip().startswith(f'<tr id="check-{check.pk}"')  # the row alone, swapped in place
    assert not PlateletResult.objects.filter(platelet_check=check).exists()


def test_a_sample_time_in_the_future_is_refused_beside_the_time_and_the_count_stays(client, check):
    future = local_input(timezone.now() + timedelta(hours=2))
    page = enter(client, check, "45", collected_at=future).content.decode()
    assert 'data-field="collected_at">A sample cannot be collected in the future.' in page
    assert 'required value="45"' in page
    assert f'value="{future}"' in page
    assert not PlateletResult.objects.filter(platelet_check=check).exists()


def test_a_sample_time_that_does_not_exist_is_refused_not_a_500(client, check):
    response = enter(client, check, "45", collected_at="2025-13-45T10:00")
    assert response.status_code == 200
    assert 'data-field="collected_at">This date and time does not exist.' in response.content.decode()


def test_a_recorded_count_is_confirmed_in_its_row_with_its_classification(client, check):
    page = enter(client, check, "150").content.decode()
    assert 'data-testid="result-recorded">Recorded: 150 ×10⁹/L' in page
    assert "Complete response" in page
    assert PlateletResult.objects.get(platelet_check=check).platelet_count == 150


def test_the_worklist_refresh_is_skipped_while_a_count_is_being_typed(client, check):
    # The refresh is driven from a static file (the Content-Security-Policy forbids htmx's eval of a filter).
    page = client.get("/nurse/").content.decode()
    # The refresh keeps the unit shown (a nurse with no default units sees every unit: ?unit=all).
    assert 'id="worklist" hx-get="/nurse/?unit=all" hx-trigger="worklist-refresh"' in page
    assert 'src="/static/js/worklist.js"' in page
    script = (Path(settings.BASE_DIR) / "static" / "js" / "worklist.js").read_text(encoding="utf-8")
    assert "function worklistBusy()" in script
    assert 'if (list && window.htmx && !worklistBusy()) window.htmx.trigger(list, "worklist-refresh");' in script
    assert "REFRESH_MS = 30000" in script
