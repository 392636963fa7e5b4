"""The IgA-deficiency rule of docs/clinical-rules.md §A4 (patients/rules.py, pure)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from patients.rules import is_iga_deficient

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("serum_iga", "deficient"),
    [
        ("0", True),
        ("6.9", True),
        ("6.99", True),
        ("7", False),
        ("7.0", False),
        ("7.1", False),
        ("250", False),
    ],
)
def test_iga_deficiency_is_a_serum_iga_below_7_mg_per_dl(serum_iga: str, deficient: bool) -> None:
    assert is_iga_deficient(D(serum_iga)) is deficient


def test_an_unknown_serum_iga_gives_an_unknown_deficiency() -> None:
    assert is_iga_deficient(None) is None


def test_the_laboratory_can_set_its_own_iga_cut_off() -> None:
    assert is_iga_deficient(D(8), cutoff_mg_dl=D(10)) is True
    assert is_iga_deficient(D(10), cutoff_mg_dl=D(10)) is False


def test_a_negative_serum_iga_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        is_iga_deficient(D(-1))
