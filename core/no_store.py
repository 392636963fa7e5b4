"""``Cache-Control: no-store`` on every response that may carry patient data.

A page or an API answer about a patient must not stay in the browser's cache, a shared ward computer's disk, or a
proxy after the nurse signs out: the back button or the cache folder would show it to the next person. So every
response to a signed-in user, and every response of the API, FHIR and OAuth paths (whose callers authenticate with a
token the session middleware does not see), is marked never to be stored. Static files (served by WhiteNoise,
before this middleware) keep their long cache lifetimes: they hold no patient data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import add_never_cache_headers

# The paths whose callers may authenticate per request (bearer tokens, HL7 over HTTP, OAuth token exchange).
TOKEN_PATH_PREFIXES = ("/api/", "/fhir/", "/o/")


class NoStoreMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if carries_patient_data(request):
            add_never_cache_headers(response)
        return response


def carries_patient_data(request: Any) -> bool:
    path = request.path
    if path.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return False
    user = getattr(request, "user", None)
    return path.startswith(TOKEN_PATH_PREFIXES) or bool(user is not None and user.is_authenticated)
