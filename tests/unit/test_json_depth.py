from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.api.parsers import nesting_depth_exceeds

pytestmark = pytest.mark.unit

# JSON values whose strings are full of brackets, quotes and backslashes: the scanner must skip them as text.
tricky_text = st.text(alphabet='[]{}"\\ab', max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(tricky_text, children, max_size=3),
    max_leaves=30,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


@given(value=json_values, limit=st.integers(min_value=0, max_value=8))
def test_the_depth_counted_without_recursion_is_the_depth_of_the_value(value: Any, limit: int) -> None:
    assert nesting_depth_exceeds(json.dumps(value), limit) == (depth(value) > limit)


def test_a_thousand_levels_are_counted_without_exhausting_the_recursion_limit() -> None:
    assert nesting_depth_exceeds("[" * 100_000 + "]" * 100_000, 32)
    assert not nesting_depth_exceeds(json.dumps({"notes": "[" * 100_000}), 32)
