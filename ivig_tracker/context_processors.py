from __future__ import annotations

from typing import Any

from django.conf import settings

from ivig_tracker.roles import primary_role


def clinical_context(request: Any) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {
        "hospital_time_zone": settings.TIME_ZONE,
        "current_role": primary_role(user) if user is not None else None,
    }
