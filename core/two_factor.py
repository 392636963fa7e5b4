"""Two-factor authentication: who must give a second factor, enrolment, verification, recovery codes, reset.

One authenticator app (a django-otp TOTP device) and one set of one-time recovery codes (a static device) per
account. Every change goes through these functions, called alike by the sign-in pages, the API token endpoint and
the admin (SECURITY.md "Two-factor authentication").
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import django_otp
import segno
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.roles import roles_of
from core.sign_in_rules import two_factor_required

logger = logging.getLogger("ivig.security")

AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"
# Set in the session when the hospital's sign-in service did MFA and the hospital trusts it (core/sso.py).
IDP_MFA_SESSION_KEY = "ivig_idp_mfa"

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., Any])


def two_factor_exempt(view: ViewFunc) -> ViewFunc:
    """Marks a view a signed-in account may open before its second factor (the 2FA pages themselves, sign-out)."""
    view.two_factor_exempt = True  # type: ignore[attr-defined]
    return view


def must_use_two_factor(user: Any) -> bool:
    if not getattr(user, "is_authenticated", False) or settings.IVIG_TWO_FACTOR == "off":
        return False
    return two_factor_required(
        roles={role.value for role in roles_of(user)},
        is_staff=user.is_staff,
        is_superuser=user.is_superuser,
        required_roles=settings.IVIG_TWO_FACTOR_REQUIRED_ROLES,
    )


def has_authenticator(user: Any) -> bool:
    return bool(TOTPDevice.objects.filter(user=user, confirmed=True).exists())


def second_factor_pending(request: HttpRequest) -> bool:
    """Whether this signed-in session must still give its second factor before anything else."""
    user: Any = request.user
    if not must_use_two_factor(user):
        return False
    if request.session.get(IDP_MFA_SESSION_KEY):
        return False
    return not user.is_verified()


def qr_code_svg(device: TOTPDevice) -> str:
    """The authenticator app's enrolment QR code as inline SVG, drawn here (no image service sees the secret)."""
    return str(segno.make(device.config_url, error="m").svg_inline(scale=5, dark="#000", light="#fff"))


def secret_for_typing(device: TOTPDevice) -> str:
    """The secret in base32 groups of four, for a phone that cannot scan."""
    secret = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def start_enrolment(user: Any) -> TOTPDevice:
    """The unconfirmed authenticator the account is setting up; the same one until confirmed, so a reload keeps
    the QR code the user may already have scanned."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("id").first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)
    return device


def confirm_enrolment(user: Any, code: str) -> tuple[TOTPDevice, list[str]]:
    """Confirms the authenticator with a code it shows, and issues the recovery codes (returned once, never shown
    again). A wrong code changes nothing."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("id").first()
        if device is None:
            raise ValidationError(
                {"code": ["This set-up has expired or was already finished: open the set-up page again."]}
            )
        if not device.verify_token(_digits(code)):
            raise ValidationError({"code": [WRONG_CODE_MESSAGE]})
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        codes = _replace_recovery_codes(user)
    logger.info("two-factor enrolled: user=%s", user.pk)
    return device, codes


WRONG_CODE_MESSAGE = (
    "That code is wrong or has expired. Enter the 6 digits your authenticator app shows now, or an unused recovery "
    "code. After several wrong codes, wait a little before the next try."
)


def verify_second_factor(user: Any, code: str) -> Device | None:
    """The device that accepts this code: six digits go to the authenticator app, anything else to the recovery codes
    (a recovery code is then used up).

    Each device is checked apart, so a wrong app code never throttles the recovery codes nor the other way round.
    django-otp locks the device while it checks, so one code cannot be spent twice by two requests at once.
    """
    typed = _digits(code)
    if not typed:
        return None
    is_app_code = len(typed) == 6 and typed.isdigit()
    candidates: Any = (
        TOTPDevice.objects.filter(user=user, confirmed=True)
        if is_app_code
        else StaticDevice.objects.filter(user=user, confirmed=True)
    )
    for candidate in candidates.order_by("id"):
        device = django_otp.verify_token(user, candidate.persistent_id, typed if is_app_code else typed.lower())
        if device is not None:
            logger.info("second factor verified: user=%s device=%s", user.pk, type(device).__name__)
            return device
    logger.warning("second factor refused: user=%s", user.pk)
    return None


def replace_recovery_codes(user: Any) -> list[str]:
    """A fresh set of recovery codes; every earlier code stops working."""
    with transaction.atomic():
        codes = _replace_recovery_codes(user)
    logger.info("recovery codes replaced: user=%s", user.pk)
    return codes


def unused_recovery_code_count(user: Any) -> int:
    return int(StaticToken.objects.filter(device__user=user, device__confirmed=True).count())


def reset_two_factor(user: Any, *, by: Any = None) -> int:
    """Removes the account's authenticator and recovery codes (a lost phone): it enrols again at its next sign-in.
    Returns how many devices were removed."""
    with transaction.atomic():
        removed = int(TOTPDevice.objects.filter(user=user).count() + StaticDevice.objects.filter(user=user).count())
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
    logger.warning("two-factor reset: user=%s by=%s devices=%s", user.pk, getattr(by, "pk", None), removed)
    return removed


def forget_second_factor_at_sign_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """Each sign-in starts without a second factor, even when the same account signs in again in the same session
    (Django keeps the session's data then): the password alone never inherits an earlier code or provider MFA."""
    if request is not None and hasattr(request, "session"):
        request.session.pop(django_otp.DEVICE_ID_SESSION_KEY, None)
        request.session.pop(IDP_MFA_SESSION_KEY, None)


def mark_session_verified(request: HttpRequest, device: Device) -> None:
    # A new session key once the second factor is given, so a key seen before it (e.g. fixed by an attacker)
    # never becomes a fully signed-in session.
    request.session.cycle_key()
    django_otp.login(request, device)


def _replace_recovery_codes(user: Any) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(settings.IVIG_RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def _digits(code: str) -> str:
    """Authenticator codes are often typed with a space in the middle ("123 456")."""
    return "".join(code.split())
