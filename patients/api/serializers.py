from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.units import UnitField
from core.stops import OVERRIDE_REASON_MAX_LENGTH
from patients import selectors
from patients.models import Patient, WeightMeasurement
from patients.rules import IMPLAUSIBLE_BODY_SIZE
from patients.validators import MAX_WEIGHT_KG, MIN_WEIGHT_KG, validate_weight_kg

IVIG_REACTION_KEYS = ("date", "product", "ctcae_grade", "anaphylaxis", "where")


class IvigReactionSerializer(serializers.Serializer[dict[str, Any]]):
    """One entry of ``ivig_reactions``; as input, a reaction reported from elsewhere (shape and types only: the
    service refuses a future date, a grade outside 1-5, and neither grade nor anaphylaxis)."""

    date = serializers.DateField()
    product = serializers.CharField(max_length=100)
    ctcae_grade = serializers.IntegerField(required=False, allow_null=True, default=None)
    anaphylaxis = serializers.BooleanField(required=False, default=False)
    where = serializers.CharField(max_length=200)
    details = serializers.CharField(required=False, allow_blank=True, default="", write_only=True)


class PatientListSerializer(serializers.ListSerializer[Patient]):
    """Reads the reaction history of a whole page of patients in two queries, not two per patient."""

    def to_representation(self, data: Any) -> list[Any]:
        patients = list(data.all() if hasattr(data, "all") else data)
        self.child.reactions_by_patient = selectors.ivig_reactions_of_patients(  # type: ignore[union-attr]
            [patient.pk for patient in patients]
        )
        return super().to_representation(patients)


def overrides_field() -> serializers.DictField:
    """``{"<code>": "<reason>"}``: the reasons confirming a weight or height that trips ``weight_change`` or
    ``implausible_body_size`` (docs/api.md "Safety stops"). A blank reason for a raised stop is refused by the
    service; a reason for a stop the request does not raise is ignored."""
    return serializers.DictField(
        child=serializers.CharField(max_length=OVERRIDE_REASON_MAX_LENGTH, allow_blank=True, trim_whitespace=True),
        required=False,
        default=dict,
        write_only=True,
    )


def weight_confirmation(weight: WeightMeasurement | None) -> dict[str, str] | None:
    if weight is None or not weight.confirmation_code:
        return None
    return {"code": weight.confirmation_code, "reason": weight.confirmation_reason}


