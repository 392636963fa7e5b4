from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.units import UnitField
from core.stops import OVERRIDE_REASON_MAX_LENGTH
from infusions import services
from infusions.dosing import REGIMENS
from infusions.models import Infusion, Order, Product, SafetyRecord, SafetyRecordKind
from patients.models import Patient
from patients.validators import validate_weight_kg

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class ProductSerializer(serializers.ModelSerializer[Product]):
    vial_sizes_g = serializers.ListField(child=serializers.FloatField(), read_only=True)

    class Meta:
        model = Product
        fields = [
            "id",
            "name",
            "manufacturer",
            "concentration_percent",
            "iga_content_ug_per_ml",
            "iga_content_qualifier",
            "iga_depleted",
            "vial_sizes_g",
            "gtins",
            "itp_indication",
            "itp_indication_detail",
            "stabiliser",
            "initial_rate_mg_per_kg_min",
            "step_up_interval_min",
            "itp_max_rate_mg_per_kg_min",
            "at_risk_max_rate_mg_per_kg_min",
            "discontinued",
            "on_formulary",
            "label_notes",
            "itp_min_age_years",
            "contains_sorbitol",
            "contains_maltose",
            "contains_glucose",
            "reconstituted",
            "site_values",
        ]
        read_only_fields = fields


class SiteValuesInputSerializer(serializers.Serializer[Any]):
    """``{"values": {"<field>": <value>, ...}, "source": "..."}``: the site's values for what the label leaves
    unknown (docs/api.md "Products"); the service checks each value."""

    values = serializers.DictField(child=serializers.JSONField())
    # The contract's name; it shadows Field.source only in the stubs (DRF keeps declared fields apart).
    source = serializers.CharField(allow_blank=True, trim_whitespace=True)  # type: ignore[assignment]


class GtinsInputSerializer(serializers.Serializer[Any]):
    """``{"gtins": [{"gtin", "vial_size_g", "demo"?}, ...], "source": "..."}``: a product's GTINs, replacing its list
    (docs/api.md "Products"); the service checks each GTIN."""

    gtins = serializers.ListField(child=serializers.DictField(child=serializers.JSONField()), allow_empty=True)
    # The contract's name; it shadows Field.source only in the stubs (DRF keeps declared fields apart).
    source = serializers.CharField(allow_blank=True, trim_whitespace=True)  # type: ignore[assignment]


class VialCountSerializer(serializers.Serializer[Any]):
    size_g = serializers.FloatField()
    count = serializers.IntegerField()


class WarningSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    message = serializers.CharField()


class RateStepSerializer(serializers.Serializer[Any]):
    rate_mg_per_kg_min = serializers.FloatField()
    rate_ml_per_kg_min = serializers.FloatField()
    rate_ml_per_h = serializers.FloatField()


class RatePlanSerializer(serializers.Serializer[Any]):
    steps = RateStepSerializer(many=True)
    step_up_interval_min = serializers.IntegerField()
    max_rate_ml_per_h = serializers.FloatField()
    at_risk_capped = serializers.BooleanField()
    basis_weight_kg = serializers.FloatField()


def overrides_field() -> serializers.DictField:
    """``{"<code>": "<reason>"}``: the reasons for overriding the stops this request raises (docs/api.md "Safety
    stops"). A blank reason is refused by the service for a stop the request raises; others are ignored."""
    return serializers.DictField(
        child=serializers.CharField(max_length=OVERRIDE_REASON_MAX_LENGTH, allow_blank=True, trim_whitespace=True),
        required=False,
        default=dict,
    )


class SafetyStopSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    kind = serializers.CharField()
    message = serializers.CharField()
    role = serializers.CharField(allow_null=True)
    field = serializers.CharField(allow_null=True)


class DryRunSerializer(serializers.Serializer[Any]):
    stops = SafetyStopSerializer(many=True)
    warnings = SafetyStopSerializer(many=True)


class SafetyOverrideSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField()
    by = serializers.CharField()
    at = serializers.DateTimeField()


class SafetyEntrySerializer(serializers.Serializer[Any]):
    """One entry of an order's or infusion's ``safety`` list (docs/api.md)."""

    code = serializers.CharField()
    kind = serializers.CharField()
    message = serializers.CharField()
    stage = serializers.CharField()
    infusion = serializers.IntegerField(source="infusion_id", allow_null=True)
    at = serializers.DateTimeField()
    override = serializers.SerializerMethodField()

    def get_override(self, record: SafetyRecord) -> dict[str, Any] | None:
        if record.kind != SafetyRecordKind.OVERRIDE:
            return None
        return {
            "reason": record.reason,
            "by": record.recorded_by.get_username(),
            "role": record.role,
            "at": serializers.DateTimeField().to_representation(record.created_at),
        }


