"""POST /api/v1/hl7/oru/: the message as the body, the ACK as the answer (HTTP 200 for AA, AE and AR)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from interop.models import HL7Message
from monitoring.models import PlateletCheck, PlateletResult
from tests.factories import UserFactory, given_order
from tests.interop.hl7_samples import hl7_time, sample

pytestmark = pytest.mark.db

URL = "/api/v1/hl7/oru/"


@pytest.fixture
def order(hematologist):
    return given_order(completed_hours_ago=30, prescriber=hematologist, mrn="MRN900")


def message(order, control_id="HTTP-1", value=52):
    due = PlateletCheck.objects.get(order=order, label="24h").due_at
    return sample(
        "beaker_777_3_si_units.hl7",
        control_id=control_id,
        mrn="MRN900",
        filler="H1",
        collected=hl7_time(due),
        status="F",
        value=value,
    )


def post(client, body, content_type="text/plain"):
    return client.post(URL, data=body, content_type=content_type)


def test_a_nurse_token_posts_a_result_and_gets_the_ack_as_text(client_for, nurse, order):
    response = post(client_for(nurse), message(order))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["X-HL7-Ack-Code"] == "AA"
    body = response.content.decode()
    assert body.split("\r")[1].startswith("MSA|AA|HTTP-1|")
    assert PlateletCheck.objects.get(order=order, label="24h").platelet_count == 52
    stored = HL7Message.objects.get()
    assert (stored.transport, stored.received_by, stored.ack_text) == ("http", nurse, body)
    assert PlateletResult.objects.get().entered_by == nurse


def test_an_interface_engine_account_needs_only_the_permission(client_for, order):
    engine = UserFactory(username="lab-interface-engine")
    engine.user_permissions.add(Permission.objects.get(codename="record_platelet_result"))
    response = post(client_for(engine), message(order), content_type="application/hl7-v2")
    assert response.status_code == 200
    assert response["X-HL7-Ack-Code"] == "AA"


def test_application_errors_and_rejections_are_http_200_with_the_hl7_answer(client_for, nurse, order):
    api = client_for(nurse)
    bad_value = post(api, message(order, control_id="HTTP-AE", value="clumped"))
    not_hl7 = post(api, "platelets 52")
    assert (bad_value.status_code, bad_value["X-HL7-Ack-Code"]) == (200, "AE")
    assert (not_hl7.status_code, not_hl7["X-HL7-Ack-Code"]) == (200, "AR")
    assert "ERR|" in not_hl7.content.decode()
    assert not PlateletResult.objects.exists()


def test_a_resend_over_http_gets_the_same_ack_bytes(client_for, nurse, order):
    api = client_for(nurse)
    first = post(api, message(order))
    second = post(api, message(order))
    assert second.content == first.content
    assert PlateletResult.objects.count() == 1


@pytest.mark.parametrize(
    "body, content_type, status",
    [
        ("", "text/plain", 400),
        ("   \r\n", "text/plain", 400),
        ("MSH|\x00", "text/plain", 400),
        ('{"platelets": 52}', "application/json", 415),
    ],
)
def test_an_empty_or_non_text_body_is_an_http_error_and_stores_nothing(client_for, nurse, body, content_type, status):
    response = post(client_for(nurse), body, content_type)
    assert response.status_code == status
    assert not HL7Message.objects.exists()


def test_roles_without_the_permission_get_403_and_anonymous_401(client_for, pharmacist, order):
    assert post(client_for(pharmacist), message(order)).status_code == 403
    assert post(client_for(UserFactory(username="no-role")), message(order)).status_code == 403
    assert post(APIClient(), message(order)).status_code == 401
    assert not HL7Message.objects.exists()
