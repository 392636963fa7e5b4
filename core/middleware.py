from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest
from django.http.response import HttpResponseBase


class PageLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Every page needs a login; the API and FHIR paths answer 401 themselves instead of redirecting."""

    unredirected_prefixes = ("/api/", "/fhir/")

    def process_view(self, request: Any, view_func: Any, view_args: Any, view_kwargs: Any) -> Any:
        if request.path.startswith(self.unredirected_prefixes):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


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
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False  # a Unix socket or no address at all: nothing vouches for the headers
    return any(address in network for network in settings.TRUSTED_PROXY_NETWORKS)
