"""The three clinical roles (Django groups with exactly these names, docs/api.md "Auth and roles")."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    NURSE = "nurse"
    HEMATOLOGIST = "hematologist"
    PHARMACIST = "pharmacist"


# Not a clinical role: the Django group of interface accounts (a laboratory engine, an EHR integration), created by a
# data migration. IT adds such an account to it; its API tokens live IVIG_INTERFACE_TOKEN_HOURS instead of a shift.
INTERFACE_ACCOUNT_GROUP = "interface"


# Where each role lands after login: the page that answers its first question of the day.
ROLE_HOME_URL_NAMES = {
    Role.NURSE: "nurse-home",
    Role.HEMATOLOGIST: "hematologist-home",
    Role.PHARMACIST: "pharmacist-home",
}


@dataclass(frozen=True)
class Access:
    roles: frozenset[Role]
    permissions: frozenset[str]  # "app_label.codename", from the user's groups and own permissions
    interface_account: bool = False  # a member of INTERFACE_ACCOUNT_GROUP


def access_of(user: Any) -> Access:
    """The user's roles and permissions, read from the database once per request.

    Deliberately not cached across requests: a role withdrawn in the admin is refused by every web process on
    the very next request, and two indexed queries cost far less than a stale grant could.
    """
    if not getattr(user, "is_authenticated", False):
        return Access(frozenset(), frozenset())
    cached = getattr(user, "_ivig_access", None)
    if cached is None:
        cached = _load_access(user)
        user._ivig_access = cached  # the user object lives for one request
    return cached


def _load_access(user: Any) -> Access:
    from django.contrib.auth.models import Permission
    from django.db.models import Q

    group_names = set(user.groups.values_list("name", flat=True))
    rows = Permission.objects.filter(Q(group__user=user) | Q(user=user)).values_list(
        "content_type__app_label", "codename"
    )
    return Access(
        roles=frozenset(role for role in Role if role.value in group_names),
        permissions=frozenset(f"{app}.{codename}" for app, codename in rows),
        interface_account=INTERFACE_ACCOUNT_GROUP in group_names,
    )


def roles_of(user: Any) -> set[Role]:
    return set(access_of(user).roles)


def has_permission(user: Any, permission: str) -> bool:
    if getattr(user, "is_superuser", False) and user.is_active:
        return True
    return user.is_active and permission in access_of(user).permissions


def has_role(user: Any, *roles: Role) -> bool:
    """Superusers may do all (docs/api.md); otherwise the user must hold one of ``roles``."""
    if getattr(user, "is_superuser", False) and user.is_active:
        return True
    return bool(roles_of(user) & set(roles))


def is_clinical_staff(user: Any) -> bool:
    return has_role(user, *Role)


def primary_role(user: Any) -> Role | None:
    held = roles_of(user)
    for role in Role:  # a fixed order, so a user in two groups always lands on the same page
        if role in held:
            return role
    return None
