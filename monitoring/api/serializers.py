from __future__ import annotations

from typing import Any

from rest_framework import serializers

from infusions.api.serializers import OrderSerializer
from monitoring.models import CURRENT_RESULT, LabCheck, Notification, PlateletCheck, PlateletResult, ResponseCategory
from patients.models import CoTherapy, CoTherapyKind


def current_results(results: Any) -> Any:
    """A check's results that stand: not superseded, not preliminary, not withdrawn; the newest first."""
    return results.filter(CURRENT_RESULT, preliminary=False).order_by("-pk")


class LabCheckSerializer(serializers.ModelSerializer[LabCheck]):
    """A creatinine or hemoglobin a course owes (docs/clinical-rules.md §A13); ``lab_result`` is the result that
    answered it (``GET /api/v1/patients/{id}/labs/`` lists them)."""

    class Meta:
        model = LabCheck
        fields = [
            "id",
            "order",
            "test",
            "label",
            "due_at",
            "window_opens_at",
            "window_closes_at",
            "overdue_at",
            "status",
            "lab_result",
            "cancel_reason",
        ]
        read_only_fields = fields


class PlateletCheckSerializer(serializers.ModelSerializer[PlateletCheck]):
    class Meta:
        model = PlateletCheck
        fields = [
            "id",
            "order",
            "label",
            "due_at",
            "status",
            "platelet_count",
            "collected_at",
            "bleeding",
            "bleeding_assessed",
            "bleeding_who_grade",
            "category",
            "resulted_at",
            "cancel_reason",
        ]
        read_only_fields = fields

    bleeding_assessed = serializers.SerializerMethodField()
    bleeding_who_grade = serializers.SerializerMethodField()
    # Blank until the check is resulted: the schema lists "" beside the IWG categories.
    category = serializers.ChoiceField(choices=ResponseCategory.choices, allow_blank=True, read_only=True)

    def _current(self, check: PlateletCheck) -> PlateletResult | None:
        """The check's current final result: from ``current_results`` when the view prefetched it (a list costs
        no query per check), else read."""
        if check.status != "resulted":
            return None
        prefetched: list[PlateletResult] | None = getattr(check, "current_results", None)
        if prefetched is not None:
            return prefetched[0] if prefetched else None
        found: PlateletResult | None = current_results(check.results.all()).first()
        return found

    def get_bleeding_assessed(self, check: PlateletCheck) -> bool | None:
        current = self._current(check)
        return None if current is None else current.bleeding_assessed

    def get_bleeding_who_grade(self, check: PlateletCheck) -> int | None:
        current = self._current(check)
        return None if current is None else current.bleeding_who_grade


class ResultInputSerializer(serializers.Serializer[Any]):
    platelet_count = serializers.IntegerField(min_value=0, max_value=2000, help_text="×10⁹/L")
    collected_at = serializers.DateTimeField()
    bleeding = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="New bleeding of WHO grade 2 or more."
    )
    bleeding_who_grade = serializers.IntegerField(min_value=0, max_value=4, required=False, allow_null=True)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if data.get("bleeding") is None and data.get("bleeding_who_grade") is None:
            raise serializers.ValidationError({"bleeding": ["Say whether there is new bleeding (WHO grade ≥ 2)."]})
        return data


class AdhocResultInputSerializer(serializers.Serializer[Any]):
    """An ad hoc count of a patient (docs/api.md "Platelet checks and results"): attributed to the course whose
    window holds its collection time, or to ``order`` when given. Bleeding left out is "not assessed"."""

    patient = serializers.IntegerField(required=False)
    order = serializers.IntegerField(required=False)
    platelet_count = serializers.IntegerField(min_value=0, max_value=2000, help_text="×10⁹/L")
    collected_at = serializers.DateTimeField()
    bleeding = serializers.BooleanField(required=False, allow_null=True, default=None)
    bleeding_who_grade = serializers.IntegerField(min_value=0, max_value=4, required=False, allow_null=True)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if data.get("patient") is None and data.get("order") is None:
            raise serializers.ValidationError({"patient": ["Name the patient (or the order)."]})
        return data


class CorrectionInputSerializer(serializers.Serializer[Any]):
    platelet_count = serializers.IntegerField(min_value=0, max_value=2000, required=False, help_text="×10⁹/L")
    collected_at = serializers.DateTimeField(required=False)
    bleeding_who_grade = serializers.IntegerField(min_value=0, max_value=4, required=False)
    reason = serializers.CharField(max_length=500, error_messages={"blank": "Give the reason (what was wrong)."})


class ReasonInputSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=500, error_messages={"blank": "Give the reason (what was wrong)."})


