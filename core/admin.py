from __future__ import annotations

from typing import Any

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from core.admin_base import ClinicalRecordAdmin
from core.models import Heartbeat, StaffUnits, Unit


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin[Heartbeat]):
    list_display = ["name", "last_seen_at"]
    readonly_fields = ["name", "last_seen_at"]


@admin.register(Unit)
class UnitAdmin(ClinicalRecordAdmin):
    """Wards, day units and clinics. Never deleted (records point at them): a unit that closes is made inactive."""

    list_display = ["name", "kind", "site", "active"]
    list_filter = ["active", "kind", "site"]
    search_fields = ["name", "site"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(StaffUnits)
class StaffUnitsAdmin(SimpleHistoryAdmin):  # type: ignore[misc]  # simple_history ships no type hints
    """The units each member of staff works in: the worklist and the hematologist's review open on them."""

    list_display = ["user", "units"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    autocomplete_fields = ["user"]
    filter_horizontal = ["default_units"]
    readonly_fields = ["updated_at"]

    def get_queryset(self, request: Any) -> Any:
        return super().get_queryset(request).select_related("user").prefetch_related("default_units")

    @admin.display(description="default units")
    def units(self, obj: StaffUnits) -> str:
        return ", ".join(unit.name for unit in obj.default_units.all()) or "none (sees every unit)"
