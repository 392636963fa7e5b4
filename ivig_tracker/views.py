from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from ivig_tracker.roles import ROLE_HOME_URL_NAMES, Role, has_role, primary_role


@login_required
def home(request: HttpRequest) -> HttpResponse:
    role = primary_role(request.user)
    if role is not None:
        return redirect(ROLE_HOME_URL_NAMES[role])
    if request.user.is_superuser:
        return redirect("hematologist-home")
    return render(request, "core/no_role.html", status=403)


def _role_page(request: HttpRequest, role: Role, template: str) -> HttpResponse:
    if not has_role(request.user, role):
        return render(request, "core/no_role.html", status=403)
    return render(request, template, {"role": role})


@login_required
def hematologist_home(request: HttpRequest) -> HttpResponse:
    return _role_page(request, Role.HEMATOLOGIST, "core/hematologist_home.html")
