"""What a scanner sends when a nurse scans a vial's GS1 DataMatrix, read as plain values (docs/clinical-rules.md
§A10 ``vial_mismatch``).

A keyboard-wedge scanner types the element string into a field: raw, with the GS character (ASCII 29) where FNC1
separates a variable-length value, often behind the ``]d2`` symbology identifier; a person may type the printed form
with the Application Identifiers in parentheses. :func:`parse_vial_scan` accepts all three and gives the GTIN (01),
the expiry (17; GS1's day ``00`` is the month's last day), the lot (10) and the serial (21). ``biip`` does the GS1
parsing; nothing here imports Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from biip import ParseError
from biip.gs1_messages import GS1Message

__all__ = ["GS", "ScanError", "VialScan", "parse_vial_scan"]

GS = "\x1d"
# Scanners and keyboards that cannot send ASCII 29 send one of these for FNC1 instead.
_GS_STAND_INS = ("\u241d", "<GS>", "{GS}", "[GS]")
GS1_DATAMATRIX = "]d2"


class ScanError(ValueError):
    """The scanned or typed text is not a vial's GS1 DataMatrix; the message is shown to the nurse."""


@dataclass(frozen=True)
class VialScan:
    gtin: str
    expiry: date | None
    lot: str | None
    serial: str | None


def parse_vial_scan(text: str) -> VialScan:
    """Read one vial's GS1 element string, raise :class:`ScanError` with a message a nurse can act on."""
    value = text.strip().strip("\r\n")
    for stand_in in _GS_STAND_INS:
        value = value.replace(stand_in, GS)
    if not value:
        raise ScanError("Nothing was scanned.")
    if value.startswith("]"):
        if not value.startswith(GS1_DATAMATRIX):
            raise ScanError("This is not a GS1 DataMatrix: scan the square code on the vial's label, or type the vial.")
        value = value[len(GS1_DATAMATRIX) :]
    try:
        if value.lstrip(GS).startswith("("):
            message = GS1Message.parse_hri(value.replace(GS, "").replace(" ", ""))
        else:
            message = GS1Message.parse(value.lstrip(GS))
    except ParseError as error:
        raise ScanError(f"This is not a GS1 DataMatrix ({error}); type the vial.") from error

    found: dict[str, str] = {}
    gtin_error: str | None = None
    expiry: date | None = None
    for element in message.element_strings:
        found.setdefault(element.ai.ai, element.value)
        if element.ai.ai == "01" and element.gtin is None:
            gtin_error = element.gtin_error
        if element.ai.ai == "17":
            expiry = element.date
    if "01" not in found:
        raise ScanError("The code has no GTIN (01): it does not name a product; type the vial.")
    if gtin_error is not None:
        raise ScanError(f"The GTIN {found['01']} is not valid (its check digit is wrong); scan again or type the vial.")
    if "17" in found and expiry is None:
        raise ScanError(f"The expiry {found['17']} is not a date; type the vial.")
    return VialScan(gtin=found["01"], expiry=expiry, lot=found.get("10"), serial=found.get("21"))
