"""Weights in pounds and heights in inches beside kg and cm (core/templatetags/ivig.py), exact to 0.1."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from core.templatetags.ivig import inches, lb

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("kg", "shown"),
    [
        (D("70"), "154.3 lb"),
        (D("82"), "180.8 lb"),
        (D("0.45359237"), "1 lb"),
        (D("3.5"), "7.7 lb"),
        ("154", "339.5 lb"),
    ],
)
def test_a_weight_in_kg_is_also_shown_in_pounds_to_a_tenth(kg: object, shown: str) -> None:
    assert lb(kg) == shown


@pytest.mark.parametrize(
    ("cm", "shown"),
    [(D("178"), "70.1 in"), (D("165"), "65 in"), (D("2.54"), "1 in"), (D("65"), "25.6 in"), (D("152.4"), "60 in")],
)
def test_a_height_in_cm_is_also_shown_in_inches_to_a_tenth(cm: object, shown: str) -> None:
    assert inches(cm) == shown


@pytest.mark.parametrize("missing", [None, ""])
def test_a_missing_value_shows_a_dash(missing: object) -> None:
    assert (lb(missing), inches(missing)) == ("—", "—")
