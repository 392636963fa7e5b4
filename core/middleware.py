from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse

from core.client_ip import address_in
from core.metrics import REQUEST_LATENCY, status_class
from core.request_context import accepted_request_id, request_id_var
from core.two_factor import has_authenticator, second_factor_pending

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


# What a reverse proxy says about the request it forwards. Django believes X-Forwarded-Proto (SECURE_PROXY_SSL_HEADER)
# from whoever sends it; a client that reaches the application directly could claim HTTPS or another address.
FORWARDED_HEADERS = (
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_REAL_IP",
    "HTTP_FORWARDED",
)


class ForwardedHeadersFromTrustedProxies:
    """Drops the forwarded headers of a request that did not come from a trusted proxy (settings.TRUSTED_PROXIES),
    before anything reads them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not from_trusted_proxy(request.META.get("REMOTE_ADDR", "")):
            for header in FORWARDED_HEADERS:
                request.META.pop(header, None)
        return self.get_response(request)


def from_trusted_proxy(remote_addr: str) -> bool:
    # A Unix socket or no address at all is not in any network: nothing vouches for the headers.
    return address_in(remote_addr, settings.TRUSTED_PROXY_NETWORKS)


class TwoFactorRequiredMiddleware:
    """Until a signed-in account that must use two-factor authentication has given its second factor, every page
    and the admin send it to the 2FA step (set-up when it has no authenticator yet), and the API refuses its session.

    Runs after django-otp's OTPMiddleware (request.user.is_verified). API token and OAuth2 requests are not seen
    here as signed in (DRF authenticates them in the view): the token endpoint asks for the code itself.
    """

    api_prefixes = ("/api/", "/fhir/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any) -> Any:
        if getattr(view_func, "two_factor_exempt", False) or not request.user.is_authenticated:
            return None
        if not second_factor_pending(request):
            return None
        if request.path.startswith(self.api_prefixes):
            return JsonResponse(
                {"detail": "This session has not given its two-factor code yet: finish signing in in the browser."},
                status=403,
            )
        step = "two-factor-verify" if has_authenticator(request.user) else "two-factor-setup"
        return redirect(f"{reverse(step)}?{urlencode({'next': request.get_full_path()})}")
