"""API token authentication: DRF's token scheme, with the token and its user read by one pre-built statement.

Every API call checks its token against the database; nothing is cached, so a deleted token or a deactivated
account is refused on the very next request. What differs from ``rest_framework.authentication
.TokenAuthentication`` is only how the row is read: the ORM compiled ``Token.objects.select_related("user")``
afresh on every request, which cost about a millisecond of CPU, a sixth of a bedside vitals POST (issue #4,
``benchmarks/vitals_api.py``). The statement here is built once per process from the models' own metadata,
so a custom user model or a new column on it is followed without editing SQL.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token


@cache
def _token_user_statement(vendor: str) -> tuple[str, tuple[str, ...]]:
    """SELECT every concrete column of the user for a token key, and the field names in that order."""
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    user_model = get_user_model()
    user_fields = user_model._meta.concrete_fields
    token_user = Token._meta.get_field("user")
    columns = ", ".join(f"u.{quote(field.column)}" for field in user_fields)
    join = f"u.{quote(user_model._meta.pk.column)} = t.{quote(token_user.column)}"
    sql = (
        f"SELECT {columns} FROM {quote(Token._meta.db_table)} t JOIN {quote(user_model._meta.db_table)} u ON {join} "
        f"WHERE t.{quote(Token._meta.pk.column)} = %s"
    )
    return sql, tuple(field.attname for field in user_fields)


def user_for_token(key: str) -> Any | None:
    """The user holding this API token, as a complete model instance, or None."""
    connection = connections[DEFAULT_DB_ALIAS]
    sql, field_names = _token_user_statement(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [key])
        row = cursor.fetchone()
    if row is None:
        return None
    return get_user_model().from_db(DEFAULT_DB_ALIAS, list(field_names), row)


class TokenAuthentication(authentication.TokenAuthentication):
    """``Authorization: Token <key>``, with DRF's answers: 401 "Invalid token." or "User inactive or deleted."."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        user = user_for_token(key)
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, Token(key=key, user=user)
