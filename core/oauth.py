"""OAuth2 Bearer tokens (django-oauth-toolkit, mounted at ``/o/``): who a token acts as, and what it may do on
``/api/v1/``.

A token always acts as one account, to which the usual role checks apply (core/permissions.py):

- the authorization-code flow (apps, PKCE required): the signed-in user who authorised the app;
- client credentials (system integrations): the Application's ``user``, an integration account hospital IT
  gives a clinical role when registering the Application in the admin. An Application without a user gets no
  token (``unauthorized_client``).

Scopes are SMART on FHIR's (interop/fhir/smart.py). On ``/api/v1/`` a Bearer token may only read, and only with
``user/*.read`` or ``system/*.read``: the API has no per-patient filter, so a ``patient/`` scope is refused there,
and there are no write scopes (writes keep using ``Token`` keys or the session).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.oauth2_validators import OAuth2Validator
from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS

# The scopes that read the whole API (any patient): a user's (app) or a system's (integration).
API_READ_SCOPES = frozenset({"user/*.read", "system/*.read"})
CLIENT_CREDENTIALS = "client_credentials"


class ActingUserValidator(OAuth2Validator):  # type: ignore[misc]  # DOT ships no type hints
    """DOT's validator, except that a client-credentials token acts as its Application's user."""

    def validate_grant_type(
        self, client_id: str, grant_type: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        if grant_type == CLIENT_CREDENTIALS and getattr(client, "user_id", None) is None:
            return False  # unauthorized_client: IT has not said which account this integration acts as
        return bool(super().validate_grant_type(client_id, grant_type, client, request, *args, **kwargs))

    def _create_access_token(self, expires: Any, request: Any, token: Any, source_refresh_token: Any = None) -> Any:
        if request.grant_type == CLIENT_CREDENTIALS:
            request.user = request.client.user
        return super()._create_access_token(expires, request, token, source_refresh_token)


def token_scopes(auth: Any) -> frozenset[str] | None:
    """The scopes of an OAuth2 access token, or None when ``request.auth`` is not one (API token, session)."""
    from oauth2_provider.models import get_access_token_model

    if isinstance(auth, get_access_token_model()):
        return frozenset(auth.scope.split())
    return None


class BearerAuthentication(OAuth2Authentication):  # type: ignore[misc]  # DOT ships no type hints
    """``Authorization: Bearer <access token>`` (never in the query string or the body); the token's account must
    still be active (as for API tokens)."""

    www_authenticate_realm = "ivig-tracker"

    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        if not request.META.get("HTTP_AUTHORIZATION", "").lower().startswith("bearer "):
            return None  # not ours: another authentication class's (or anonymous)
        result = super().authenticate(request)
        if result is None:
            return None
        user, token = result
        if user is None:
            raise exceptions.AuthenticationFailed("This access token acts as no account.")
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return user, token


class APIBearerAuthentication(BearerAuthentication):
    """Bearer tokens on ``/api/v1/``: reads only, with ``user/*.read`` or ``system/*.read``."""

    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        scopes = token_scopes(result[1]) or frozenset()
        if not scopes & API_READ_SCOPES:
            raise exceptions.PermissionDenied(
                "This access token may not read the API: it needs the scope user/*.read or system/*.read."
            )
        if request.method not in SAFE_METHODS:
            raise exceptions.PermissionDenied(
                "Access tokens only read (their scopes are read scopes): write with an API token or the session."
            )
        return result


class APIBearerScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]  # its __init_subclass__
    """The OpenAPI security scheme of APIBearerAuthentication: OAuth2 (flows in SPECTACULAR_SETTINGS), usable
    with either read scope on reads and not at all on writes."""

    target_class = "core.oauth.APIBearerAuthentication"
    name = "oauth2"

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]]:
        if auto_schema.method not in SAFE_METHODS:
            return []
        return [{self.name: [scope]} for scope in sorted(API_READ_SCOPES)]

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        from django.urls import reverse

        return {
            "type": "oauth2",
            "description": 'SMART on FHIR access tokens (docs/api.md "Authentication"); read-only on this API.',
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": reverse("oauth2_provider:authorize"),
                    "tokenUrl": reverse("oauth2_provider:token"),
                    "scopes": {"user/*.read": "Read as the signed-in user"},
                },
                "clientCredentials": {
                    "tokenUrl": reverse("oauth2_provider:token"),
                    "scopes": {"system/*.read": "Read as the integration's account"},
                },
            },
        }
