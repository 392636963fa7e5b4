from __future__ import annotations

from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware


class PageLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Every page needs a login; the API and FHIR paths answer 401 themselves instead of redirecting."""

    unredirected_prefixes = ("/api/", "/fhir/")

    def process_view(self, request: Any, view_func: Any, view_args: Any, view_kwargs: Any) -> Any:
        if request.path.startswith(self.unredirected_prefixes):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
