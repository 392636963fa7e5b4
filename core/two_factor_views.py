"""The two-factor pages: set up an authenticator app, give a code after the password, replace recovery codes."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_static.models import StaticDevice

from core import two_factor
from core.forms import apply_validation_error


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        strip=True,
        error_messages={"required": "Enter the 6-digit code your authenticator app shows."},
    )


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url("home")


def _render(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    context = {"two_factor_step": True, "next": _next_url(request), **context}
    return render(request, f"core/{template}", context, status=status)


@two_factor.two_factor_exempt
@require_http_methods(["GET", "POST"])
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Scan the QR code, type the code it shows; then the ten recovery codes, shown this once."""
    user: Any = request.user
    if not two_factor.must_use_two_factor(user):
        return redirect(_next_url(request))
    if two_factor.has_authenticator(user):
        # Already set up: a lost phone is reset by IT in the admin, never replaced from a half-signed-in session.
        return redirect(f"{resolve_url('two-factor-verify')}?{urlencode({'next': _next_url(request)})}")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device, codes = two_factor.confirm_enrolment(user, form.cleaned_data["code"])
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            two_factor.mark_session_verified(request, device)
            return _render(request, "two_factor_recovery_codes.html", {"codes": codes, "first_time": True})
    device = two_factor.start_enrolment(user)
    context = {
        "form": form,
        "qr_svg": two_factor.qr_code_svg(device),
        "secret": two_factor.secret_for_typing(device),
    }
    return _render(request, "two_factor_setup.html", context, status=400 if form.errors else 200)


@two_factor.two_factor_exempt
@require_http_methods(["GET", "POST"])
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """After the password: the code from the authenticator app, or one recovery code."""
    user: Any = request.user
    if not two_factor.second_factor_pending(request):
        return redirect(_next_url(request))
    if not two_factor.has_authenticator(user):
        return redirect(f"{resolve_url('two-factor-setup')}?{urlencode({'next': _next_url(request)})}")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = two_factor.verify_second_factor(user, form.cleaned_data["code"])
        if device is not None:
            two_factor.mark_session_verified(request, device)
            if isinstance(device, StaticDevice):
                left = two_factor.unused_recovery_code_count(user)
                messages.warning(
                    request,
                    f"You signed in with a recovery code; it will not work again. {left} recovery code(s) left: "
                    "replace them from “Two-factor recovery codes” if you are running out.",
                )
            return redirect(_next_url(request))
        form.add_error("code", two_factor.WRONG_CODE_MESSAGE)
    return _render(request, "two_factor_verify.html", {"form": form}, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """How many recovery codes are left, and a fresh set on request (the old ones stop working)."""
    user: Any = request.user
    if not two_factor.has_authenticator(user):
        return redirect("home")
    if request.method == "POST":
        codes = two_factor.replace_recovery_codes(user)
        return _render(request, "two_factor_recovery_codes.html", {"codes": codes, "first_time": False})
    return _render(
        request,
        "two_factor_recovery_status.html",
        {"left": two_factor.unused_recovery_code_count(user), "two_factor_step": False},
    )
