from __future__ import annotations

from typing import Any

from rest_framework import serializers

from infusions.api.serializers import OrderSerializer
from monitoring.models import Notification, PlateletCheck, PlateletResult


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
            "category",
            "resulted_at",
        ]
        read_only_fields = fields


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


class AdhocResultInputSerializer(ResultInputSerializer):
    order = serializers.IntegerField()


class PlateletResultSerializer(serializers.ModelSerializer[PlateletResult]):
    class Meta:
        model = PlateletResult
        fields = [
            "id",
            "order",
            "platelet_check",
            "platelet_count",
            "collected_at",
            "bleeding",
            "bleeding_who_grade",
            "category",
            "preliminary",
            "source",
            "superseded_by",
            "created_at",
        ]
        read_only_fields = fields


class ResponseSerializer(serializers.Serializer[Any]):
    category = serializers.CharField()
    baseline_platelet_count = serializers.IntegerField()
    best_platelet_count = serializers.IntegerField(allow_null=True)
    latest_platelet_count = serializers.IntegerField(allow_null=True)
    time_to_response_hours = serializers.FloatField(allow_null=True)
    repeat_dose_recommended = serializers.BooleanField()
    loss_of_response = serializers.BooleanField()
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
