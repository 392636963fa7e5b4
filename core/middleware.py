from __future__ import annotations

import logging
import time
from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware

from core.metrics import REQUEST_LATENCY, status_class
from core.request_context import accepted_request_id, request_id_var

request_logger = logging.getLogger("ivig.request")


class PageLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Every page needs a login; the API and FHIR paths answer 401 themselves instead of redirecting."""

    unredirected_prefixes = ("/api/", "/fhir/")

    def process_view(self, request: Any, view_func: Any, view_args: Any, view_kwargs: Any) -> Any:
        if request.path.startswith(self.unredirected_prefixes):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class RequestLogMiddleware:
    """One log line per request (its id, view, method, status, duration, user id) and the latency histogram.

    The request id comes from the proxy's ``X-Request-ID`` when it is well formed, else a new one; it is answered in
    the response's ``X-Request-ID`` and carried into the Celery tasks the request enqueues (``ivig_tracker.celery``).
    The line names the URL pattern, not the path: a query string may hold an MRN typed into a search box.
    """

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        request_id = accepted_request_id(request.headers.get("X-Request-ID"))
        # Not reset on the way out: Django logs a failed request's error after the middleware has returned, and
        # that line must carry the id too. The next request on this thread sets its own.
        request_id_var.set(request_id)
        started = time.perf_counter()
        response = self.get_response(request)
        duration = time.perf_counter() - started
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or match._func_path) if match else "unresolved"
        route = match.route if match else ""
        REQUEST_LATENCY.labels(view=view, method=request.method, status=status_class(response.status_code)).observe(
            duration
        )
        user = getattr(request, "user", None)
        request_logger.info(
            "%s %s %s %.1f ms",
            request.method,
            view,
            response.status_code,
            duration * 1000,
            extra={
                "method": request.method,
                "route": route,
                "view": view,
                "status": response.status_code,
                "duration_ms": round(duration * 1000, 1),
                "user_id": user.pk if user is not None and user.is_authenticated else None,
            },
        )
        response["X-Request-ID"] = request_id
        return response
