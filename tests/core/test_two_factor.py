"""Two-factor sign-in through the real pages: password, then set-up or code, then the page asked for."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import RequestFactory, override_settings
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from core import two_factor
from tests.factories import TEST_PASSWORD, authenticator_for, current_totp_code

pytestmark = pytest.mark.db

SETUP = "/account/two-factor/setup/"
VERIFY = "/account/two-factor/verify/"


def sign_in_with_password(client, username: str):
    return client.post("/login/", {"username": username, "password": TEST_PASSWORD})


def wrong_code_for(device) -> str:
    right = current_totp_code(device)
    return f"{(int(right) + 1) % 1_000_000:06d}"


def test_a_pharmacist_without_an_authenticator_is_sent_to_set_one_up_after_the_password(client, pharmacist) -> None:
    sign_in_with_password(client, "pharm1")
    response = client.get("/pharmacy/")
    assert response.status_code == 302
    assert response["Location"] == f"{SETUP}?next=%2Fpharmacy%2F"


def test_the_set_up_page_draws_its_qr_code_inline_without_any_script(client, pharmacist) -> None:
    sign_in_with_password(client, "pharm1")
    page = client.get(SETUP).content.decode()
    assert "<svg" in page
    assert "otpauth://" not in page  # the secret travels inside the drawing and the typed key only
    assert "<script>" not in page and "<script " not in page.replace('<script src="', "")
    device = TOTPDevice.objects.get(user=pharmacist)
    assert device.confirmed is False


def test_the_set_up_page_keeps_the_same_secret_on_reload(client, pharmacist) -> None:
    sign_in_with_password(client, "pharm1")
    first = re.search(r'data-testid="totp-secret">([^<]+)<', client.get(SETUP).content.decode())
    second = re.search(r'data-testid="totp-secret">([^<]+)<', client.get(SETUP).content.decode())
    assert first and second and first.group(1) == second.group(1)
    assert TOTPDevice.objects.filter(user=pharmacist).count() == 1


def test_a_right_code_confirms_the_authenticator_and_shows_ten_recovery_codes_once(client, pharmacist) -> None:
    sign_in_with_password(client, "pharm1")
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=pharmacist)

    response = client.post(SETUP, {"code": current_totp_code(device), "next": "/pharmacy/"})

    assert response.status_code == 200
    shown = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", response.content.decode())
    assert len(shown) == 10
    assert sorted(shown) == sorted(StaticToken.objects.filter(device__user=pharmacist).values_list("token", flat=True))
    device.refresh_from_db()
    assert device.confirmed is True
    assert client.get("/pharmacy/").status_code == 200
    # Shown once: the set-up page now only leads on, it never shows the codes again.
    assert client.get(SETUP).status_code == 302


def test_a_wrong_code_at_set_up_is_refused_beside_the_field_and_confirms_nothing(client, pharmacist) -> None:
    sign_in_with_password(client, "pharm1")
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=pharmacist)

    response = client.post(SETUP, {"code": wrong_code_for(device)})

    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-testid="field-error">That code is wrong or has expired.' in page
    assert f'value="{wrong_code_for(device)}"' in page
    device.refresh_from_db()
    assert device.confirmed is False
    assert not StaticDevice.objects.filter(user=pharmacist).exists()
    assert client.get("/pharmacy/").status_code == 302


def test_a_nurse_is_not_asked_for_a_code(client, nurse) -> None:
    sign_in_with_password(client, "nurse1")
    assert client.get("/nurse/").status_code == 200
    assert not TOTPDevice.objects.filter(user=nurse).exists()


@override_settings(IVIG_TWO_FACTOR_REQUIRED_ROLES=frozenset({"nurse", "hematologist", "pharmacist", "admin"}))
def test_a_hospital_that_lists_nurses_has_them_set_up_an_authenticator_too(client, nurse) -> None:
    sign_in_with_password(client, "nurse1")
    assert client.get("/nurse/")["Location"].startswith(SETUP)


def test_a_hematologist_with_an_authenticator_gives_its_code_then_reaches_the_page(client, hematologist) -> None:
    device = authenticator_for(hematologist)
    sign_in_with_password(client, "haem1")
    assert client.get("/hematology/")["Location"] == f"{VERIFY}?next=%2Fhematology%2F"

    response = client.post(VERIFY, {"code": current_totp_code(device), "next": "/hematology/"})

    assert response.status_code == 302
    assert response["Location"] == "/hematology/"
    assert client.get("/hematology/").status_code == 200


def test_a_wrong_code_is_refused_and_the_pages_stay_closed(client, hematologist) -> None:
    device = authenticator_for(hematologist)
    sign_in_with_password(client, "haem1")

    response = client.post(VERIFY, {"code": wrong_code_for(device), "next": "/hematology/"})

    assert response.status_code == 400
    assert b"That code is wrong or has expired." in response.content
    assert client.get("/hematology/").status_code == 302
    assert client.get("/patients/").status_code == 302


def test_a_code_is_never_accepted_twice(client, hematologist) -> None:
    device = authenticator_for(hematologist)
    code = current_totp_code(device)
    sign_in_with_password(client, "haem1")
    assert client.post(VERIFY, {"code": code})["Location"] == "/"

    other = type(client)()
    sign_in_with_password(other, "haem1")
    assert other.post(VERIFY, {"code": code}).status_code == 400


def test_a_recovery_code_signs_in_once_and_never_again(client, hematologist) -> None:
    authenticator_for(hematologist)
    codes = two_factor.replace_recovery_codes(hematologist)
    sign_in_with_password(client, "haem1")

    response = client.post(VERIFY, {"code": codes[0].upper(), "next": "/hematology/"}, follow=True)

    assert response.redirect_chain[-1][0] == "/hematology/"
    assert b"You signed in with a recovery code; it will not work again. 9 recovery code(s) left" in response.content
    other = type(client)()
    sign_in_with_password(other, "haem1")
    assert other.post(VERIFY, {"code": codes[0]}).status_code == 400
    assert two_factor.unused_recovery_code_count(hematologist) == 9


def test_new_recovery_codes_replace_the_old_ones(client, hematologist) -> None:
    old = two_factor.replace_recovery_codes(hematologist)
    client.force_login(hematologist)

    response = client.post("/account/two-factor/recovery-codes/")

    new = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", response.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    assert two_factor.verify_second_factor(hematologist, old[1]) is None


def test_the_admin_sends_an_unverified_superuser_to_the_code_step(client, db) -> None:
    get_user_model().objects.create_superuser("it-admin", "it@hospital.example", TEST_PASSWORD)
    client.post("/admin/login/", {"username": "it-admin", "password": TEST_PASSWORD})
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"] == f"{SETUP}?next=%2Fadmin%2F"


def test_the_api_refuses_a_session_that_has_not_given_its_code(client, pharmacist) -> None:
    sign_in_with_password(client, "pharm1")
    response = client.get("/api/v1/patients/")
    assert response.status_code == 403
    assert "two-factor" in response.json()["detail"]


def test_signing_out_works_before_the_code_is_given(client, pharmacist) -> None:
    sign_in_with_password(client, "pharm1")
    assert client.post("/logout/")["Location"] == "/login/"
    assert client.get(SETUP)["Location"].startswith("/login/")


def test_the_code_step_does_not_send_anyone_to_another_site(client, hematologist) -> None:
    device = authenticator_for(hematologist)
    sign_in_with_password(client, "haem1")
    response = client.post(VERIFY, {"code": current_totp_code(device), "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_it_resets_a_lost_phone_in_the_admin_and_the_user_sets_up_again(client, hematologist) -> None:
    authenticator_for(hematologist)
    two_factor.replace_recovery_codes(hematologist)
    admin = get_user_model().objects.create_superuser("it-admin", "it@hospital.example", TEST_PASSWORD)
    client.force_login(admin)

    response = client.post(
        "/admin/auth/user/",
        {"action": "reset_two_factor_sign_in", "_selected_action": [hematologist.pk]},
        follow=True,
    )

    assert b"Two-factor sign-in reset for 1 user(s)." in response.content
    assert not TOTPDevice.objects.filter(user=hematologist).exists()
    assert not StaticDevice.objects.filter(user=hematologist).exists()
    haem_client = type(client)()
    sign_in_with_password(haem_client, "haem1")
    assert haem_client.get("/hematology/")["Location"].startswith(SETUP)


def test_the_admin_never_shows_an_authenticators_secret_nor_the_recovery_codes(client, hematologist) -> None:
    device = authenticator_for(hematologist)
    codes = two_factor.replace_recovery_codes(hematologist)
    admin = get_user_model().objects.create_superuser("it-admin", "it@hospital.example", TEST_PASSWORD)
    client.force_login(admin)
    page = client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/").content.decode()
    assert "Change TOTP device" in page and device.key not in page
    recovery = StaticDevice.objects.get(user=hematologist)
    page = client.get(f"/admin/otp_static/staticdevice/{recovery.pk}/change/").content.decode()
    assert "Identity" in page and not any(code in page for code in codes)


def test_signing_in_again_with_the_password_alone_asks_for_the_code_again(client, hematologist) -> None:
    device = authenticator_for(hematologist)
    sign_in_with_password(client, "haem1")
    client.post(VERIFY, {"code": current_totp_code(device)})
    assert client.get("/hematology/").status_code == 200

    # The same account, the same browser session (django-axes counts the attempt, so it sees the request).
    client.login(request=RequestFactory().post("/login/"), username="haem1", password=TEST_PASSWORD)

    assert client.get("/hematology/")["Location"].startswith(VERIFY)


def test_the_header_links_to_the_recovery_codes_for_accounts_that_use_two_factor(client, hematologist, nurse) -> None:
    two_factor.replace_recovery_codes(hematologist)
    client.force_login(hematologist)
    assert b"/account/two-factor/recovery-codes/" in client.get("/hematology/").content
    client.force_login(nurse)
    assert b"/account/two-factor/recovery-codes/" not in client.get("/nurse/").content


def test_a_wrong_app_code_does_not_hold_back_a_recovery_code(client, hematologist) -> None:
    device = authenticator_for(hematologist)
    code = two_factor.replace_recovery_codes(hematologist)[0]
    sign_in_with_password(client, "haem1")
    assert client.post(VERIFY, {"code": wrong_code_for(device)}).status_code == 400

    response = client.post(VERIFY, {"code": code, "next": "/hematology/"})

    assert response["Location"] == "/hematology/"
