"""Exports are opened in spreadsheets: a typed text that would start a formula is written as text (OWASP CSV
injection)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from core.csv_export import safe_cell, writer

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("typed", "written"),
    [
        ('=HYPERLINK("http://evil.example","MRN")', '\'=HYPERLINK("http://evil.example","MRN")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
    ],
)
def test_a_text_a_spreadsheet_would_run_is_escaped_with_an_apostrophe(typed, written) -> None:
    assert safe_cell(typed) == written


@pytest.mark.parametrize("value", ["MRN-0042", "SMITH, Ann", "a=b", "", " =1"])
def test_ordinary_text_is_written_as_typed(value) -> None:
    assert safe_cell(value) == value


@pytest.mark.parametrize("value", [Decimal("-3.2"), -5, 75.0, None, True])
def test_numbers_and_empty_values_are_written_as_they_are(value) -> None:
    assert safe_cell(value) is value


def test_the_writer_escapes_every_cell_of_a_row() -> None:
    out = io.StringIO()
    writer(out, lineterminator="\n").writerow(["=1+1", "MRN-1", Decimal("-1.5"), "@x"])
    assert next(csv.reader(io.StringIO(out.getvalue()))) == ["'=1+1", "MRN-1", "-1.5", "'@x"]