class BleedingInputSerializer(serializers.Serializer[Any]):
    who_grade = serializers.IntegerField(min_value=0, max_value=4, help_text="WHO bleeding grade 0-4")


# docs/api.md: a result that counts toward no course says why; these three come from its status.
STATUS_REASONS = {"preliminary": "preliminary", "superseded": "superseded", "entered_in_error": "entered_in_error"}


class PlateletResultSerializer(serializers.ModelSerializer[PlateletResult]):
    class Meta:
        model = PlateletResult
        fields = [
            "id",
            "patient",
            "order",
            "entered_for_order",
            "platelet_check",
            "platelet_count",
            "collected_at",
            "bleeding",
            "bleeding_assessed",
            "bleeding_who_grade",
            "category",
            "status",
            "not_attributed_reason",
            "change_reason",
            "preliminary",
            "source",
            "supersedes",
            "superseded_by",
            "created_at",
        ]
        read_only_fields = fields

    patient = serializers.IntegerField(source="order.patient_id")
    order = serializers.SerializerMethodField(help_text="The course the result counts toward, or null.")
    entered_for_order = serializers.IntegerField(source="order_id", help_text="The course it was entered with.")
    not_attributed_reason = serializers.SerializerMethodField()
    supersedes = serializers.SerializerMethodField()

    def _reason(self, result: PlateletResult) -> str | None:
        return STATUS_REASONS.get(result.status) or result.not_attributed_reason or None

    def get_order(self, result: PlateletResult) -> int | None:
        return None if self._reason(result) else result.order_id

    def get_not_attributed_reason(self, result: PlateletResult) -> str | None:
        return self._reason(result)

    def get_supersedes(self, result: PlateletResult) -> int | None:
        earlier = [old.pk for old in result.supersedes.all()]
        return max(earlier) if earlier else None


class ResponseSerializer(serializers.Serializer[Any]):
    category = serializers.ChoiceField(choices=ResponseCategory.choices)
    baseline_platelet_count = serializers.IntegerField()
    best_platelet_count = serializers.IntegerField(allow_null=True)
    latest_platelet_count = serializers.IntegerField(allow_null=True)
    time_to_response_hours = serializers.FloatField(allow_null=True)
    repeat_dose_recommended = serializers.BooleanField()
    loss_of_response = serializers.ChoiceField(choices=["none", "unconfirmed", "confirmed"])
    bleeding_unassessed = serializers.BooleanField()
    with_corticosteroids = serializers.BooleanField()
    with_other_itp_treatment = serializers.BooleanField()
    repeat_decision = serializers.CharField(allow_blank=True)
    repeat_order = serializers.IntegerField(allow_null=True)
    assessed_at = serializers.DateTimeField(allow_null=True)


class RepeatDecisionSerializer(serializers.Serializer[Any]):
    decision = serializers.ChoiceField(choices=["accept", "decline"])
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class RepeatDecisionResultSerializer(serializers.Serializer[Any]):
    decision = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)
    response = ResponseSerializer()
    repeat_order = OrderSerializer(allow_null=True)


class NotificationSerializer(serializers.ModelSerializer[Notification]):
    class Meta:
        model = Notification
        fields = ["id", "kind", "message", "created_at", "read_at", "order", "platelet_check"]
        read_only_fields = fields


class CoTherapySerializer(serializers.ModelSerializer[CoTherapy]):
    class Meta:
        model = CoTherapy
        fields = [
            "id",
            "patient",
            "kind",
            "drug",
            "dose",
            "dose_unit",
            "route",
            "volume_ml",
            "units",
            "given_from",
            "given_until",
            "description",
            "recorded_by",
            "created_at",
            "entered_in_error",
            "entered_in_error_reason",
        ]
        read_only_fields = fields

    recorded_by = serializers.CharField(source="recorded_by.get_username")
    entered_in_error = serializers.BooleanField(source="withdrawn")
    dose = serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True, coerce_to_string=False)


class CoTherapyInputSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=CoTherapyKind.choices)
    drug = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    dose = serializers.DecimalField(max_digits=8, decimal_places=2, required=False, allow_null=True, default=None)
    dose_unit = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    route = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    volume_ml = serializers.IntegerField(min_value=1, max_value=10_000, required=False, allow_null=True, default=None)
    units = serializers.IntegerField(min_value=1, max_value=20, required=False, allow_null=True, default=None)
    given_from = serializers.DateTimeField()
    given_until = serializers.DateTimeField(required=False, allow_null=True, default=None)
    description = serializers.CharField(required=False, allow_blank=True, default="")