class OutsideDoseSerializer(serializers.Serializer[Any]):
    """A dose of this course given at another hospital, as reported (docs/api.md "Orders")."""

    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField()
    product = serializers.CharField(max_length=100, help_text="The product as reported (free text).")
    grams = serializers.DecimalField(max_digits=7, decimal_places=2)
    lot = serializers.CharField(max_length=64)


class OrderInputSerializer(serializers.Serializer[Any]):
    """What a prescriber writes (docs/api.md "Written on create"), shape and types only."""

    patient = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.all())
    regimen = serializers.ChoiceField(choices=list(REGIMENS))
    product = serializers.PrimaryKeyRelatedField(queryset=Product.objects.all())
    baseline_platelet_count = serializers.IntegerField(min_value=0, max_value=2000)
    first_infusion_on = serializers.DateField()
    emergency = serializers.BooleanField(default=False)
    iga_override_reason = serializers.CharField(required=False, allow_blank=True, default="")
    previous_order = serializers.PrimaryKeyRelatedField(queryset=Order.objects.all(), required=False, allow_null=True)
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    dosing_weight_override_kg = serializers.DecimalField(
        max_digits=6, decimal_places=2, required=False, allow_null=True, min_value=0
    )
    dosing_weight_override_reason = serializers.CharField(required=False, allow_blank=True, default="")
    prepared_concentration_percent = serializers.DecimalField(
        max_digits=3, decimal_places=1, required=False, allow_null=True, help_text="5 or 10, for Gammagard S/D."
    )
    baseline_collected_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="When the baseline count was collected."
    )
    replaces = serializers.PrimaryKeyRelatedField(
        queryset=Order.objects.all(), required=False, allow_null=True, help_text="Emergency orders only."
    )
    estimated_weight_kg = serializers.DecimalField(
        max_digits=5,
        decimal_places=1,
        required=False,
        allow_null=True,
        validators=[validate_weight_kg],
        help_text="Emergency orders only: dosed on it when the patient cannot be weighed; never in the weight history.",
    )
    doses_given_elsewhere = OutsideDoseSerializer(
        many=True, required=False, help_text="Doses of this course given at another hospital (a transfer)."
    )
    unit = UnitField(help_text="Where the course is given: an open unit's id; defaults to the patient's unit.")
    overrides = overrides_field()


class OrderCoTherapySerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    drug = serializers.CharField()
    dose = serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True, coerce_to_string=False)
    dose_unit = serializers.CharField()
    units = serializers.IntegerField(allow_null=True)
    given_from = serializers.DateTimeField()
    given_until = serializers.DateTimeField(allow_null=True)


