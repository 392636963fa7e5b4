"""Single sign-on through the hospital's OpenID Connect provider (mozilla-django-oidc), off unless configured.

Each sign-in creates or updates the local account and sets its clinical roles from the groups claim
(IVIG_OIDC_GROUP_ROLES): a role whose group is gone from the claim is removed, and a sign-in with no mapped group is
refused with a page that says so. Accounts are matched by the provider's issuer and subject (SingleSignOnIdentity),
never by e-mail, so a provider account can never take over a local account of the same name.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import Group
from django.core.exceptions import SuspiciousOperation
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from core.models import SingleSignOnIdentity
from core.roles import Role
from core.sign_in_rules import idp_did_mfa, roles_for_groups
from core.two_factor import IDP_MFA_SESSION_KEY, two_factor_exempt

logger = logging.getLogger("ivig.security")

# Why the last sign-in was refused, for the refusal page (the callback only redirects).
REFUSAL_SESSION_KEY = "ivig_sso_refusal"
NO_MAPPED_GROUP = (
    "Your hospital account signed in, but it is in none of the groups that give a role in IVIG Tracker. "
    "Ask hospital IT to add you to the right group (nurses, hematologists or pharmacists)."
)
USERNAME_TAKEN = (
    "A local IVIG Tracker account already has the username {username!r}, so your hospital account cannot use it. "
    "Ask hospital IT to rename or remove that local account."
)
PROVIDER_UNREACHABLE = (
    "The hospital sign-in service could not be reached or refused the sign-in. Try again in a moment, or sign in "
    "with your IVIG Tracker username and password if you have one."
)
UNVERIFIED_ANSWER = (
    "The hospital sign-in service's answer could not be checked (its signature, audience, issuer or expiry was "
    "wrong), so you are not signed in. Try again; if it keeps happening, tell hospital IT."
)
NO_IDENTITY = "The hospital sign-in service did not say who you are (no subject or username). Ask hospital IT."

# The provider endpoints a discovery document can give, by our setting's name.
_DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}
_DISCOVERY_CACHE_SECONDS = 3600
_discovery_cache: dict[str, tuple[float, dict[str, Any]]] = {}


def provider_metadata(url: str) -> dict[str, Any]:
    """The provider's discovery document, fetched when first needed and kept an hour (providers rotate rarely)."""
    cached = _discovery_cache.get(url)
    if cached and time.monotonic() - cached[0] < _DISCOVERY_CACHE_SECONDS:
        return cached[1]
    response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
    response.raise_for_status()
    metadata = dict(response.json())
    _discovery_cache[url] = (time.monotonic(), metadata)
    return metadata


def oidc_setting(attr: str, *args: Any) -> Any:
    """mozilla-django-oidc's settings, with each endpoint not set one by one taken from discovery."""
    if attr in _DISCOVERED and not getattr(settings, attr, "") and settings.OIDC_OP_DISCOVERY_ENDPOINT:
        metadata = provider_metadata(settings.OIDC_OP_DISCOVERY_ENDPOINT)
        value = metadata.get(_DISCOVERED[attr])
        if not value:
            raise requests.RequestException(f"the discovery document names no {_DISCOVERED[attr]}")
        return value
    return import_from_settings(attr, *args)


def expected_issuer() -> str:
    """The provider's issuer identifier: set, or from its discovery document."""
    if settings.OIDC_OP_ISSUER:
        return str(settings.OIDC_OP_ISSUER)
    if settings.OIDC_OP_DISCOVERY_ENDPOINT:
        return str(provider_metadata(settings.OIDC_OP_DISCOVERY_ENDPOINT).get("issuer") or "")
    return ""


def _refuse(request: HttpRequest, reason: str) -> None:
    request.session[REFUSAL_SESSION_KEY] = reason


