from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from core.admin_base import ClinicalRecordAdmin
from patients import services
from patients.models import Patient, ReportedIvigReaction, WeightMeasurement


class WeightInline(admin.TabularInline):
    model = WeightMeasurement
    fields = ["measured_at", "weight_kg", "recorded_by", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False  # weighings are added through the patient form so the history keeps who and when


class PatientAdminForm(forms.ModelForm):
    """The admin has no reason field: a height that trips a body-size stop (§A9) is refused here and recorded on the
    patient page, where the reason is asked and kept."""

    class Meta:
        model = Patient
        fields = list(services.PATIENT_FIELDS)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        height = cleaned.get("height_cm")
        if self.instance.pk is not None and "height_cm" in self.changed_data and height is not None:
            self.instance.height_cm = height
            for stop in services.body_size_stops(self.instance, None, height_sent=True, previous=None):
                self.add_error("height_cm", f"{stop.message} Record this height on the patient page, with a reason.")
        return cleaned


@admin.register(Patient)
class PatientAdmin(ClinicalRecordAdmin):
    form = PatientAdminForm
    list_display = [
        "mrn",
        "family_name",
        "given_name",
        "birth_date",
        "sex",
        "serum_iga_mg_dl",
        "cardiac_dysfunction",
        "renal_impairment",
        "pregnant",
        "updated_at",
    ]
    search_fields = ["mrn", "family_name", "given_name"]
    list_filter = ["unit", "sex", "cardiac_dysfunction", "renal_impairment", "pregnant", "thrombosis_risk"]
    inlines = [WeightInline]
    readonly_fields = ["created_at", "updated_at", "height_confirmation_reason"]

    def save_model(self, request: Any, obj: Patient, form: Any, change: bool) -> None:
        data = {field: getattr(obj, field) for field in services.PATIENT_FIELDS}
        if change:
            saved = services.update_patient(patient_id=obj.pk, data=data, user=request.user)
        else:
            saved = services.create_patient(data=data, user=request.user)
        obj.pk = saved.pk


@admin.register(WeightMeasurement)
class WeightMeasurementAdmin(ClinicalRecordAdmin):
    list_display = ["patient", "weight_kg", "measured_at", "recorded_by"]
    search_fields = ["patient__mrn", "patient__family_name"]
    list_filter = ["measured_at"]
    readonly_fields = ["patient", "weight_kg", "measured_at", "recorded_by", "created_at"]

    def has_add_permission(self, request: Any) -> bool:
        return False


@admin.register(ReportedIvigReaction)
class ReportedIvigReactionAdmin(ClinicalRecordAdmin):
    """Reactions to IVIG given elsewhere, as reported. Added on the patient page or through the API (the service
    checks them); the admin lists them with their history."""

    list_display = ["patient", "occurred_on", "product", "ctcae_grade", "anaphylaxis", "where", "recorded_by"]
    list_filter = ["anaphylaxis", "ctcae_grade", "occurred_on"]
    search_fields = ["patient__mrn", "patient__family_name", "product", "where"]

    def get_readonly_fields(self, request: Any, obj: Any = None) -> list[str]:
        return [field.name for field in ReportedIvigReaction._meta.fields]

    def has_add_permission(self, request: Any) -> bool:
        return False
