"""``/healthz``: 200 when the database and the broker answer, 503 naming what does not. ``/livez``: 200 while the
process answers at all, for a cluster's liveness probe (deploy/k8s/web.yaml)."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from celery import current_app as celery_app
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.models import Heartbeat

# Heartbeats that must be fresh, with how stale they may grow; other apps register theirs here.
REQUIRED_HEARTBEATS: dict[str, timedelta] = {}


def check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down", and /healthz must never 500
        return f"database: {exc.__class__.__name__}: {exc}".strip()
    return None


def check_broker() -> str | None:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=settings.HEALTH_BROKER_TIMEOUT_SECONDS)
            client = getattr(conn.default_channel, "client", None)
            if client is not None and hasattr(client, "ping"):
                # kombu connects lazily; a PING proves Redis answers now, not when the pool was filled.
                client.ping()
            folder = conn.transport_options.get("data_folder_in")
            if folder and not os.access(folder, os.W_OK):
                return f"broker: folder {folder} is not writable"
    except Exception as exc:  # any transport error means "down", and /healthz must never 500
        return f"broker: {exc.__class__.__name__}: {exc}".strip()
    return None


def check_heartbeats(now: Any) -> list[str]:
    problems: list[str] = []
    if not REQUIRED_HEARTBEATS:
        return problems
    seen = dict(Heartbeat.objects.filter(name__in=REQUIRED_HEARTBEATS).values_list("name", "last_seen_at"))
    for name, max_age in REQUIRED_HEARTBEATS.items():
        last = seen.get(name)
        if last is None:
            problems.append(f"{name}: has never run")
        elif now - last > max_age:
            minutes = int((now - last).total_seconds() // 60)
            problems.append(f"{name}: last ran {minutes} min ago")
    return problems


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    problems = [p for p in (check_database(), check_broker()) if p]
    if not any(p.startswith("database") for p in problems):
        problems.extend(check_heartbeats(timezone.now()))
    body = {"status": "ok" if not problems else "unavailable", "problems": problems}
    return JsonResponse(body, status=200 if not problems else 503)


@login_not_required
@never_cache
@require_GET
def livez(request: HttpRequest) -> JsonResponse:
    # Touches neither the database nor the broker: restarting pods cannot mend either, and a liveness probe that
    # failed with them would restart every web pod at once during a database outage.
    return JsonResponse({"status": "alive"})
