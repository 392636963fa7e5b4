"""The pure bounds behind what a page accepts: nothing before the patient's birth, ids in ASCII digits, years a
record can hold."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from core.forms import TYPED_YEAR_MESSAGE, typed_id, year_problem
from patients.rules import before_birth_problem

pytestmark = pytest.mark.unit


def test_a_date_before_the_birth_is_a_slip_in_the_year_and_the_birthday_itself_is_not():
    assert before_birth_problem(date(1979, 12, 31), date(1980, 1, 1)) == (
        "This date is before the patient's birth (1980-01-01): check the year."
    )
    assert before_birth_problem(date(1980, 1, 1), date(1980, 1, 1)) is None


@pytest.mark.parametrize(
    ("posted", "expected"),
    [
        ("12", 12),
        (" 7 ", 7),
        ("²", None),
        ("١٢", None),
        ("１２", None),
        ("-1", None),
        ("0", None),
        ("1.0", None),
        ("", None),
        (None, None),
        ("9" * 19, None),
        (str(2**63 - 1), 2**63 - 1),
        ("abc", None),
    ],
)
def test_an_id_a_page_posts_is_ascii_digits_naming_a_possible_row(posted, expected):
    assert typed_id(posted) == expected


@pytest.mark.parametrize(
    ("value", "refused"),
    [
        (date(1, 1, 1), True),
        (date(9999, 12, 31), True),
        (date(1899, 12, 31), True),
        (date(1900, 1, 1), False),
        (date(2100, 12, 31), False),
        (datetime(2101, 1, 1), True),
        (None, False),
    ],
)
def test_a_typed_date_outside_1900_to_2100_is_a_slip(value, refused):
    assert year_problem(value) == (TYPED_YEAR_MESSAGE if refused else None)
