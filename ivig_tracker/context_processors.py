from __future__ import annotations

from typing import Any

from django.conf import settings

from core.roles import primary_role
from core.two_factor import must_use_two_factor


def clinical_context(request: Any) -> dict[str, Any]:
    from monitoring.selectors import unread_count

    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    return {
        "hospital_time_zone": settings.TIME_ZONE,
        "current_role": primary_role(user) if user is not None else None,
        "unread_notifications": unread_count(user) if signed_in else 0,
        "sso_enabled": settings.IVIG_SSO_ENABLED,
        "two_factor_in_use": signed_in and must_use_two_factor(user),
    }
