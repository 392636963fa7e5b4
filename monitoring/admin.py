from __future__ import annotations

from typing import Any

from django.contrib import admin

from core.admin_base import ClinicalRecordAdmin
from monitoring.models import Delivery, Notification, OrderResponse, PlateletCheck, PlateletResult


class ReadOnlyAdmin(ClinicalRecordAdmin):
    def get_readonly_fields(self, request: Any, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: Any) -> bool:
        return False


@admin.register(PlateletCheck)
class PlateletCheckAdmin(ReadOnlyAdmin):
    list_display = ["order", "label", "due_at", "status", "platelet_count", "category", "due_reminded_at"]
    list_filter = ["status", "label", "category"]
    search_fields = ["order__patient__mrn", "order__patient__family_name"]
    date_hierarchy = "due_at"


@admin.register(PlateletResult)
class PlateletResultAdmin(ReadOnlyAdmin):
    list_display = [
        "order",
        "platelet_check",
        "platelet_count",
        "collected_at",
        "bleeding",
        "category",
        "source",
        "preliminary",
        "superseded_by",
    ]
    list_filter = ["category", "source", "preliminary", "bleeding"]
    search_fields = ["order__patient__mrn"]


@admin.register(OrderResponse)
class OrderResponseAdmin(ReadOnlyAdmin):
    list_display = [
        "order",
        "category",
        "best_platelet_count",
        "repeat_dose_recommended",
        "repeat_decision",
        "assessed_at",
    ]
    list_filter = ["category", "repeat_dose_recommended", "repeat_decision"]
    search_fields = ["order__patient__mrn"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["recipient", "kind", "created_at", "read_at", "order"]
    list_filter = ["kind", "read_at"]
    search_fields = ["recipient__username", "message", "dedupe_key"]
    readonly_fields = ["recipient", "kind", "message", "order", "platelet_check", "dedupe_key", "created_at", "read_at"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["notification", "channel", "status", "attempts", "sent_at", "last_error"]
    list_filter = ["channel", "status"]
    search_fields = ["notification__recipient__username", "last_error"]
    readonly_fields = [
        "notification",
        "channel",
        "status",
        "attempts",
        "claimed_until",
        "sent_at",
        "last_error",
        "created_at",
    ]
