"""API tokens that end (django-rest-knox, stored as SHA-512 digests): issue, list and revoke.

Every way a token is made or ended goes through here: the token endpoint, the account page, the API, the admin, the
issue_api_token command and the receivers that end a user's tokens when the password changes or the account is
deactivated.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone
from knox.models import AuthToken

from core.roles import access_of


def is_interface_account(user: Any) -> bool:
    return access_of(user).interface_account


def token_lifetime(user: Any) -> timedelta:
    """One clinical shift for people; longer for interface accounts, which have nobody to sign in again."""
    hours = settings.IVIG_INTERFACE_TOKEN_HOURS if is_interface_account(user) else settings.IVIG_API_TOKEN_HOURS
    return timedelta(hours=hours)


def issue_token(user: Any) -> tuple[AuthToken, str]:
    """A new token for ``user`` and its secret, which is shown this once: only its digest is stored."""
    if not user.is_active:
        raise ValidationError("This account is deactivated: it may not have an API token.")
    instance, secret = AuthToken.objects.create(user=user, expiry=token_lifetime(user))
    return instance, secret


def live_tokens(user: Any) -> QuerySet[Any]:
    """The user's tokens that still authenticate, newest first."""
    rows: QuerySet[Any] = AuthToken.objects.filter(user=user, expiry__gt=timezone.now()).order_by("-created")
    return rows


def revoke_token(user: Any, token_key: str) -> int:
    """End one of the user's own tokens, named by its public key (the first characters of the token)."""
    deleted, _ = AuthToken.objects.filter(user=user, token_key=token_key).delete()
    return int(deleted)


def revoke_all_tokens(user_id: int) -> int:
    deleted, _ = AuthToken.objects.filter(user_id=user_id).delete()
    return int(deleted)


def delete_expired_tokens(*, older_than: timedelta) -> int:
    """Housekeeping: tokens expired for longer than ``older_than`` (an expired one is refused either way)."""
    deleted, _ = AuthToken.objects.filter(expiry__lt=timezone.now() - older_than).delete()
    return int(deleted)