class OrderSerializer(serializers.ModelSerializer[Order]):
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(slug_field="username", read_only=True)
    verified_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    vials_per_day = VialCountSerializer(many=True, read_only=True)
    warnings = serializers.SerializerMethodField()
    warning_details = WarningSerializer(source="warnings", many=True, read_only=True)
    rate_plan = RatePlanSerializer(read_only=True, allow_null=True)
    weight_measured_at = serializers.DateTimeField(
        source="weight_measurement.measured_at", read_only=True, allow_null=True
    )
    safety = SafetyEntrySerializer(source="safety_records", many=True, read_only=True)
    on_hold = serializers.BooleanField(read_only=True)
    grams_given = serializers.DecimalField(max_digits=8, decimal_places=2, read_only=True, coerce_to_string=False)
    partially_given = serializers.BooleanField(read_only=True)
    co_therapies = serializers.SerializerMethodField(
        help_text="The patient's co-therapies overlapping the course: from 28 days before its first infusion to the "
        "end of its window (docs/clinical-rules.md §A12)."
    )
    doses_given_elsewhere = OutsideDoseSerializer(source="outside_doses", many=True, read_only=True)
    product_changed_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    @extend_schema_field(OrderCoTherapySerializer(many=True))
    def get_co_therapies(self, order: Order) -> list[dict[str, Any]]:
        return [dict(OrderCoTherapySerializer(t).data) for t in order.co_therapies_overlapping()]

    unit = UnitField(read_only=True, help_text="Where the course is given; null for none (shown to every unit).")

    class Meta:
        model = Order
        fields = [
            "id",
            "patient",
            "unit",
            "regimen",
            "product",
            "baseline_platelet_count",
            "first_infusion_on",
            "emergency",
            "iga_override_reason",
            "previous_order",
            "notes",
            "status",
            "dosing_weight_kg",
            "dosing_weight_basis",
            "dosing_weight_policy",
            "dosing_weight_exclusion",
            "dosing_weight_formula",
            "dosing_weight_override_kg",
            "dosing_weight_override_reason",
            "actual_weight_kg",
            "weight_measured_at",
            "estimated_weight_kg",
            "height_cm",
            "ideal_body_weight_kg",
            "adjusted_body_weight_kg",
            "bmi",
            "dose_per_day_g",
            "rounded_dose_per_day_g",
            "rounding_step_g",
            "deviation_percent",
            "partial_vial",
            "days",
            "total_calculated_g",
            "total_dose_g",
            "vials_per_day",
            "volume_per_day_ml",
            "rate_plan",
            "warnings",
            "warning_details",
            "created_by",
            "created_at",
            "verified_by",
            "verified_at",
            "cancel_reason",
            "cancelled_at",
            "calculated_at",
            "prepared_concentration_percent",
            "baseline_collected_at",
            "replaces",
            "safety",
            "grams_given",
            "partially_given",
            "co_therapies",
            "on_hold",
            "hold_reason",
            "hold_review_decision",
            "hold_review_reason",
            "returned_reason",
            "returned_at",
            "doses_given_elsewhere",
            "product_changed_from",
            "product_change_reason",
            "product_changed_by",
            "product_changed_at",
            "awaiting_reverification",
        ]
        read_only_fields = fields

    def get_warnings(self, order: Order) -> list[str]:
        """v1 clients see every warning here: the working's and the safety stops' (docs/api.md)."""
        safety_warnings = [r.message for r in order.safety_records.all() if r.kind == SafetyRecordKind.WARNING]
        return order.warning_messages + [
            message for message in safety_warnings if message not in order.warning_messages
        ]


class DoseWorkingSerializer(serializers.Serializer[Any]):
    """The working of a dose (the order form's live preview), as stored on an order when it is created."""

    actual_weight_kg = serializers.FloatField()
    height_cm = serializers.FloatField(allow_null=True)
    age_years = serializers.IntegerField()
    dosing_weight_policy = serializers.CharField()
    dosing_weight_kg = serializers.FloatField()
    dosing_weight_basis = serializers.CharField()
    dosing_weight_exclusion = serializers.CharField()
    dosing_weight_formula = serializers.CharField()
    ideal_body_weight_kg = serializers.FloatField(allow_null=True)
    adjusted_body_weight_kg = serializers.FloatField(allow_null=True)
    bmi = serializers.FloatField(allow_null=True)
    dose_per_day_g = serializers.FloatField()
    rounded_dose_per_day_g = serializers.FloatField()
    rounding_step_g = serializers.FloatField(allow_null=True)
    deviation_percent = serializers.FloatField()
    partial_vial = serializers.BooleanField()
    days = serializers.IntegerField()
    total_calculated_g = serializers.FloatField()
    total_dose_g = serializers.FloatField()
    vials_per_day = VialCountSerializer(many=True)
    volume_per_day_ml = serializers.FloatField(allow_null=True)
    rate_plan = RatePlanSerializer(allow_null=True)
    warnings = serializers.SerializerMethodField()
    warning_details = WarningSerializer(source="warnings", many=True)

    def get_warnings(self, working: dict[str, Any]) -> list[str]:
        return [warning["message"] for warning in working["warnings"]]


class CancelSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(allow_blank=False, trim_whitespace=True)


