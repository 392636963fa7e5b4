"""The project's URLs plus ``/bench/bare-insert/``: the floor a Django request that writes one row costs.

The bare view goes through the same middleware stack as the API (sessions, CSRF, auth, history, ...) but skips
DRF, token authentication, permission checks and the service layer, so the gap between the two is what the API
adds on top of "Django + one INSERT".
"""

from __future__ import annotations

from uuid import uuid4

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.models import Heartbeat
from ivig_tracker.urls import urlpatterns as project_urlpatterns


@csrf_exempt  # the load generator holds no CSRF cookie; the API's token path needs none either
@login_not_required  # PageLoginRequiredMiddleware would otherwise answer 302 to the login page
@require_POST
def bare_insert(request: HttpRequest) -> JsonResponse:
    # A unique name per row: Heartbeat.name is unique, and one INSERT (no upsert) is the point of comparison.
    beat = Heartbeat.objects.create(name=uuid4().hex, last_seen_at=timezone.now())
    return JsonResponse({"id": beat.pk}, status=201)


urlpatterns = [
    *project_urlpatterns,
    path("bench/bare-insert/", bare_insert, name="bench-bare-insert"),
]
