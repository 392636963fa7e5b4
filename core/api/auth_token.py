"""What POST /api/v1/auth/token/ (core/api/tokens.py) reads, with the two-factor extension (docs/api.md
"Authentication and roles").

The fixed contract stays: ``{"username", "password"}`` → 200 ``{"token": "..."}``. An account that must use
two-factor authentication also sends ``otp``, a code from its authenticator app or one recovery code; without it,
or with a wrong one, it gets 400 with the message under ``otp`` and no token.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer

from core import two_factor

OTP_MISSING = (
    "This account uses two-factor sign-in: send otp, the 6-digit code from your authenticator app or a recovery code."
)
NOT_ENROLLED = (
    "This account must set up two-factor sign-in first: sign in once in the browser to set up an authenticator app, "
    "then ask for a token with its code as otp."
)


class TwoFactorAuthTokenSerializer(AuthTokenSerializer):
    otp = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=32,
        write_only=True,
        help_text="Required for accounts that use two-factor sign-in (hematologists, pharmacists, admins by default): "
        "the code from the authenticator app, or one recovery code.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        user = attrs["user"]
        if not two_factor.must_use_two_factor(user):
            return attrs
        if not two_factor.has_authenticator(user):
            raise serializers.ValidationError({"otp": [NOT_ENROLLED]})
        code = attrs.get("otp") or ""
        if not code.strip():
            raise serializers.ValidationError({"otp": [OTP_MISSING]})
        if two_factor.verify_second_factor(user, code) is None:
            raise serializers.ValidationError({"otp": [two_factor.WRONG_CODE_MESSAGE]})
        return attrs
