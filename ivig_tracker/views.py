from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize

from core import tokens
from core.roles import ROLE_HOME_URL_NAMES, primary_role


@login_required
def home(request: HttpRequest) -> HttpResponse:
    role = primary_role(request.user)
    if role is not None:
        return redirect(ROLE_HOME_URL_NAMES[role])
    if request.user.is_superuser:
        return redirect("hematologist-home")
    return render(request, "core/no_role.html", status=403)


@login_required
def account_tokens(request: HttpRequest) -> HttpResponse:
    """The signed-in user's API tokens: when each was issued and ends, and a button to end it now."""
    if request.method == "POST":
        if request.POST.get("all") == "1":
            ended = tokens.revoke_all_tokens(request.user.pk)
            messages.success(request, f"Ended {ended} API token{pluralize(ended)}.")
        elif tokens.revoke_token(request.user, request.POST.get("token_key", "")):
            messages.success(request, "API token ended: a client using it is refused from its next request.")
        else:
            messages.error(request, "That token was already ended or has expired.")
        return redirect("account-tokens")
    return render(request, "core/account_tokens.html", {"tokens": tokens.live_tokens(request.user)})
