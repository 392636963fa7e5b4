from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core.permissions import HasActionPermission, IsClinicalStaff
from infusions.api.serializers import OrderSerializer
from infusions.models import Order
from infusions.selectors import orders_with_related
from monitoring import selectors, services
from monitoring.api.serializers import (
    AdhocResultInputSerializer,
    NotificationSerializer,
    PlateletCheckSerializer,
    PlateletResultSerializer,
    RepeatDecisionResultSerializer,
    RepeatDecisionSerializer,
    ResponseSerializer,
    ResultInputSerializer,
)
from monitoring.models import Notification, PlateletCheck, PlateletResult


class PlateletCheckViewSet(viewsets.ReadOnlyModelViewSet[PlateletCheck]):
    """The four platelet checks of each course; ``POST /{id}/result/`` records (or corrects) the count."""

    serializer_class = PlateletCheckSerializer
    permission_classes = [HasActionPermission]
    action_permissions = {"result": "monitoring.record_platelet_result"}
    queryset = PlateletCheck.objects.all()
    filterset_fields = ["order", "status", "label"]
    ordering_fields = ["due_at"]

    @extend_schema(request=ResultInputSerializer, responses={200: PlateletCheckSerializer})
    @action(detail=True, methods=["post"])
    def result(self, request: Request, pk: str | None = None) -> Response:
        check = self.get_object()
        payload = ResultInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.record_platelet_result(check_id=check.pk, user=request.user, **payload.validated_data)
        return Response(PlateletCheckSerializer(PlateletCheck.objects.get(pk=check.pk)).data)


class PlateletResultViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[PlateletResult]):
    """Every platelet result, corrections included (``superseded_by``). POST records an ad hoc result."""

    serializer_class = PlateletResultSerializer
    permission_classes = [HasActionPermission]
    action_permissions = {"create": "monitoring.record_platelet_result"}
    queryset = PlateletResult.objects.all()
    filterset_fields = ["order", "platelet_check", "source", "preliminary"]

    @extend_schema(request=AdhocResultInputSerializer, responses={201: PlateletResultSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = AdhocResultInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        order = selectors.order_or_404(data.pop("order"))
        result = services.record_platelet_result(order_id=order.pk, user=request.user, **data)
        return Response(PlateletResultSerializer(result).data, status=status.HTTP_201_CREATED)


class NotificationViewSet(viewsets.ReadOnlyModelViewSet[Notification]):
    """The signed-in user's inbox, newest first."""

    serializer_class = NotificationSerializer
    permission_classes = [IsClinicalStaff]
    filterset_fields = ["kind"]

    def get_queryset(self) -> QuerySet[Notification]:
        user = self.request.user
        # Schema generation has no signed-in user; IsClinicalStaff refuses anonymous requests before this runs.
        if getattr(self, "swagger_fake_view", False) or not user.is_authenticated:
            return Notification.objects.none()
        return Notification.objects.filter(recipient=user).order_by("-created_at", "-pk")

    @extend_schema(request=None, responses={200: NotificationSerializer})
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str | None = None) -> Response:
        notification = self.get_object()
        return Response(
            NotificationSerializer(services.mark_read(notification_id=notification.pk, user=request.user)).data
        )


class OrderResponseViewSet(viewsets.GenericViewSet[Order]):
    """An order's response (docs/api.md "Response") and the repeat-dose decision, at ``/orders/{id}/response/``
    and ``/orders/{id}/repeat-decision/``. The API router registers it beside the infusions app's order
    endpoints: monitoring adds routes to orders without touching the infusions app."""

    permission_classes = [HasActionPermission]
    action_permissions = {"repeat_decision": "monitoring.decide_repeat_dose"}
    queryset = Order.objects.all()
    serializer_class = ResponseSerializer

    @extend_schema(request=None, responses={200: ResponseSerializer})
    # Not named ``response``: APIView keeps the finished response in ``self.response``.
    @action(detail=True, methods=["get"], url_path="response", url_name="response")
    def order_response(self, request: Request, pk: str | None = None) -> Response:
        order = self.get_object()
        return Response(ResponseSerializer(selectors.response_body(order)).data)

    @extend_schema(request=RepeatDecisionSerializer, responses={200: RepeatDecisionResultSerializer})
    @action(detail=True, methods=["post"], url_path="repeat-decision")
    def repeat_decision(self, request: Request, pk: str | None = None) -> Response:
        order = self.get_object()
        payload = RepeatDecisionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        record = services.decide_repeat_dose(order_id=order.pk, user=request.user, **payload.validated_data)
        repeat_order = None
        if record.repeat_order_id:
            repeat = orders_with_related().get(pk=record.repeat_order_id)
            repeat_order = OrderSerializer(repeat, context=self.get_serializer_context()).data
        body = {
            "decision": record.repeat_decision,
            "reason": record.repeat_decision_reason,
            "response": ResponseSerializer(selectors.response_body(order)).data,
            "repeat_order": repeat_order,
        }
        return Response(body)
