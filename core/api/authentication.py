"""`Authorization: Token <token>` (docs/api.md "Authentication and roles") with tokens that end."""

from __future__ import annotations

import binascii
from hmac import compare_digest
from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework import exceptions

TOKEN_EXPIRED_CODE = "token_expired"


class TokenExpired(exceptions.AuthenticationFailed):
    default_code = TOKEN_EXPIRED_CODE


class ExpiringTokenAuthentication(TokenAuthentication):  # type: ignore[misc]  # knox ships no type hints
    """knox's token check, saying "expired" when it is so instead of "Invalid token.".

    knox deletes an expired token when it is presented (and the user's other expired ones), so a client would be
    told "Invalid token." from its second try on and never learn why; here an expired token is refused with its
    own message and code until the housekeeping task deletes it, and a request costs no write.
    """

    def authenticate_credentials(self, token: bytes) -> tuple[Any, AuthToken]:
        invalid = exceptions.AuthenticationFailed("Invalid token.")
        try:
            text = token.decode("utf-8")
            digest = hash_token(text)
        except (UnicodeDecodeError, TypeError, binascii.Error):
            raise invalid from None
        candidates = AuthToken.objects.filter(token_key=text[: CONSTANTS.TOKEN_KEY_LENGTH]).select_related("user")
        for auth_token in candidates:
            if not compare_digest(digest, auth_token.digest):
                continue
            if auth_token.expiry is not None and auth_token.expiry <= timezone.now():
                raise TokenExpired(
                    "This token has expired: request a new one at /api/v1/auth/token/ (docs/api.md "
                    '"Authentication and roles").'
                )
            user, _ = self.validate_user(auth_token)
            return user, auth_token
        raise invalid


class ExpiringTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]  # its __init_subclass__
    """The schema's security scheme keeps the name and shape DRF's token had: the header is unchanged."""

    target_class = "core.api.authentication.ExpiringTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'Token-based authentication with required prefix "Token"; tokens expire '
            '(docs/api.md "Authentication and roles").',
        }
