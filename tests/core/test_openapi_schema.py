from __future__ import annotations

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.db


def test_the_openapi_schema_generates_and_validates_without_warnings(tmp_path) -> None:
    target = tmp_path / "schema.yaml"
    # --fail-on-warn turns every drf-spectacular warning (an undocumented field, a guessed type) into an error.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    assert "openapi: 3" in text
    assert "/api/v1/patients/" in text


def test_swagger_ui_is_served_without_a_cdn(client, nurse) -> None:
    client.force_login(nurse)
    html = client.get("/api/v1/docs/").content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/" in html
