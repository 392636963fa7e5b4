"""The token endpoint's two-factor extension (docs/api.md "Authentication and roles")."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from knox.models import AuthToken

from core import two_factor
from tests.factories import TEST_PASSWORD, authenticator_for, current_totp_code

pytestmark = pytest.mark.db

TOKEN = "/api/v1/auth/token/"


def test_a_pharmacist_without_otp_gets_400_naming_otp_and_no_token(api_client, pharmacist) -> None:
    authenticator_for(pharmacist)
    response = api_client.post(TOKEN, {"username": "pharm1", "password": TEST_PASSWORD})
    assert response.status_code == 400
    assert list(response.json()) == ["otp"]
    assert "send otp" in response.json()["otp"][0]
    assert not AuthToken.objects.filter(user=pharmacist).exists()


def test_a_pharmacist_with_a_wrong_otp_gets_400_and_no_token(api_client, pharmacist) -> None:
    device = authenticator_for(pharmacist)
    wrong = f"{(int(current_totp_code(device)) + 1) % 1_000_000:06d}"
    response = api_client.post(TOKEN, {"username": "pharm1", "password": TEST_PASSWORD, "otp": wrong})
    assert response.status_code == 400
    assert response.json()["otp"] == [two_factor.WRONG_CODE_MESSAGE]
    assert not AuthToken.objects.filter(user=pharmacist).exists()


def test_a_pharmacist_with_the_right_otp_gets_a_token_that_works(api_client, pharmacist) -> None:
    device = authenticator_for(pharmacist)
    response = api_client.post(
        TOKEN, {"username": "pharm1", "password": TEST_PASSWORD, "otp": current_totp_code(device)}
    )
    assert response.status_code == 200
    assert set(response.json()) == {"token", "expiry"}
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert api_client.get("/api/v1/patients/").status_code == 200


def test_a_hematologist_who_never_set_up_an_authenticator_is_told_to_do_so_in_the_browser(
    api_client, hematologist
) -> None:
    response = api_client.post(TOKEN, {"username": "haem1", "password": TEST_PASSWORD, "otp": "123456"})
    assert response.status_code == 400
    assert "sign in once in the browser" in response.json()["otp"][0]
    assert not AuthToken.objects.filter(user=hematologist).exists()


def test_a_recovery_code_gets_one_token_and_is_then_used_up(api_client, hematologist) -> None:
    authenticator_for(hematologist)
    code = two_factor.replace_recovery_codes(hematologist)[0]
    first = api_client.post(TOKEN, {"username": "haem1", "password": TEST_PASSWORD, "otp": code})
    second = api_client.post(TOKEN, {"username": "haem1", "password": TEST_PASSWORD, "otp": code})
    assert (first.status_code, second.status_code) == (200, 400)


def test_a_wrong_password_is_refused_before_any_code_is_checked(api_client, pharmacist) -> None:
    device = authenticator_for(pharmacist)
    response = api_client.post(TOKEN, {"username": "pharm1", "password": "wrong", "otp": current_totp_code(device)})
    assert response.status_code == 400
    assert "otp" not in response.json()
    device.refresh_from_db()
    assert device.last_t == -1  # the code was not spent


def test_a_nurse_gets_a_token_without_otp_as_the_fixed_contract_says(api_client, nurse) -> None:
    response = api_client.post(TOKEN, {"username": "nurse1", "password": TEST_PASSWORD})
    assert response.status_code == 200


def test_an_interface_account_holding_only_a_permission_is_not_asked_for_otp(api_client, role_user) -> None:
    lab = role_user(None, username="lab-interface")
    lab.user_permissions.add(Permission.objects.get(codename="record_platelet_result"))
    response = api_client.post(TOKEN, {"username": "lab-interface", "password": TEST_PASSWORD})
    assert response.status_code == 200