class HospitalOIDCBackend(OIDCAuthenticationBackend):  # type: ignore[misc]
    """The hospital's accounts, their roles from the groups claim."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Django builds every backend for every password sign-in and every request of an SSO session: resolve the
        # provider's endpoints only when a sign-in through it happens, so a provider outage never blocks a
        # password sign-in nor a signed-in session.
        self.UserModel = get_user_model()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("OIDC_"):
            defaults = {"OIDC_RP_SIGN_ALGO": "RS256", "OIDC_RP_IDP_SIGN_KEY": None}
            return self.get_settings(name, defaults[name]) if name in defaults else self.get_settings(name)
        raise AttributeError(name)

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> Any:
        if request is None or "code" not in request.GET or not settings.IVIG_SSO_ENABLED:
            return None
        try:
            return super().authenticate(request, **kwargs)
        except requests.RequestException as exc:
            logger.warning("single sign-on failed talking to the provider: %s", exc)
            _refuse(request, PROVIDER_UNREACHABLE)
        except (SuspiciousOperation, jwt.PyJWTError) as exc:
            logger.warning("single sign-on refused an ID token: %s", exc)
            _refuse(request, UNVERIFIED_ANSWER)
        return None

    def get_payload_data(self, token: str, key: Any) -> dict[str, Any]:
        """The ID token's claims once its signature, algorithm, audience (our client id), issuer and expiry check out.

        mozilla-django-oidc checks the signature and nonce only; an ID token minted for another application of the
        same provider must not sign anyone in here.
        """
        algorithm = jwt.get_unverified_header(token).get("alg")
        if algorithm != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation(f"ID token signed with {algorithm!r}, expected {self.OIDC_RP_SIGN_ALGO!r}")
        return dict(
            jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=expected_issuer() or None,
                leeway=60,
                options={"require": ["exp", "iat", "iss", "sub", "aud"]},
            )
        )

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> dict[str, Any]:
        # Entra ID puts groups and amr in the ID token only, Keycloak and Okta may put them in either: the signed ID
        # token's claims count, the userinfo endpoint's add to them, and amr and the identity come from the ID token.
        userinfo = dict(super().get_userinfo(access_token, id_token, payload))
        claims = {**payload, **userinfo}
        for trusted in ("iss", "sub", "amr"):
            if trusted in payload:
                claims[trusted] = payload[trusted]
        return claims

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        assert self.request is not None
        if not claims.get("sub") or not claims.get("iss") or not self._username(claims):
            _refuse(self.request, NO_IDENTITY)
            return False
        if not self._roles(claims):
            logger.warning("single sign-on refused, no mapped group: sub=%s", claims.get("sub"))
            _refuse(self.request, NO_MAPPED_GROUP)
            return False
        return True

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:
        return self.UserModel.objects.filter(sso_identity__issuer=claims["iss"], sso_identity__subject=claims["sub"])

    def create_user(self, claims: dict[str, Any]) -> Any:
        username = self._username(claims)
        try:
            with transaction.atomic():
                user = self.UserModel.objects.create_user(username, email=claims.get("email") or "")
                SingleSignOnIdentity.objects.create(user=user, issuer=claims["iss"], subject=claims["sub"])
        except IntegrityError as exc:
            _refuse(self.request, USERNAME_TAKEN.format(username=username))
            raise SuspiciousOperation("username taken by another account") from exc
        logger.info("single sign-on created account: user=%s", user.pk)
        return self.update_user(user, claims)

    def update_user(self, user: Any, claims: dict[str, Any]) -> Any:
        """Names, e-mail and clinical roles as the provider says today."""
        with transaction.atomic():
            user.first_name = str(claims.get("given_name") or "")[:150]
            user.last_name = str(claims.get("family_name") or "")[:150]
            user.email = str(claims.get("email") or "")
            user.save(update_fields=["first_name", "last_name", "email"])
            granted = self._roles(claims)
            role_groups = {group.name: group for group in Group.objects.filter(name__in=[role.value for role in Role])}
            user.groups.remove(*[group for name, group in role_groups.items() if name not in granted])
            user.groups.add(*[role_groups[name] for name in granted if name in role_groups])
            SingleSignOnIdentity.objects.filter(user=user).update(last_login_at=timezone.now())
        # Read by the callback view to mark the session (the session is replaced by the sign-in).
        user.ivig_idp_mfa = settings.IVIG_OIDC_TRUST_IDP_MFA and idp_did_mfa(
            claims.get("amr"), settings.IVIG_OIDC_MFA_AMR_VALUES
        )
        return user

    def _roles(self, claims: dict[str, Any]) -> frozenset[str]:
        return roles_for_groups(claims.get(settings.IVIG_OIDC_GROUPS_CLAIM), settings.IVIG_OIDC_GROUP_ROLES)

    def _username(self, claims: dict[str, Any]) -> str:
        return str(claims.get(settings.IVIG_OIDC_USERNAME_CLAIM) or "").strip()[:150]


class HospitalAuthenticationRequestView(OIDCAuthenticationRequestView):  # type: ignore[misc]
    """Sends the browser to the hospital's sign-in page (404 when single sign-on is not configured)."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not settings.IVIG_SSO_ENABLED:
            raise Http404("Single sign-on is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = self.get_settings("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except requests.RequestException as exc:
            logger.warning("single sign-on discovery failed: %s", exc)
            _refuse(request, PROVIDER_UNREACHABLE)
            return HttpResponseRedirect(settings.LOGIN_REDIRECT_URL_FAILURE)
        self.OIDC_RP_CLIENT_ID = self.get_settings("OIDC_RP_CLIENT_ID")
        return super().get(request)  # type: ignore[no-any-return]


class HospitalCallbackView(OIDCAuthenticationCallbackView):  # type: ignore[misc]
    """Where the provider sends the browser back; marks the session when the provider's MFA is trusted."""

    get_settings = staticmethod(oidc_setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not settings.IVIG_SSO_ENABLED:
            raise Http404("Single sign-on is not configured.")
        return super().get(request)  # type: ignore[no-any-return]

    def login_success(self) -> HttpResponse:
        response = super().login_success()
        self.request.session.pop(REFUSAL_SESSION_KEY, None)
        if getattr(self.user, "ivig_idp_mfa", False):
            self.request.session[IDP_MFA_SESSION_KEY] = True
        return response  # type: ignore[no-any-return]


@login_not_required
@two_factor_exempt
def sso_refused(request: HttpRequest) -> HttpResponse:
    reason = request.session.pop(REFUSAL_SESSION_KEY, None) or PROVIDER_UNREACHABLE
    return render(request, "core/sso_refused.html", {"reason": reason}, status=403)
