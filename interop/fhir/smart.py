"""SMART on FHIR (App Launch 2.x, v1 scopes): the scopes, who may read what with them, and the discovery document.

Scopes are ``<context>/<type>.read``: context ``system`` (backend services, client credentials), ``user`` (apps
through the authorization-code flow with PKCE, acting as the signed-in user) or ``patient``; type ``*`` or one of
the served resource types. Which contexts exist is ``OAUTH2_PROVIDER["SCOPES"]`` (settings.py lists the ``*.read``
scopes); the per-type scopes follow from the served types. A client-credentials Application may be granted
``system/`` scopes (and ``introspection``, for resource servers), any other Application ``user/`` and ``patient/``
ones and ``launch/patient``.

A ``patient/`` scope reads one patient: the patient chosen at the standalone launch (interop/fhir/launch.py), the
token's context. A token that reads a type only through a ``patient/`` scope reads only that patient's compartment
(the Patient and the resources whose subject it is; views.py restricts reads and searches with
``compartment_patient``); without a context it reads nothing (403). A ``user/`` or ``system/`` scope for the type
reads as before, whatever else the token holds.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_safe
from oauth2_provider.models import AbstractApplication
from oauth2_provider.scopes import BaseScopes
from oauth2_provider.settings import oauth2_settings
from rest_framework.permissions import BasePermission

from core.oauth import token_scopes
from interop.fhir.launch import LAUNCH_PATIENT, token_patient_id
from interop.fhir.search import RESOURCE_TYPES

CONTEXTS = ("patient", "user", "system")
# Contexts that read any patient's data (the account's roles still apply); "patient" would be one patient's.
ANY_PATIENT_CONTEXTS = ("user", "system")
INTROSPECTION = "introspection"


def _wildcard(context: str) -> str:
    return f"{context}/*.read"


def all_scopes() -> dict[str, str]:
    """Every scope with its description: the settings' scopes, plus ``<context>/<type>.read`` for each served type
    of each context whose ``*.read`` scope the settings list."""
    configured: dict[str, str] = dict(oauth2_settings.SCOPES)
    scopes = dict(configured)
    for context in CONTEXTS:
        if _wildcard(context) in configured:
            for name in RESOURCE_TYPES:
                scopes[f"{context}/{name}.read"] = f"Read {name} resources ({context} access)"
    return scopes


def scopes_for(application: Any) -> list[str]:
    """The scopes an Application may be granted: system/ ones (and introspection) for client credentials,
    user/ and patient/ ones for the authorization-code flow."""
    scopes = list(all_scopes())
    if application is None:
        return scopes
    if application.authorization_grant_type == AbstractApplication.GRANT_CLIENT_CREDENTIALS:
        return [s for s in scopes if s.startswith("system/") or s == INTROSPECTION]
    return [s for s in scopes if s.startswith(("user/", "patient/")) or s == LAUNCH_PATIENT]


class SMARTScopes(BaseScopes):
    """DOT's scopes backend (``OAUTH2_PROVIDER["SCOPES_BACKEND_CLASS"]``)."""

    def get_all_scopes(self) -> dict[str, str]:
        return all_scopes()

    def get_available_scopes(self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any) -> Any:
        return scopes_for(application)

    def get_default_scopes(self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any) -> Any:
        # None unless the settings name some: a client asks for the scopes it needs (SMART requires it).
        available = set(scopes_for(application))
        return [s for s in oauth2_settings.DEFAULT_SCOPES if s in available]


def reads(scopes: frozenset[str], resource_type: str | None, contexts: tuple[str, ...] = ANY_PATIENT_CONTEXTS) -> bool:
    """Whether ``scopes`` read ``resource_type`` (None: any served type) in one of ``contexts``."""
    for scope in scopes:
        context, _, rest = scope.partition("/")
        name, _, permission = rest.rpartition(".")
        if context in contexts and permission == "read" and (name == "*" or resource_type in (None, name)):
            return True
    return False


class SMARTReadScope(BasePermission):
    """An OAuth2 access token must carry a scope that reads the requested type (API tokens and sessions have no
    scopes: their account's roles decide, as before)."""

    message = "This access token has no scope to read FHIR resources."

    def has_permission(self, request: Any, view: Any) -> bool:
        scopes = token_scopes(request.auth)
        if scopes is None:
            return True
        requested = view.kwargs.get("resource_type")
        resource_type = requested if requested in RESOURCE_TYPES else None
        if reads(scopes, resource_type):
            return True
        if reads(scopes, resource_type, contexts=("patient",)):
            if token_patient_id(request.auth) is not None:
                return True  # the view restricts it to the patient's compartment
            self.message = (
                "This access token has a patient/ scope but no patient: authorise the app again with "
                "launch/patient and choose the patient."
            )
        else:
            wanted = resource_type or "*"
            self.message = (
                f"This access token has no scope to read {wanted}: it needs user/{wanted}.read or "
                f"system/{wanted}.read (or user/*.read, system/*.read), or patient/{wanted}.read with a patient."
            )
        return False


def compartment_patient(request: Any, resource_type: str) -> int | None:
    """The patient whose compartment the request may read, or None when it may read every patient's (the
    account's roles decide): a token reading ``resource_type`` only through a ``patient/`` scope reads its launch
    patient's. SMARTReadScope has already refused such a token without a patient."""
    scopes = token_scopes(request.auth)
    if scopes is None or reads(scopes, resource_type):
        return None
    return token_patient_id(request.auth)


def supported_scopes() -> list[str]:
    """The SMART scopes that work here."""
    contexts = tuple(f"{c}/" for c in CONTEXTS)
    return [s for s in all_scopes() if s.startswith(contexts) or s == LAUNCH_PATIENT]


def configuration(request: HttpRequest) -> dict[str, Any]:
    """The SMART configuration (App Launch 2.x §"Conformance"): only what is true of this server."""
    return {
        "issuer": oauth2_settings.oauth2_authorization_server_issuer(request),
        "authorization_endpoint": request.build_absolute_uri(reverse("oauth2_provider:authorize")),
        "token_endpoint": request.build_absolute_uri(reverse("oauth2_provider:token")),
        "revocation_endpoint": request.build_absolute_uri(reverse("oauth2_provider:revoke-token")),
        "introspection_endpoint": request.build_absolute_uri(reverse("oauth2_provider:introspect")),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "scopes_supported": supported_scopes(),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": [
            "launch-standalone",
            "context-standalone-patient",
            "client-public",
            "client-confidential-symmetric",
            "permission-patient",
            "permission-user",
            "permission-v1",
        ],
    }


@login_not_required
@require_safe
def smart_configuration(request: HttpRequest) -> JsonResponse:
    """``GET /.well-known/smart-configuration`` (and the same under the FHIR base): public, as clients read it
    before they have a token."""
    return JsonResponse(configuration(request))
