from __future__ import annotations

from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpResponseBadRequest


class PageLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Every page needs a login; the API and FHIR paths answer 401 themselves instead of redirecting."""

    unredirected_prefixes = ("/api/", "/fhir/")

    def process_view(self, request: Any, view_func: Any, view_args: Any, view_kwargs: Any) -> Any:
        if request.path.startswith(self.unredirected_prefixes):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class RefuseNulCharactersMiddleware:
    """A page's form posted with a NUL character is refused with 400 before any view reads it.

    No clinical text holds one (no keyboard types it), PostgreSQL cannot store it in a text column, and a view
    reading a field straight from the POST would otherwise fail with a 500 half-way through. The API and FHIR paths
    are left to their parsers and serializers, which refuse it field by field, and OAuth2 to its own."""

    unchecked_prefixes = ("/api/", "/fhir/", "/o/")  # the OAuth2 endpoints read the raw body themselves
    message = "A field held a NUL character, which no clinical text contains: nothing was recorded. Type it again."

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        if request.method == "POST" and not request.path.startswith(self.unchecked_prefixes):
            values = [value for _, values in request.POST.lists() for value in values]
            values += [key for key in request.POST]
            if any("\x00" in value for value in values):
                return HttpResponseBadRequest(self.message, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
