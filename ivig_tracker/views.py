from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from core.roles import ROLE_HOME_URL_NAMES, primary_role


@login_required
def home(request: HttpRequest) -> HttpResponse:
    role = primary_role(request.user)
    if role is not None:
        return redirect(ROLE_HOME_URL_NAMES[role])
    if request.user.is_superuser:
        return redirect("hematologist-home")
    return render(request, "core/no_role.html", status=403)
