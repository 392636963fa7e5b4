"""Browser protections: a Content-Security-Policy that runs only our own script files, and patient data never left
in a cache (``Cache-Control: no-store``) — on pages, the API and FHIR alike."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import RequestFactory

from core.no_store import carries_patient_data
from tests.factories import PatientFactory

TEMPLATES = Path(settings.BASE_DIR) / "templates"


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in policy.split(";") if part.strip())}


@pytest.mark.db
def test_a_patient_page_forbids_inline_and_foreign_script_and_is_never_stored(client, nurse) -> None:
    patient = PatientFactory()
    client.force_login(nurse)
    response = client.get(f"/patients/{patient.pk}/")
    assert response.status_code == 200
    policy = directives(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


@pytest.mark.db
def test_the_sign_in_page_has_the_policy_too(client) -> None:
    response = client.get("/login/")
    assert directives(response)["script-src"] == ["'self'"]


@pytest.mark.db
def test_api_and_fhir_answers_with_patient_data_are_never_stored(client_for, nurse) -> None:
    patient = PatientFactory()
    api = client_for(nurse)
    for path in (f"/api/v1/patients/{patient.pk}/", f"/fhir/R4/Patient/{patient.pk}"):
        response = api.get(path)
        assert response.status_code == 200, path
        assert "no-store" in response["Cache-Control"], path


@pytest.mark.db
def test_an_api_refusal_without_credentials_is_not_stored_either(client) -> None:
    response = client.get("/api/v1/patients/")
    assert response.status_code == 401
    assert "no-store" in response["Cache-Control"]


@pytest.mark.db
def test_a_static_file_and_an_anonymous_page_are_left_to_the_cache() -> None:
    from django.contrib.auth.models import AnonymousUser

    request = RequestFactory().get("/static/css/app.css")
    request.user = AnonymousUser()
    assert carries_patient_data(request) is False
    request = RequestFactory().get("/login/")
    request.user = AnonymousUser()
    assert carries_patient_data(request) is False


@pytest.mark.db
def test_the_swagger_ui_page_loads_its_start_up_script_as_a_file(client, nurse) -> None:
    client.force_login(nurse)
    page = client.get("/api/v1/docs/").content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "an inline <script> in Swagger UI"
    script = re.search(r'<script src="([^"]*script[^"]*)"', page)
    assert script is not None
    response = client.get(script.group(1).replace("&amp;", "&"))
    assert response.status_code == 200
    assert "SwaggerUIBundle" in response.content.decode()


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_no_template_holds_an_inline_script_or_event_handler(template: Path) -> None:
    # The policy would block them in the browser: the page would silently lose its behaviour.
    text = template.read_text(encoding="utf-8")
    assert not INLINE_SCRIPT.search(text), f"{template}: move the inline <script> to a file under static/js/"
    assert not EVENT_HANDLER.search(text), f"{template}: bind the handler from a file under static/js/"
    assert "hx-on" not in text and "js:" not in text, f"{template}: htmx may not evaluate code under the policy"
    # A filter is "[...]" after an event; the CSS selectors of from: and target: may hold brackets of their own.
    triggers = [re.sub(r"\b(?:from|target):\S+", "", t) for t in re.findall(r'hx-trigger="([^"]*)"', text)]
    filters = [trigger for trigger in triggers if "[" in trigger]
    assert not filters, f"{template}: an htmx trigger filter is evaluated with eval: {filters}"
