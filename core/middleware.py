from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

from core.two_factor import has_authenticator, second_factor_pending


class PageLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Every page needs a login; the API and FHIR paths answer 401 themselves instead of redirecting."""

    unredirected_prefixes = ("/api/", "/fhir/")

    def process_view(self, request: Any, view_func: Any, view_args: Any, view_kwargs: Any) -> Any:
        if request.path.startswith(self.unredirected_prefixes):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


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
