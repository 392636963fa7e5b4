from __future__ import annotations

from django.contrib import admin

from core.models import Heartbeat


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin[Heartbeat]):
    list_display = ["name", "last_seen_at"]
    readonly_fields = ["name", "last_seen_at"]
