"""Who must give a second factor, and what the hospital's sign-in service's groups and MFA claims mean here.

Pure: plain values in, plain values out, no Django, so the sign-in rules are tested with tables (SECURITY.md
"Two-factor authentication" and "Single sign-on").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

CLINICAL_ROLES = frozenset({"nurse", "hematologist", "pharmacist"})
# "admin" is not a Django group: it stands for a staff or superuser account (one that may open the admin).
ADMIN = "admin"
TWO_FACTOR_ROLE_CHOICES = CLINICAL_ROLES | {ADMIN}


class SignInConfigError(ValueError):
    """A malformed sign-in setting; the message says which part."""


def parse_two_factor_roles(items: Iterable[str]) -> frozenset[str]:
    """The roles whose accounts must use a second factor, e.g. ``["hematologist", "pharmacist", "admin"]``."""
    roles = frozenset(item.strip().lower() for item in items)
    unknown = sorted(roles - TWO_FACTOR_ROLE_CHOICES)
    if unknown:
        allowed = ", ".join(sorted(TWO_FACTOR_ROLE_CHOICES))
        raise SignInConfigError(f"unknown role(s) {', '.join(unknown)}; use some of {allowed}")
    return roles


def two_factor_required(
    *, roles: Iterable[str], is_staff: bool, is_superuser: bool, required_roles: frozenset[str]
) -> bool:
    """Whether this account must give a second factor after its password.

    An account holding any required role must, whatever else it holds (a pharmacist who is also a nurse uses the
    pharmacist's rights). Interface and service accounts hold permissions, not roles, and are never staff, so they
    are not asked: they authenticate with tokens or OAuth2 client credentials, never with a browser session.
    """
    if ADMIN in required_roles and (is_staff or is_superuser):
        return True
    return bool(set(roles) & required_roles)


def parse_group_roles(raw: str) -> dict[str, str]:
    """``"ivig-nurses=nurse,ivig-haem=hematologist"`` → ``{"ivig-nurses": "nurse", "ivig-haem": "hematologist"}``.

    A group names one role; several groups may give the same role. Group names are kept as the sign-in service
    sends them (Entra ID sends object ids, Okta and Keycloak names), compared exactly.
    """
    mapping: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            raise SignInConfigError("an empty item (write group=role pairs separated by commas)")
        group, separator, role = item.partition("=")
        group, role = group.strip(), role.strip().lower()
        if not separator or not group or not role:
            raise SignInConfigError(f"{item.strip()!r} is not group=role")
        if role not in CLINICAL_ROLES:
            raise SignInConfigError(f"{item.strip()!r} names no clinical role (nurse, hematologist or pharmacist)")
        if group in mapping and mapping[group] != role:
            raise SignInConfigError(f"group {group!r} is mapped to both {mapping[group]} and {role}")
        mapping[group] = role
    return mapping


def roles_for_groups(groups: object, group_roles: Mapping[str, str]) -> frozenset[str]:
    """The clinical roles the sign-in service's groups claim gives, ignoring groups that are not mapped.

    The claim is a list of strings; a single string (some services send one group so) counts as a list of one,
    and anything else gives no role.
    """
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list | tuple):
        return frozenset()
    return frozenset(group_roles[group] for group in groups if isinstance(group, str) and group in group_roles)


def idp_did_mfa(amr: object, accepted_methods: Iterable[str]) -> bool:
    """Whether the sign-in service says (RFC 8176 ``amr``) that this sign-in used multiple factors."""
    if isinstance(amr, str):
        amr = [amr]
    if not isinstance(amr, list | tuple):
        return False
    return bool({value for value in amr if isinstance(value, str)} & set(accepted_methods))
