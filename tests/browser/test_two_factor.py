"""Two-factor sign-in in chromium: the pharmacist sets up an authenticator as from a phone, the nurse is not asked,
a wrong code is refused and a recovery code works once."""

from __future__ import annotations

import base64

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from core import two_factor
from tests.browser.conftest import sign_in_page
from tests.factories import TEST_PASSWORD, authenticator_for, current_totp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def password_only(page, username: str) -> None:
    page.context.clear_cookies()
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state("networkidle")


def code_from_the_typed_key(key_text: str) -> str:
    """What the phone's authenticator app shows after the user typed the key from the set-up page."""
    secret = key_text.replace(" ", "")
    secret += "=" * (-len(secret) % 8)
    return f"{totp(base64.b32decode(secret)):06d}"


def test_a_pharmacist_gives_the_password_then_sets_up_an_authenticator_then_reaches_the_pharmacy(
    tablet, screenshot, pharmacist
) -> None:
    password_only(tablet, "pharm1")
    assert "/account/two-factor/setup/" in tablet.url
    assert tablet.locator("figure.qr svg").is_visible()
    screenshot(tablet, "two-factor-setup")

    tablet.fill("#id_code", code_from_the_typed_key(tablet.inner_text("[data-testid=totp-secret]")))
    tablet.click("main button[type=submit]")
    tablet.wait_for_selector("[data-testid=recovery-codes]")
    assert tablet.locator("[data-testid=recovery-codes] li").count() == 10
    screenshot(tablet, "two-factor-recovery-codes")

    tablet.click("text=I have kept them: continue")
    tablet.wait_for_load_state("networkidle")
    assert tablet.url.endswith("/pharmacy/")
    assert "Orders to verify" in tablet.inner_text("main")
    assert TOTPDevice.objects.get(user=pharmacist).confirmed is True


def test_a_nurse_goes_straight_to_the_worklist_without_a_code(tablet, nurse) -> None:
    password_only(tablet, "nurse1")
    assert tablet.url.endswith("/nurse/")


def test_a_wrong_code_is_refused_beside_the_field_and_the_pharmacy_stays_closed(tablet, pharmacist) -> None:
    device = authenticator_for(pharmacist)
    password_only(tablet, "pharm1")
    assert "/account/two-factor/verify/" in tablet.url
    wrong = f"{(int(current_totp_code(device)) + 1) % 1_000_000:06d}"

    tablet.fill("#id_code", wrong)
    tablet.click("main button[type=submit]")
    tablet.wait_for_load_state("networkidle")

    assert "That code is wrong or has expired." in tablet.inner_text("#code-error")
    assert tablet.input_value("#id_code") == wrong
    tablet.goto("/pharmacy/")
    assert "/account/two-factor/verify/" in tablet.url


def test_a_recovery_code_signs_the_pharmacist_in_once_only(tablet, pharmacist) -> None:
    authenticator_for(pharmacist)
    code = two_factor.replace_recovery_codes(pharmacist)[0]

    password_only(tablet, "pharm1")
    tablet.fill("#id_code", code)
    tablet.click("main button[type=submit]")
    tablet.wait_for_load_state("networkidle")
    assert tablet.url.endswith("/pharmacy/")
    assert "9 recovery code(s) left" in tablet.inner_text(".messages")

    password_only(tablet, "pharm1")
    tablet.fill("#id_code", code)
    tablet.click("main button[type=submit]")
    tablet.wait_for_load_state("networkidle")
    assert "/account/two-factor/verify/" in tablet.url
    assert "That code is wrong or has expired." in tablet.inner_text("#code-error")


def test_the_shared_sign_in_helper_gives_the_code_for_a_hematologist(tablet, hematologist) -> None:
    sign_in_page(tablet, "haem1", TEST_PASSWORD)
    assert tablet.url.endswith("/hematology/")
