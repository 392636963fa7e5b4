"""The three clinical roles (Django groups with exactly these names, api-v1 "Auth and roles")."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Role(StrEnum):
    NURSE = "nurse"
    HEMATOLOGIST = "hematologist"
    PHARMACIST = "pharmacist"


# Where each role lands after login: the page that answers its first question of the day.
ROLE_HOME_URL_NAMES = {
    Role.NURSE: "nurse-home",
    Role.HEMATOLOGIST: "hematologist-home",
    Role.PHARMACIST: "pharmacist-home",
}


def roles_of(user: Any) -> set[Role]:
    if not getattr(user, "is_authenticated", False):
        return set()
    cached = getattr(user, "_ivig_roles", None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        cached = {role for role in Role if role.value in names}
        user._ivig_roles = cached
    return cached


def has_role(user: Any, *roles: Role) -> bool:
    """Superusers may do all (api-v1); otherwise the user must hold one of ``roles``."""
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
