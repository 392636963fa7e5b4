"""What a locked-out sign-in is answered (django-axes' AXES_LOCKOUT_CALLABLE): one answer for the three doors."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

LOCKED_OUT_CODE = "locked_out"


def lockout_minutes() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)


def lockout_message() -> str:
    # One message whether the account exists or not, and whether the account or the source is locked: it must not
    # tell a guesser which usernames are real.
    return (
        "Too many failed sign-ins for this account or from this computer. Sign-in is locked for up to "
        f"{lockout_minutes()} minutes; hospital IT can unlock it sooner."
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """429 with Retry-After: JSON in the API's error shape under /api/, else the sign-in page's lockout notice.

    Retry-After is the whole cool-off: the lock began at the last counted failure, so it has ended by then.
    """
    retry_after = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": lockout_message(), "code": LOCKED_OUT_CODE}, status=429)
    else:
        response = render(
            request,
            "registration/locked_out.html",
            {"message": lockout_message(), "minutes": lockout_minutes()},
            status=429,
        )
    response["Retry-After"] = retry_after
    return response
