"""Hours and clock times as the pages show them (core/templatetags/ivig.py): hours to 0.1 h, and a time with its
date when it is not today, in the hospital's zone, on the 24-hour clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from core.templatetags.ivig import hours, when

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("value", "shown"),
    [(D("28.1000000000000"), "28.1 h"), (D("28.06"), "28.1 h"), (D("24"), "24 h"), (None, "—"), (5.26, "5.3 h")],
)
def test_a_time_to_response_is_shown_to_a_tenth_of_an_hour(value, shown):
    assert hours(value) == shown


def test_a_time_today_is_shown_as_the_clock_alone(settings):
    settings.TIME_ZONE = "Europe/Zurich"
    now = timezone.localtime()
    at = now.replace(hour=14, minute=5, second=0, microsecond=0)
    assert when(at) == "14:05"


def test_an_expected_end_after_midnight_is_shown_with_its_date_on_the_24_hour_clock(settings):
    settings.TIME_ZONE = "America/New_York"
    tomorrow = timezone.localdate() + timedelta(days=1)
    at = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 3, 15, tzinfo=ZoneInfo("America/New_York"))
    assert when(at.astimezone(ZoneInfo("UTC"))) == f"{tomorrow:%Y-%m-%d} 03:15"
    assert "AM" not in when(at) and "PM" not in when(at)


def test_a_refusal_names_its_field_in_clinical_words_never_by_its_python_name():
    from django.core.exceptions import ValidationError

    from core.forms import error_messages

    lines = error_messages(
        ValidationError(
            {
                "rate_ml_per_h": ["The rate must be above 0 mL/h."],
                "non_field_errors": ["The order has changed."],
                "some_internal_name": ["Check this value."],
                "temperature_c": ["Temperature must be a number between 30 and 44 °C."],
            }
        )
    )
    assert lines == [
        "Rate (mL/h): The rate must be above 0 mL/h.",
        "The order has changed.",
        "Check this value.",
        "Temperature must be a number between 30 and 44 °C.",
    ]
