"""API permissions: every role may read; writes need the Django permission the role's group holds."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from core.roles import has_permission, is_clinical_staff


class IsClinicalStaff(BasePermission):
    """Signed in and holding a clinical role (or superuser). Anonymous requests get 401 from DRF."""

    message = "Your account has no clinical role (nurse, hematologist or pharmacist)."

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and is_clinical_staff(request.user))


class HasActionPermission(IsClinicalStaff):
    """Checks ``view.action_permissions[action]`` (a Django permission string) for write actions.

    The permissions are granted to the role groups by data migrations (docs/api.md "Who may do what"), so hospital
    IT can see and adjust them in the admin.
    """

    message = "Your role may not do this."

    def has_permission(self, request: Any, view: Any) -> bool:
        if not super().has_permission(request, view):
            return False
        required = getattr(view, "action_permissions", {}).get(getattr(view, "action", None))
        return required is None or has_permission(request.user, required)