class InfusionSerializer(serializers.ModelSerializer[Infusion]):
    class Meta:
        model = Infusion
        fields = [
            "id",
            "order",
            "day_number",
            "scheduled_for",
            "status",
            "dose_g",
            "volume_ml",
            "product",
            "unit",
            "started_at",
            "completed_at",
            "current_rate_ml_per_h",
            "stop_reason",
            "stopped_at",
            "volume_infused_ml",
            "lot_numbers",
            "safety",
            "grams_given",
            "fluid_balance_ml",
        ]
        read_only_fields = fields

    unit = UnitField(read_only=True, help_text="Where the day is given; null for none (shown to every unit).")
    lot_numbers = serializers.SerializerMethodField()
    fluid_balance_ml = serializers.SerializerMethodField(
        help_text="The fluid balance from the infusion's start in whole mL, the IVIG volume included (docs/clinical-"
        "rules.md §A13); null where none is kept (no cardiac dysfunction, eGFR < 60, volume depletion or sepsis) or "
        "before the start."
    )
    safety = SafetyEntrySerializer(source="safety_records", many=True, read_only=True)
    grams_given = serializers.DecimalField(max_digits=8, decimal_places=2, read_only=True, coerce_to_string=False)
    product = serializers.SerializerMethodField(help_text="The product the day was (or will be) given with.")

    def get_product(self, infusion: Infusion) -> int:
        return infusion.product_id or infusion.order.product_id

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_fluid_balance_ml(self, infusion: Infusion) -> int | None:
        return services.fluid_balance_ml(infusion)

    def get_lot_numbers(self, infusion: Infusion) -> list[str]:
        # The lots, each once: a lot now has a row per physical vial (§A10 vial_mismatch).
        return list(dict.fromkeys(vial.lot_number for vial in infusion.vial_lots.all()))


class ChecklistSerializer(serializers.Serializer[Any]):
    patient_identity = serializers.BooleanField(required=False, default=False)
    iga_reviewed = serializers.BooleanField(required=False, default=False)
    cardiac_fluid_status = serializers.BooleanField(required=False, default=False)
    hydration = serializers.BooleanField(required=False, default=False)
    premedication = serializers.BooleanField(required=False, default=False)
    emergency_drugs = serializers.BooleanField(required=False, default=False)
    product_and_dose = serializers.BooleanField(required=False, default=False)
    dedicated_line = serializers.BooleanField(required=False, default=False)
    glucose_method_checked = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Asked for a maltose product when the patient has diabetes or takes insulin.",
    )


class VialSerializer(serializers.Serializer[Any]):
    """One physical vial, typed: all four are required (docs/clinical-rules.md §A10 vial_mismatch)."""

    product = serializers.PrimaryKeyRelatedField(queryset=Product.objects.all(), help_text="The product's id.")
    lot_number = serializers.CharField(max_length=64)
    expiry_date = serializers.DateField()
    vial_size_g = serializers.DecimalField(max_digits=5, decimal_places=2)


class StartSerializer(serializers.Serializer[Any]):
    started_at = serializers.DateTimeField(required=False, allow_null=True)
    checklist = ChecklistSerializer()
    lot_numbers = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        allow_empty=True,
        help_text="v1: the lots; if sent with vials or barcodes, the same lots.",
    )
    vials = VialSerializer(many=True, required=False, help_text="One entry per physical vial, typed.")
    barcodes = serializers.ListField(
        child=serializers.CharField(max_length=200, trim_whitespace=False),
        required=False,
        allow_empty=True,
        help_text="One GS1 element string per physical vial: (01)…(17)…(10)… or raw with GS (ASCII 29).",
    )
    rate_ml_per_h = serializers.DecimalField(
        max_digits=7, decimal_places=1, required=False, allow_null=True, help_text="Defaults to the plan's first step."
    )
    overrides = overrides_field()


class VitalsInputSerializer(serializers.Serializer[Any]):
    taken_at = serializers.DateTimeField(required=False, allow_null=True)
    temperature_c = serializers.DecimalField(max_digits=3, decimal_places=1)
    heart_rate_bpm = serializers.IntegerField()
    systolic_bp_mmhg = serializers.IntegerField()
    diastolic_bp_mmhg = serializers.IntegerField()
    respiratory_rate_per_min = serializers.IntegerField()
    spo2_percent = serializers.IntegerField()


class AlertSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    severity = serializers.CharField()
    message = serializers.CharField()
    suggested_action = serializers.CharField()
    # §A11: only on a child's low-for-age warning (a rate below the band, "check whether asleep and recount");
    # absent from every other alert, so an adult's alerts keep their four keys.
    low_for_age = serializers.BooleanField(required=False)


class VitalsSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    infusion = serializers.IntegerField(source="infusion_id")
    taken_at = serializers.DateTimeField()
    temperature_c = serializers.FloatField()
    heart_rate_bpm = serializers.IntegerField()
    systolic_bp_mmhg = serializers.IntegerField()
    diastolic_bp_mmhg = serializers.IntegerField()
    respiratory_rate_per_min = serializers.IntegerField()
    spo2_percent = serializers.IntegerField()
    alerts = AlertSerializer(many=True)
    recorded_by = serializers.CharField(source="recorded_by.username")


