"""Error reports through Sentry's own SDK leave the process without the patient's name, MRN or the request body."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sentry_sdk
from django.urls import path
from sentry_sdk.transport import Transport

from core.error_reports import start_error_reports
from core.logging import redact_text
from ivig_tracker.urls import urlpatterns as site_urlpatterns

pytestmark = [pytest.mark.db, pytest.mark.django_db]


class KeptEnvelopes(Transport):
    """A transport that keeps what the SDK would send, exactly as serialised."""

    sent: list[str] = []

    def capture_envelope(self, envelope) -> None:
        KeptEnvelopes.sent.append(envelope.serialize().decode("utf-8", "replace"))


def failing_view(request):
    post = request.POST
    raise ValueError(f"Key (mrn)=({post['mrn']}) already exists for '{post['name']}' born {post['born']}")


urlpatterns = [path("boom/", failing_view), *site_urlpatterns]


@pytest.fixture
def error_reports() -> Iterator[list[str]]:
    KeptEnvelopes.sent = []
    start_error_reports("https://public@sentry.example/1", environment="test", transport=KeptEnvelopes)
    try:
        yield KeptEnvelopes.sent
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init(dsn=None)


@pytest.mark.urls("tests.operations.test_error_reports")
def test_a_server_error_is_reported_without_the_patients_name_mrn_or_form(client, nurse, error_reports):
    client.raise_request_exception = False
    client.force_login(nurse)

    response = client.post(
        "/boom/?q=MRN-Q-991", {"mrn": "MRN-777123", "name": "Ottilie Quarrington", "born": "19620314"}
    )
    sentry_sdk.flush()

    assert response.status_code == 500
    [envelope] = error_reports
    assert "ValueError" in envelope
    assert "failing_view" in envelope
    for secret in ("MRN-777123", "777123", "Ottilie", "Quarrington", "MRN-Q-991", "19620314", "sessionid"):
        assert secret not in envelope
    event = json.loads(envelope.splitlines()[-1])
    assert not {"username", "email", "ip_address"} & set(event.get("user", {}))
    assert "request_id" in event["tags"]


@pytest.mark.unit
def test_an_exceptions_text_keeps_its_shape_and_loses_its_values():
    assert redact_text("Key (mrn)=(MRN-1) already exists") == "Key (mrn)[redacted] already exists"
    assert redact_text("Patient 'Ann Smith' has no weight") == "Patient [redacted] has no weight"
    assert redact_text("Infusion matching query does not exist.") == "Infusion matching query does not exist."
