from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from infusions import selectors, services
from infusions.api.serializers import (
    CancelSerializer,
    DoseWorkingSerializer,
    InfusionSerializer,
    OrderInputSerializer,
    OrderSerializer,
    ProductSerializer,
)
from infusions.models import Infusion, Order, Product
from ivig_tracker.permissions import HasActionPermission, IsClinicalStaff


class ProductViewSet(viewsets.ReadOnlyModelViewSet):
    """The IVIG catalogue shipped with the application (read-only; pharmacy edits it in the admin)."""

    queryset = Product.objects.all()
    serializer_class = ProductSerializer
    permission_classes = [IsClinicalStaff]
    search_fields = ["name", "manufacturer"]
    filterset_fields = ["iga_depleted", "itp_indication", "on_formulary"]


class OrderViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = OrderSerializer
    permission_classes = [HasActionPermission]
    action_permissions = {
        "create": "infusions.add_order",
        "preview": "infusions.add_order",
        "verify": "infusions.verify_order",
        "cancel": "infusions.cancel_order",
        "recalculate": "infusions.recalculate_order",
    }
    filterset_fields = ["patient", "status", "regimen", "product", "emergency"]
    ordering_fields = ["created_at", "first_infusion_on"]

    def get_queryset(self) -> QuerySet[Order]:
        return selectors.orders_with_related()

    @extend_schema(request=OrderInputSerializer, responses={201: OrderSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = OrderInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        order = services.create_order(data=dict(payload.validated_data), user=request.user)
        return Response(self._read(order.pk), status=status.HTTP_201_CREATED)

    @extend_schema(request=OrderInputSerializer, responses={200: DoseWorkingSerializer})
    @action(detail=False, methods=["post"])
    def preview(self, request: Request) -> Response:
        """The dose an order would get, worked out without saving anything."""
        payload = OrderInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        calculation, weight, facts = services.calculate(dict(payload.validated_data))
        return Response(DoseWorkingSerializer(services.working_fields(calculation, weight, facts)).data)

    @extend_schema(request=None, responses={200: OrderSerializer})
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, pk: str | None = None) -> Response:
        order = self.get_object()
        services.verify_order(order_id=order.pk, user=request.user)
        return Response(self._read(order.pk))

    @extend_schema(request=CancelSerializer, responses={200: OrderSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        order = self.get_object()
        payload = CancelSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.cancel_order(order_id=order.pk, user=request.user, reason=payload.validated_data["reason"])
        return Response(self._read(order.pk))

    @extend_schema(request=None, responses={200: OrderSerializer})
    @action(detail=True, methods=["post"])
    def recalculate(self, request: Request, pk: str | None = None) -> Response:
        """Work a draft's dose out again with the current weight, catalogue and policy (kept in history)."""
        order = self.get_object()
        services.recalculate_order(order_id=order.pk, user=request.user)
        return Response(self._read(order.pk))

    def _read(self, pk: int) -> dict[str, Any]:
        return OrderSerializer(self.get_queryset().get(pk=pk), context=self.get_serializer_context()).data


class InfusionFilter(filters.FilterSet):
    date = filters.DateFilter(field_name="scheduled_for", help_text="Infusions scheduled on this day.")

    class Meta:
        model = Infusion
        fields = ["order", "status", "date"]


class InfusionViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = InfusionSerializer
    permission_classes = [IsClinicalStaff]
    filterset_class = InfusionFilter
    queryset = Infusion.objects.all()