class RateSerializer(serializers.Serializer[Any]):
    rate_ml_per_h = serializers.DecimalField(max_digits=7, decimal_places=1)
    changed_at = serializers.DateTimeField(required=False, allow_null=True)
    overrides = overrides_field()


class PauseSerializer(serializers.Serializer[Any]):
    paused_at = serializers.DateTimeField(required=False, allow_null=True)


class ResumeSerializer(serializers.Serializer[Any]):
    rate_ml_per_h = serializers.DecimalField(
        max_digits=7,
        decimal_places=1,
        required=False,
        allow_null=True,
        help_text=(
            "Defaults to half the rate of the last reaction (docs/clinical-rules.md §A5), else the rate before the "
            "pause."
        ),
    )
    resumed_at = serializers.DateTimeField(required=False, allow_null=True)
    overrides = overrides_field()


class ReactionInputSerializer(serializers.Serializer[Any]):
    reaction = serializers.CharField(max_length=32)
    ctcae_grade = serializers.IntegerField(min_value=1, max_value=5)
    action_taken = serializers.CharField()
    noted_at = serializers.DateTimeField(required=False, allow_null=True)


class ReactionSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    infusion = serializers.IntegerField(source="infusion_id")
    reaction = serializers.CharField()
    ctcae_grade = serializers.IntegerField()
    action_taken = serializers.CharField()
    noted_at = serializers.DateTimeField()
    rate_at_reaction_ml_per_h = serializers.FloatField(allow_null=True)
    stopped_infusion = serializers.BooleanField()


class FluidEntryInputSerializer(serializers.Serializer[Any]):
    """One intake (other than the IVIG) or output of the fluid balance (docs/clinical-rules.md §A13 "Fluid"). The
    service judges the volume's range and the time against the balance's window, in clinical words."""

    kind = serializers.ChoiceField(
        choices=[("intake", "intake"), ("output", "output")],
        error_messages={"invalid_choice": "Choose intake or output."},
    )
    volume_ml = serializers.IntegerField(
        error_messages={"invalid": "Enter the volume in whole millilitres, 1 to 5000 mL."},
        help_text="Whole millilitres, 1 to 5000.",
    )
    recorded_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Default now.")
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


class FluidEntrySerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    infusion = serializers.IntegerField(source="infusion_id")
    kind = serializers.CharField()
    volume_ml = serializers.IntegerField()
    recorded_at = serializers.DateTimeField()
    description = serializers.CharField()
    entered_by = serializers.CharField(source="entered_by.username")


class FluidEntryCreatedSerializer(FluidEntrySerializer):
    fluid_balance_ml = serializers.IntegerField(
        allow_null=True, help_text="The infusion's balance from its start after this entry, IVIG volume included."
    )


class FluidBalanceRowSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    recorded_at = serializers.DateTimeField(source="at")
    kind = serializers.CharField()
    volume_ml = serializers.IntegerField()
    description = serializers.CharField()
    entered_by = serializers.CharField()
    ivig_ml = serializers.IntegerField(help_text="IVIG infused by this time, from the pump's rate segments.")
    intake_ml = serializers.IntegerField(help_text="Other intake so far.")
    output_ml = serializers.IntegerField(help_text="Output so far.")
    balance_ml = serializers.IntegerField(help_text="IVIG + other intake - output so far.")


class FluidBalanceSerializer(serializers.Serializer[Any]):
    """An infusion's fluid balance (docs/clinical-rules.md §A13 "Fluid"), whole mL; every figure null and no entry
    where no balance is kept."""

    fluid_balance_ml = serializers.IntegerField(allow_null=True)
    kept_because = serializers.ListField(child=serializers.CharField())
    started_at = serializers.DateTimeField(allow_null=True)
    closes_at = serializers.DateTimeField(allow_null=True, help_text="The next day's start or 24 h after the end.")
    as_of = serializers.DateTimeField(allow_null=True)
    ivig_ml = serializers.IntegerField(allow_null=True)
    intake_ml = serializers.IntegerField(allow_null=True)
    output_ml = serializers.IntegerField(allow_null=True)
    entries = FluidBalanceRowSerializer(many=True)


class VerifySerializer(serializers.Serializer[Any]):
    overrides = overrides_field()


