"""Bad input never becomes a 5xx: each finding of the attack on the API, reproduced (docs/api.md "Limits")."""

from __future__ import annotations

import json
from datetime import date

import pytest
from django.test import Client

from infusions.models import Order, OrderStatus, VitalSignsEntry
from interop.models import HL7Message
from monitoring.models import PlateletResult
from tests.factories import NORMAL_VITALS, UserFactory, given_order, verified_order
from tests.interop.hl7_samples import hl7_time, sample

pytestmark = pytest.mark.db


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_a_non_numeric_infusion_id_on_the_vitals_post_is_404_and_records_nothing(client_for, nurse) -> None:
    infusion = verified_order().infusions.get()
    client = client_for(nurse)
    # Letters, an exponent, a superscript one, an Arabic-Indic one, a number beyond any database integer.
    for bad_id in ("abc", "1e3", "%C2%B9", "%D9%A1", "99999999999999999999999"):
        response = client.post(f"/api/v1/infusions/{bad_id}/vitals/", NORMAL_VITALS, format="json")
        assert response.status_code == 404, bad_id
    assert not VitalSignsEntry.objects.filter(infusion=infusion).exists()


def test_a_non_numeric_id_in_a_body_is_a_field_error(client_for, hematologist) -> None:
    response = client_for(hematologist).post(
        "/api/v1/orders/", {"patient": "one", "regimen": "one_dose_1g_per_kg"}, format="json"
    )
    assert response.status_code == 400
    assert "patient" in response.json()
    assert not Order.objects.exists()


def test_json_nested_a_thousand_deep_sent_anonymously_for_a_token_is_400_in_the_api_shape() -> None:
    response = Client().post("/api/v1/auth/token/", data=nested(1000), content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - arrays and objects may nest at most 32 levels deep."}


def test_json_deeper_than_the_setting_is_refused_on_an_authenticated_endpoint_and_changes_nothing(
    client_for, hematologist, settings
) -> None:
    settings.IVIG_API_MAX_JSON_DEPTH = 8
    client = client_for(hematologist)
    too_deep = json.dumps({"patient": 1, "notes": json.loads(nested(8))})  # 9 levels with the outer object
    response = client.post("/api/v1/orders/", data=too_deep, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - arrays and objects may nest at most 8 levels deep."}
    assert not Order.objects.exists()
    # Brackets inside a string are text, not nesting: the body is read and answered on its fields.
    in_a_string = json.dumps({"patient": "x", "notes": nested(50)})
    response = client.post("/api/v1/orders/", data=in_a_string, content_type="application/json")
    assert response.status_code == 400
    assert "patient" in response.json()


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_in_json_are_400_and_record_no_vitals(client_for, nurse, constant) -> None:
    infusion = verified_order().infusions.get()
    body = json.dumps(NORMAL_VITALS).replace('"36.8"', constant)
    response = client_for(nurse).post(
        f"/api/v1/infusions/{infusion.pk}/vitals/", data=body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": f"JSON parse error - {constant} is not a number: send a finite number"}
    assert not VitalSignsEntry.objects.filter(infusion=infusion).exists()


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-inf"])
def test_nan_and_infinity_sent_as_strings_are_field_errors(client_for, nurse, text) -> None:
    infusion = verified_order().infusions.get()
    response = client_for(nurse).post(
        f"/api/v1/infusions/{infusion.pk}/vitals/", {**NORMAL_VITALS, "temperature_c": text}, format="json"
    )
    assert response.status_code == 400
    assert "temperature_c" in response.json()
    assert not VitalSignsEntry.objects.filter(infusion=infusion).exists()


def test_a_json_body_over_the_upload_limit_is_413(client_for, hematologist, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    body = json.dumps({"patient": 1, "notes": "x" * 4096})
    response = client_for(hematologist).post("/api/v1/orders/", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is larger than 2048 bytes, the most this server accepts."}
    assert not Order.objects.exists()


def test_an_hl7_body_over_the_limit_is_413_with_an_ar_naming_the_message_and_nothing_is_stored(
    client_for, nurse, hematologist, settings
) -> None:
    settings.IVIG_HL7_HTTP_MAX_BODY_BYTES = 4096
    order = given_order(completed_hours_ago=30, prescriber=hematologist, mrn="MRN900")
    one = sample(
        "beaker_777_3_si_units.hl7",
        control_id="BIG-1",
        mrn="MRN900",
        filler="H1",
        collected=hl7_time(order.platelet_checks.get(label="24h").due_at),
        status="F",
        value=52,
    )
    body = one + "\rNTE|1||" + "x" * 8192
    response = client_for(nurse).post("/api/v1/hl7/oru/", data=body, content_type="text/plain")
    assert response.status_code == 413
    assert response["X-HL7-Ack-Code"] == "AR"
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    msa = response.content.decode().split("\r")[1]
    assert msa.startswith("MSA|AR|BIG-1|Message larger than 4096 bytes refused")
    assert not HL7Message.objects.exists()
    assert not PlateletResult.objects.exists()


def test_verifying_an_order_whose_first_infusion_is_at_the_end_of_the_calendar_is_refused_not_a_500(
    client_for, hematologist
) -> None:
    # A draft dated 9999-12-31, as an order stored before creation bounded the date: its infusion days and checks
    # would run past the last date Python knows. The verification's own date stop refuses it, naming the date.
    order = verified_order(prescriber=hematologist)
    Order.objects.filter(pk=order.pk).update(
        status=OrderStatus.DRAFT, first_infusion_on=date(9999, 12, 31), verified_by=None, verified_at=None
    )
    response = client_for(UserFactory(role="pharmacist")).post(f"/api/v1/orders/{order.pk}/verify/", {}, format="json")
    assert response.status_code == 409
    assert "first_infusion_date" in [stop["code"] for stop in response.json()["stops"]]
    assert "9999-12-31" in response.json()["detail"]
    assert Order.objects.get(pk=order.pk).status == OrderStatus.DRAFT
