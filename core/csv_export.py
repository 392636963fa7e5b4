"""CSV that a spreadsheet opens as data, never as formulas (OWASP "CSV Injection").

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by Excel, LibreOffice and
Google Sheets as a formula: an MRN or a name typed as ``=HYPERLINK("http://…","click")`` would run in the
pharmacist's spreadsheet. Such a text cell is written with a leading apostrophe, which the spreadsheet shows as
text and a reader of the raw file still recognises. Numbers (a negative deviation is ``-3.2``) are values, not
text typed by someone, and are written as they are. Every CSV the system writes goes through ``writer`` here.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` as a CSV cell: a text that a spreadsheet would take as a formula is escaped with ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


class SafeWriter:
    """``csv.writer`` whose every text cell passes through ``safe_cell``."""

    def __init__(self, stream: Any, **kwargs: Any) -> None:
        self._writer = csv.writer(stream, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([safe_cell(cell) for cell in row])


def writer(stream: Any, **kwargs: Any) -> SafeWriter:
    return SafeWriter(stream, **kwargs)