class CompleteSerializer(serializers.Serializer[Any]):
    completed_at = serializers.DateTimeField(required=False, allow_null=True)
    volume_infused_ml = serializers.DecimalField(max_digits=8, decimal_places=1, required=False, allow_null=True)
    overrides = overrides_field()


class StopSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField()
    stopped_at = serializers.DateTimeField(required=False, allow_null=True)


class ReasonSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(allow_blank=False, trim_whitespace=True)


class MoveToUnitSerializer(serializers.Serializer[Any]):
    unit = UnitField(required=True, allow_null=False, help_text="The open unit the day is given in from now.")
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class HoldReviewSerializer(serializers.Serializer[Any]):
    decision = serializers.ChoiceField(choices=["continue", "cancel_remaining"])
    reason = serializers.CharField(allow_blank=False, trim_whitespace=True)


class SafetyTrySerializer(serializers.Serializer[Any]):
    """The dry run of a bedside action: the action's name and its body (docs/api.md "Dry runs")."""

    action = serializers.ChoiceField(choices=["start", "rate", "resume", "complete"])
    at = serializers.DateTimeField(required=False, allow_null=True, help_text="The event's time; default now.")
    rate_ml_per_h = serializers.DecimalField(max_digits=7, decimal_places=1, required=False, allow_null=True)
    volume_infused_ml = serializers.DecimalField(max_digits=8, decimal_places=1, required=False, allow_null=True)
    checklist = ChecklistSerializer(required=False)
    vials = VialSerializer(many=True, required=False, help_text="start: the vials to judge, typed.")
    barcodes = serializers.ListField(
        child=serializers.CharField(max_length=200, trim_whitespace=False),
        required=False,
        allow_empty=True,
        help_text="start: the vials to judge, scanned (GS1 element strings).",
    )
    overrides = overrides_field()


class RecalculateSerializer(serializers.Serializer[Any]):
    """What a hematologist may change when recalculating; every field optional (docs/api.md "Orders")."""

    reason = serializers.CharField(required=False, allow_blank=True, default="")
    first_infusion_on = serializers.DateField(required=False)
    product = serializers.PrimaryKeyRelatedField(queryset=Product.objects.all(), required=False)
    prepared_concentration_percent = serializers.DecimalField(
        max_digits=3, decimal_places=1, required=False, allow_null=True
    )
    dosing_weight_override_kg = serializers.DecimalField(
        max_digits=7, decimal_places=2, required=False, allow_null=True
    )
    dosing_weight_override_reason = serializers.CharField(required=False, allow_blank=True)
    overrides = overrides_field()


class ChangeProductSerializer(serializers.Serializer[Any]):
    """A product change of an in-progress course's remaining days (docs/api.md "Orders": change-product)."""

    product = serializers.PrimaryKeyRelatedField(queryset=Product.objects.all())
    reason = serializers.CharField(allow_blank=False, trim_whitespace=True, max_length=500)
    prepared_concentration_percent = serializers.DecimalField(
        max_digits=3, decimal_places=1, required=False, allow_null=True, help_text="5 or 10, for Gammagard S/D."
    )
    overrides = overrides_field()


class LotVialSerializer(serializers.Serializer[Any]):
    product = serializers.IntegerField(source="product_id", allow_null=True)
    vial_size_g = serializers.DecimalField(max_digits=5, decimal_places=2, allow_null=True, coerce_to_string=False)
    lot_number = serializers.CharField()
    expiry_date = serializers.DateField(allow_null=True)
    gtin = serializers.CharField(allow_null=True)
    serial = serializers.CharField(allow_null=True)


class LotPatientSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    mrn = serializers.CharField()
    given_name = serializers.CharField()
    family_name = serializers.CharField()


class LotAdministrationSerializer(serializers.Serializer[Any]):
    """One infusion that used a vial of the lot asked for: who received it, when, which vials, and what followed."""

    patient = LotPatientSerializer(source="order.patient")
    order = serializers.IntegerField(source="order_id")
    infusion = serializers.IntegerField(source="id")
    day_number = serializers.IntegerField()
    product = serializers.IntegerField(source="given_product.pk")
    product_name = serializers.CharField(source="given_product.name")
    status = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    vials = LotVialSerializer(source="vials_of_lot", many=True)
    reactions = ReactionSerializer(source="reactions.all", many=True)


class LotQuerySerializer(serializers.Serializer[Any]):
    lot = serializers.CharField(
        max_length=64,
        error_messages={
            "required": "Give the lot number to look up.",
            "blank": "Give the lot number to look up.",
        },
    )
