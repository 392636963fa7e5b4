from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError

from core.admin_base import ClinicalRecordAdmin
from core.errors import Conflict
from infusions import services
from infusions.models import (
    FluidEntry,
    Infusion,
    Order,
    Product,
    RateSegment,
    Reaction,
    SafetyRecord,
    VialLot,
    VitalSignsEntry,
)
from infusions.services.catalogue import checked_value

# The product's numbers the site-values page also records: the admin reads them with the same rules.
CHECKED_NUMBERS = (
    "vial_sizes_g",
    "initial_rate_mg_per_kg_min",
    "itp_max_rate_mg_per_kg_min",
    "step_up_interval_min",
    "itp_min_age_years",
)


class ProductAdminForm(forms.ModelForm):
    """A vial size, a rate or an interval typed here is refused as the catalogue page refuses it (a negative vial
    size, a rate of 0); an empty one stays unknown (docs/clinical-rules.md §A4: never guessed)."""

    class Meta:
        model = Product
        # site_values and gtins are written only by their services, with the source.
        fields = [
            field.name
            for field in Product._meta.fields
            if field.editable and field.name not in {"id", "site_values", "gtins"}
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in CHECKED_NUMBERS:
            value = cleaned.get(name)
            if value in (None, "", []):
                continue
            try:
                cleaned[name] = checked_value(name, value)
            except ValidationError as exc:
                self.add_error(name, exc.error_dict[name])
        for name in ("at_risk_max_rate_mg_per_kg_min", "concentration_percent", "initial_rate_duration_min"):
            value = cleaned.get(name)
            if value is not None and value <= 0:
                self.add_error(name, "Enter a number above 0, or leave it empty while it is unknown.")
        concentration = cleaned.get("concentration_percent")
        if concentration is not None and concentration > 100:
            self.add_error("concentration_percent", "A concentration is at most 100 %.")
        return cleaned


@admin.register(Product)
class ProductAdmin(ClinicalRecordAdmin):
    """Pharmacy keeps the catalogue here; every edit is kept in the history."""

    form = ProductAdminForm

    list_display = [
        "name",
        "manufacturer",
        "concentration_percent",
        "vial_sizes_g",
        "iga_depleted",
        "itp_indication",
        "on_formulary",
        "discontinued",
    ]
    list_filter = ["iga_depleted", "itp_indication", "on_formulary", "discontinued"]
    search_fields = ["name", "manufacturer"]
    # Where each site-entered value came from: written only by services.record_site_values (the catalogue page and
    # the API), which also refuses to replace a label value.
    readonly_fields = ["site_values", "gtins"]  # GTINs: services.record_gtins, with their source


class InfusionInline(admin.TabularInline):
    model = Infusion
    fields = ["day_number", "scheduled_for", "status", "dose_g", "started_at", "completed_at", "stop_reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


def _run_transition(modeladmin: admin.ModelAdmin, request: Any, queryset: Any, label: str, transition: Any) -> None:
    for order in queryset:
        try:
            transition(order_id=order.pk, user=request.user)
        except (Conflict, PermissionDenied, ValidationError) as exc:
            modeladmin.message_user(request, f"Order #{order.pk}: {exc}", level=messages.ERROR)
        else:
            modeladmin.message_user(request, f"Order #{order.pk}: {label}.")


@admin.register(Order)
class OrderAdmin(ClinicalRecordAdmin):
    """Orders change only through their services (the actions below); the computed working is read-only."""

    list_display = [
        "pk",
        "patient",
        "regimen",
        "product",
        "rounded_dose_per_day_g",
        "days",
        "status",
        "emergency",
        "created_by",
        "verified_by",
        "created_at",
    ]
    list_filter = ["unit", "status", "regimen", "emergency", "product"]
    search_fields = ["patient__mrn", "patient__family_name"]
    date_hierarchy = "created_at"
    inlines = [InfusionInline]
    actions = ["verify_selected", "recalculate_selected"]

    def get_readonly_fields(self, request: Any, obj: Any = None) -> list[str]:
        return [field.name for field in Order._meta.fields]

    def has_add_permission(self, request: Any) -> bool:
        return False  # orders are made on the order page or through the API, where the dose is worked out

    @admin.action(description="Verify the selected orders")
    def verify_selected(self, request: Any, queryset: Any) -> None:
        _run_transition(self, request, queryset, "verified", services.verify_order)

    @admin.action(description="Recalculate the selected draft orders")
    def recalculate_selected(self, request: Any, queryset: Any) -> None:
        _run_transition(self, request, queryset, "recalculated", services.recalculate_order)


@admin.register(Infusion)
class InfusionAdmin(ClinicalRecordAdmin):
    list_display = ["pk", "order", "day_number", "scheduled_for", "status", "dose_g", "started_at", "completed_at"]
    list_filter = ["unit", "status", "scheduled_for"]
    search_fields = ["order__patient__mrn", "order__patient__family_name"]

    def get_readonly_fields(self, request: Any, obj: Any = None) -> list[str]:
        return [field.name for field in Infusion._meta.fields]

    def has_add_permission(self, request: Any) -> bool:
        return False


class ReadOnlyClinicalAdmin(ClinicalRecordAdmin):
    """Bedside records are written at the bedside (through the services); the admin shows them and their history."""

    def get_readonly_fields(self, request: Any, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: Any) -> bool:
        return False


@admin.register(RateSegment)
class RateSegmentAdmin(ReadOnlyClinicalAdmin):
    list_display = ["infusion", "rate_ml_per_h", "reason", "started_at", "ended_at", "recorded_by"]
    list_filter = ["reason"]
    search_fields = ["infusion__order__patient__mrn"]


@admin.register(VitalSignsEntry)
class VitalSignsEntryAdmin(ReadOnlyClinicalAdmin):
    list_display = [
        "infusion",
        "taken_at",
        "temperature_c",
        "heart_rate_bpm",
        "systolic_bp_mmhg",
        "spo2_percent",
        "highest_severity",
        "recorded_by",
    ]
    list_filter = ["highest_severity", "taken_at"]
    search_fields = ["infusion__order__patient__mrn"]


@admin.register(Reaction)
class ReactionAdmin(ReadOnlyClinicalAdmin):
    list_display = ["infusion", "reaction", "ctcae_grade", "noted_at", "stopped_infusion", "recorded_by"]
    list_filter = ["reaction", "ctcae_grade", "stopped_infusion"]
    search_fields = ["infusion__order__patient__mrn", "action_taken"]


@admin.register(FluidEntry)
class FluidEntryAdmin(ReadOnlyClinicalAdmin):
    """The bedside fluid balance's entries (docs/clinical-rules.md §A13 "Fluid"): append-only, shown with history."""

    list_display = ["infusion", "recorded_at", "kind", "volume_ml", "description", "entered_by"]
    list_filter = ["kind"]
    search_fields = ["infusion__order__patient__mrn", "description"]


@admin.register(VialLot)
class VialLotAdmin(ReadOnlyClinicalAdmin):
    list_display = ["lot_number", "expiry_date", "vial_size_g", "infusion", "created_at"]
    search_fields = ["lot_number", "infusion__order__patient__mrn"]
    list_filter = ["expiry_date"]


@admin.register(SafetyRecord)
class SafetyRecordAdmin(ReadOnlyClinicalAdmin):
    """Overrides, warnings and documented deviations, as the services stored them (docs/clinical-rules.md §A8)."""

    list_display = ["at", "order", "infusion", "code", "kind", "stage", "reason", "recorded_by", "role"]
    list_filter = ["kind", "code", "stage"]
    search_fields = ["order__patient__mrn", "code", "reason"]
    date_hierarchy = "at"
    list_select_related = ["order__patient", "order__product", "infusion", "recorded_by"]