class WeightSerializer(serializers.ModelSerializer[WeightMeasurement]):
    """One weighing: ``measured_at`` defaults to now; ``confirmation`` is the §A9 stop it was confirmed past."""

    weight_kg = serializers.DecimalField(
        max_digits=5,
        decimal_places=1,
        min_value=MIN_WEIGHT_KG,
        max_value=MAX_WEIGHT_KG,
        validators=[validate_weight_kg],
        coerce_to_string=False,
    )
    measured_at = serializers.DateTimeField(required=False, allow_null=True)
    # Null for a weighing no user recorded (an interface, the demo data).
    recorded_by: serializers.StringRelatedField[Any] = serializers.StringRelatedField(read_only=True, allow_null=True)
    overrides = overrides_field()

    class Meta:
        model = WeightMeasurement
        fields = ["id", "weight_kg", "measured_at", "recorded_by", "created_at", "overrides"]
        read_only_fields = ["created_at"]

    def to_representation(self, instance: WeightMeasurement) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["confirmation"] = weight_confirmation(instance)
        return data


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
    overrides = overrides_field()
    iga_deficient = serializers.BooleanField(read_only=True, allow_null=True)
    age_years = serializers.IntegerField(read_only=True)
    ivig_reactions = serializers.SerializerMethodField(
        help_text='IVIG reaction history: the severe reactions recorded here (where "this hospital") and those '
        "reported from elsewhere, newest first."
    )
    blood_group = serializers.CharField(
        read_only=True, allow_null=True, default=None, help_text="From the latest blood-group result (read-only)."
    )
    thrombosis_risk_unspecified = serializers.BooleanField(
        source="thrombosis_risk",
        required=False,
        help_text="Version 1's single thrombosis flag: a thrombosis risk whose factor is not specified (A13).",
    )
    risk_factors = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Every at-risk factor recorded, in words (A13)."
    )
    acute_factors_to_reassess = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Acute factors (volume depletion, sepsis, nephrotoxic drugs, immobilization) assessed more than 7 "
        "days ago: to reassess.",
    )
    unit = UnitField(
        help_text="The ward, day unit or clinic the patient is in now; null for none (shown to every unit)."
    )
    reactions_by_patient: dict[int, list[selectors.IvigReaction]] | None = None

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
            "overrides",
            "serum_iga_mg_dl",
            "iga_measured_on",
            "iga_deficient",
            "cardiac_dysfunction",
            "renal_impairment",
            "pregnant",
            "expected_delivery_date",
            "pregnancy_review_on",
            "pregnancy_ended_on",
            "thrombosis_risk",
            "thrombosis_risk_unspecified",
            "thrombosis_risk_details",
            "diabetes",
            "volume_depletion",
            "sepsis",
            "paraproteinemia",
            "nephrotoxic_drugs",
            "immobilization",
            "hypercoagulable_state",
            "previous_thrombosis",
            "estrogens",
            "central_venous_catheter",
            "hyperviscosity",
            "cardiovascular_disease",
            "acute_factors_assessed_on",
            "on_insulin",
            "hereditary_fructose_intolerance",
            "anti_iga_antibodies",
            "anti_iga_antibodies_on",
            "risk_factors",
            "acute_factors_to_reassess",
            "allergies",
            "previous_infusion_reactions",
            "unit",
            "ivig_reactions",
            "blood_group",
            "age_years",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        list_serializer_class = PatientListSerializer

    @extend_schema_field(IvigReactionSerializer(many=True))
    def get_ivig_reactions(self, instance: Patient) -> list[dict[str, Any]]:
        known = self.reactions_by_patient
        reactions = known[instance.pk] if known is not None else selectors.ivig_reactions(instance)
        return [
            {key: reaction[key] for key in IVIG_REACTION_KEYS} | {"date": reaction["date"].isoformat()}  # type: ignore[literal-required]
            for reaction in reactions
        ]

    def to_representation(self, instance: Patient) -> dict[str, Any]:
        data = super().to_representation(instance)
        # docs/api.md: "pregnant stays writable and is true while a pregnancy is open" (A13).
        data["pregnant"] = instance.pregnancy_open
        current = instance.current_weight
        data["weight_kg"] = float(current.weight_kg) if current else None
        data["weight_measured_at"] = (
            serializers.DateTimeField().to_representation(current.measured_at) if current else None
        )
        data["weight_confirmation"] = weight_confirmation(current)
        data["height_confirmation"] = (
            {"code": IMPLAUSIBLE_BODY_SIZE, "reason": instance.height_confirmation_reason}
            if instance.height_confirmation_reason
            else None
        )
        return data


class LabResultSerializer(serializers.Serializer[Any]):
    """docs/api.md "Patients" (labs): the stored result, with ``value_si`` (µmol/L, g/L) and for creatinine the
    eGFR and its equation."""

    id = serializers.IntegerField(source="result.pk")
    patient = serializers.IntegerField(source="result.patient_id")
    test = serializers.CharField(source="result.test")
    value = serializers.CharField(source="result.value_sent")
    unit = serializers.CharField(source="result.unit_sent")
    value_si = serializers.DecimalField(
        source="result.value_si", max_digits=7, decimal_places=1, allow_null=True, coerce_to_string=False
    )
    blood_group = serializers.CharField(source="result.blood_group")
    collected_at = serializers.DateTimeField(source="result.collected_at")
    source = serializers.CharField(source="result.source")  # type: ignore[assignment]  # the API's field name
    status = serializers.CharField(source="result.status")
    superseded_by = serializers.IntegerField(source="result.superseded_by_id", allow_null=True)
    change_reason = serializers.CharField(source="result.change_reason")
    egfr = serializers.DecimalField(
        source="egfr.value", max_digits=5, decimal_places=0, allow_null=True, coerce_to_string=False, default=None
    )
    egfr_equation = serializers.CharField(source="egfr.equation", allow_null=True, default=None)
    egfr_not_reliable = serializers.CharField(source="egfr.not_reliable", allow_blank=True, default="")


class LabInputSerializer(serializers.Serializer[Any]):
    test = serializers.ChoiceField(choices=["creatinine", "hemoglobin", "blood_group"])
    value = serializers.CharField(max_length=40)
    unit = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    collected_at = serializers.DateTimeField()


class LabCorrectionSerializer(serializers.Serializer[Any]):
    value = serializers.CharField(max_length=40)
    unit = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    reason = serializers.CharField(max_length=500, error_messages={"blank": "Give the reason (what was wrong)."})


class LabReasonSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=500, error_messages={"blank": "Give the reason (what was wrong)."})
