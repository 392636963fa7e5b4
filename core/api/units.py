"""Units in the API: ``GET /api/v1/units/``, and the ``unit`` field that patients, orders and infusions carry
(docs/api.md "Units")."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers, viewsets

from core.models import Unit
from core.permissions import IsClinicalStaff


class UnitSerializer(serializers.ModelSerializer[Unit]):
    class Meta:
        model = Unit
        fields = ["id", "name", "kind", "site", "active"]
        read_only_fields = fields


class UnitRefSerializer(serializers.Serializer[Unit]):
    """How a record names its unit: ``{"id": 3, "name": "Ward 7 — Haematology"}``, or null for none."""

    id = serializers.IntegerField()
    name = serializers.CharField()


@extend_schema_field(
    {
        "type": "object",
        "nullable": True,
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
        "required": ["id", "name"],
        "description": 'The unit, as {"id", "name"}; written as the unit\'s id (an open unit), or null for none.',
    }
)
class UnitField(serializers.PrimaryKeyRelatedField[Unit]):
    """Read as ``{"id", "name"}``; written as the id of an open unit (or null)."""

    default_error_messages = {
        "does_not_exist": "There is no open unit with id {pk_value}: see GET /api/v1/units/.",
        "incorrect_type": "A unit is given by its id (a whole number), not {data_type}.",
    }

    def __init__(self, **kwargs: Any) -> None:
        if not kwargs.get("read_only"):
            kwargs.setdefault("queryset", Unit.objects.filter(active=True))
            kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def use_pk_only_optimization(self) -> bool:
        return False  # the name is shown: the unit is read from select_related, not by id alone

    def to_representation(self, value: Any) -> Any:
        return {"id": value.pk, "name": value.name}


class UnitViewSet(viewsets.ReadOnlyModelViewSet[Unit]):
    """The wards, day units and clinics, open ones first; every clinical role may read them."""

    serializer_class = UnitSerializer
    permission_classes = [IsClinicalStaff]
    filterset_fields = ["active", "kind"]
    search_fields = ["name", "site"]
    ordering_fields = ["name", "site"]

    def get_queryset(self) -> QuerySet[Unit]:
        return Unit.objects.order_by("-active", "site", "name", "pk")
