"""Every web form fed arbitrary text (not-a-numbers, infinities, "²" and other scripts' digits, huge numbers,
the first and last days a date holds, ids that name nothing): never a 5xx, a refusal changes nothing, and what
was typed comes back in the re-rendered form. Examples per form: the suite's Hypothesis profile (tests/conftest.py)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils.html import escape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web_forms import FORM_CASES, NASTY_TEXT, FormCase, build_ward, changed_rows, clinical_rows

pytestmark = pytest.mark.db

ANY_TEXT = st.one_of(
    st.sampled_from(NASTY_TEXT),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.dates().map(str),
    st.datetimes().map(lambda moment: moment.strftime("%Y-%m-%dT%H:%M")),
)

# What a page shows when it refuses: a field's error, a form's error list, or an alert of the refused action.
REFUSAL_MARKS = (
    'aria-invalid="true"',
    'class="errorlist',
    'data-testid="field-error"',
    'data-testid="bedside-error"',
    'data-testid="monitoring-error"',
    'data-testid="row-error"',
)


# A refusal shown beside the form's own fields: the form is on the page again, with what was typed.
FIELD_ERROR_MARKS = REFUSAL_MARKS[:3]


def refused(case: FormCase, response) -> bool:
    if response.status_code >= 400:
        return True
    if response.status_code == 302:
        return False
    page = response.content.decode()
    return any(mark in page for mark in REFUSAL_MARKS)


def keepable(value: str) -> bool:
    """Text a browser sends back as it was typed (no control characters, not blank)."""
    return bool(value.strip()) and all(ch.isprintable() or ch == " " for ch in value)


@pytest.fixture
def ward(db):
    return build_ward()


@pytest.mark.parametrize("case", FORM_CASES, ids=[case.name for case in FORM_CASES])
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_a_form_given_any_text_never_fails_and_a_refusal_changes_nothing_and_keeps_what_was_typed(case, ward, data):
    client = Client()
    client.force_login(getattr(ward, case.role))
    valid = case.valid(ward)
    fields = sorted({*valid, *case.typed, *case.extra(ward)})
    typed = data.draw(st.dictionaries(st.sampled_from(fields), ANY_TEXT, min_size=1, max_size=3), label="typed")
    prefix = case.prefix(ward)
    body = {f"{prefix}{name}": value for name, value in {**valid, **typed}.items()}
    before = clinical_rows()

    response = client.post(case.url(ward), body, **({"HTTP_HX_REQUEST": "true"} if case.htmx else {}))

    assert response.status_code < 500
    if not refused(case, response):
        return
    assert changed_rows(before, clinical_rows()) == {}
    if response.status_code in (302, 400) and response.get("Content-Type", "").startswith("text/plain"):
        return  # the NUL refusal: a plain 400 before any page is drawn
    page = response.content.decode()
    if not any(mark in page for mark in FIELD_ERROR_MARKS):
        return  # refused for the record's state (a day no longer running, a result corrected since): no form to fill
    kept = {*case.typed, *case.extra(ward)}
    for name, value in typed.items():
        if name in kept and keepable(value):
            assert escape(value) in page, f"{name}={value!r} was not kept"
