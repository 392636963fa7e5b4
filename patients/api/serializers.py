from __future__ import annotations

from typing import Any

from rest_framework import serializers

from patients.models import Patient
from patients.validators import MAX_WEIGHT_KG, MIN_WEIGHT_KG, validate_weight_kg


class PatientSerializer(serializers.ModelSerializer[Patient]):
    """Shape and types only; the service validates and saves (docs/architecture.md, habit 3)."""

    weight_kg = serializers.DecimalField(
        max_digits=5,
        decimal_places=1,
        min_value=MIN_WEIGHT_KG,
        max_value=MAX_WEIGHT_KG,
        required=False,
        allow_null=True,
        validators=[validate_weight_kg],
        help_text="The current weight. Writing it records a new weighing; earlier ones stay in the history.",
    )
    weight_measured_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="When the weight was measured (defaults to now)."
    )
    iga_deficient = serializers.BooleanField(read_only=True, allow_null=True)
    age_years = serializers.IntegerField(read_only=True)

    class Meta:
        model = Patient
        fields = [
            "id",
            "mrn",
            "given_name",
            "family_name",
            "birth_date",
            "sex",
            "height_cm",
            "weight_kg",
            "weight_measured_at",
            "serum_iga_mg_dl",
            "iga_measured_on",
            "iga_deficient",
            "cardiac_dysfunction",
            "renal_impairment",
            "pregnant",
            "thrombosis_risk",
            "thrombosis_risk_details",
            "allergies",
            "previous_infusion_reactions",
            "age_years",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def to_representation(self, instance: Patient) -> dict[str, Any]:
        data = super().to_representation(instance)
        current = instance.current_weight
        data["weight_kg"] = float(current.weight_kg) if current else None
        data["weight_measured_at"] = (
            serializers.DateTimeField().to_representation(current.measured_at) if current else None
        )
        return data
