"""Reading a vial's GS1 DataMatrix as a scanner sends it (docs/clinical-rules.md §A10 vial_mismatch)."""

from __future__ import annotations

from datetime import date

import pytest

from infusions.vial_scan import GS, ScanError, VialScan, parse_vial_scan

pytestmark = pytest.mark.unit

GTIN = "07612345000107"
EXPECTED = VialScan(gtin=GTIN, expiry=date(2027, 6, 30), lot="A4711B", serial="SN0001")


@pytest.mark.parametrize(
    "scanned",
    [
        # A keyboard-wedge scanner with the symbology identifier on: ]d2, fixed-length AIs first, GS after the lot.
        f"]d201{GTIN}1727063010A4711B{GS}21SN0001",
        # The same without the identifier, with a leading FNC1 as GS, and with the Enter the scanner types.
        f"{GS}01{GTIN}1727063010A4711B{GS}21SN0001\r\n",
        # The order of the elements is the label's, not ours.
        f"21SN0001{GS}01{GTIN}10A4711B{GS}17270630",
        # Typed by hand from the printed line under the code.
        f"(01){GTIN}(17)270630(10)A4711B(21)SN0001",
        f"(01) {GTIN} (17) 270630 (10) A4711B (21) SN0001",
        # Scanners that cannot send ASCII 29 send a stand-in.
        f"01{GTIN}1727063010A4711B<GS>21SN0001",
        f"01{GTIN}1727063010A4711B\u241d21SN0001",
    ],
)
def test_every_way_a_scanner_or_a_nurse_sends_the_code_reads_the_same_vial(scanned) -> None:
    assert parse_vial_scan(scanned) == EXPECTED


def test_gs1_day_00_is_the_last_day_of_the_month() -> None:
    assert parse_vial_scan(f"01{GTIN}1727020010L1").expiry == date(2027, 2, 28)
    assert parse_vial_scan(f"01{GTIN}1728020010L1").expiry == date(2028, 2, 29)
    assert parse_vial_scan(f"01{GTIN}1727120010L1").expiry == date(2027, 12, 31)


def test_lot_expiry_and_serial_are_optional_in_the_code() -> None:
    assert parse_vial_scan(f"01{GTIN}") == VialScan(gtin=GTIN, expiry=None, lot=None, serial=None)


def test_a_lot_that_ends_the_code_needs_no_separator() -> None:
    assert parse_vial_scan(f"01{GTIN}10LOT-42/7").lot == "LOT-42/7"


@pytest.mark.parametrize(
    ("scanned", "says"),
    [
        ("", "Nothing was scanned"),
        ("   \r\n", "Nothing was scanned"),
        ("]d1hello", "not a GS1 DataMatrix"),  # a DataMatrix, but not GS1
        ("]E07612345000107", "not a GS1 DataMatrix"),  # an EAN-13 linear barcode
        ("hello", "not a GS1 DataMatrix"),
        ("https://example.org/vial", "not a GS1 DataMatrix"),
        ("(17)270630(10)A4711B", "no GTIN"),
        ("1727063010A4711B", "no GTIN"),
        ("010761234500010810A1", "check digit"),
        (f"01{GTIN}1727133210A1", "not a GS1 DataMatrix"),  # month 13
    ],
)
def test_what_is_not_a_vial_code_says_why(scanned, says) -> None:
    with pytest.raises(ScanError, match=says):
        parse_vial_scan(scanned)
