from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from core.permissions import HasActionPermission, IsClinicalStaff
from infusions.api.serializers import OrderSerializer
from infusions.models import Order
from infusions.selectors import orders_with_related
from monitoring import selectors, services
from monitoring.api.serializers import (
    AdhocResultInputSerializer,
    BleedingInputSerializer,
    CorrectionInputSerializer,
    CoTherapyInputSerializer,
    CoTherapySerializer,
    LabCheckSerializer,
    NotificationSerializer,
    PlateletCheckSerializer,
    PlateletResultSerializer,
    ReasonInputSerializer,
    RepeatDecisionResultSerializer,
    RepeatDecisionSerializer,
    ResponseSerializer,
    ResultInputSerializer,
    current_results,
)
from monitoring.models import LabCheck, Notification, PlateletCheck, PlateletResult
from patients.models import CoTherapy, Patient


class PlateletCheckViewSet(viewsets.ReadOnlyModelViewSet[PlateletCheck]):
    """The four platelet checks of each course; ``POST /{id}/result/`` records (or corrects) the count."""

    serializer_class = PlateletCheckSerializer
    permission_classes = [HasActionPermission]
    action_permissions = {"result": "monitoring.record_platelet_result"}
    queryset = PlateletCheck.objects.prefetch_related(
        Prefetch("results", queryset=current_results(PlateletResult.objects.all()), to_attr="current_results")
    )
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


class LabCheckViewSet(viewsets.ReadOnlyModelViewSet[LabCheck]):
    """The creatinine and hemoglobin checks courses owe after them (and before day 3 of a longer course). A lab
    result recorded through ``/patients/{id}/labs/`` or HL7 answers them; they are not written to directly."""

    serializer_class = LabCheckSerializer
    permission_classes = [IsClinicalStaff]
    queryset = LabCheck.objects.all()
    filterset_fields = ["order", "status", "test", "label", "order__patient"]
    ordering_fields = ["due_at"]


class PlateletResultFilter(filters.FilterSet):  # type: ignore[misc]  # django-filter ships no type hints
    patient = filters.NumberFilter(field_name="order__patient_id")

    class Meta:
        model = PlateletResult
        fields = ["patient", "order", "platelet_check", "source", "preliminary", "status"]


class PlateletResultViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[PlateletResult]):
    """Every platelet result, corrections and withdrawn ones included, each with the course it counts toward or
    why none (docs/api.md "Platelet checks and results"). POST records an ad hoc result; ``correct``,
    ``entered-in-error`` and ``bleeding`` change one, the earlier version kept."""

    serializer_class = PlateletResultSerializer
    permission_classes = [HasActionPermission]
    action_permissions = {
        "create": "monitoring.record_platelet_result",
        "correct": "monitoring.record_platelet_result",
        "entered_in_error": "monitoring.record_platelet_result",
        "bleeding": "monitoring.record_platelet_result",
    }
    queryset = PlateletResult.objects.select_related("order").prefetch_related("supersedes")
    filterset_class = PlateletResultFilter

    @extend_schema(
        request=AdhocResultInputSerializer, responses={201: PlateletResultSerializer, 200: PlateletResultSerializer}
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = AdhocResultInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        order_id, patient_id = data.pop("order", None), data.pop("patient", None)
        # Ids in the body name inputs: an unknown one is a field error (400), as any other bad value is.
        if order_id is not None:
            order = Order.objects.filter(pk=order_id).first()
            if order is None:
                raise ValidationError({"order": [f"No order has the id {order_id}."]})
            if patient_id is not None and order.patient_id != patient_id:
                raise ValidationError({"order": ["This order is another patient's."]})
        else:
            if not Patient.objects.filter(pk=patient_id).exists():
                raise ValidationError({"patient": [f"No patient has the id {patient_id}."]})
            order = services.course_for_sample(patient_id=patient_id, collected_at=data["collected_at"])
        result = services.record_platelet_result(order_id=order.pk, user=request.user, **data)
        # The same result posted again (a retried request) is the one already recorded: 200, nothing created.
        created = status.HTTP_200_OK if result.already_recorded else status.HTTP_201_CREATED
        return Response(self._body(result.pk), status=created)

    def _body(self, pk: int) -> dict[str, Any]:
        return dict(PlateletResultSerializer(self.get_queryset().get(pk=pk)).data)

    @extend_schema(request=CorrectionInputSerializer, responses={201: PlateletResultSerializer})
    @action(detail=True, methods=["post"])
    def correct(self, request: Request, pk: str | None = None) -> Response:
        result = self.get_object()
        payload = CorrectionInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        new = services.correct_platelet_result(result_id=result.pk, user=request.user, **payload.validated_data)
        return Response(self._body(new.pk), status=status.HTTP_201_CREATED)

    @extend_schema(request=ReasonInputSerializer, responses={200: PlateletResultSerializer})
    @action(detail=True, methods=["post"], url_path="entered-in-error", url_name="entered-in-error")
    def entered_in_error(self, request: Request, pk: str | None = None) -> Response:
        result = self.get_object()
        payload = ReasonInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.withdraw_platelet_result(result_id=result.pk, user=request.user, **payload.validated_data)
        return Response(self._body(result.pk))

    @extend_schema(request=BleedingInputSerializer, responses={200: PlateletResultSerializer})
    @action(detail=True, methods=["post"])
    def bleeding(self, request: Request, pk: str | None = None) -> Response:
        result = self.get_object()
        payload = BleedingInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.record_bleeding_grade(result_id=result.pk, user=request.user, **payload.validated_data)
        return Response(self._body(result.pk))


class CoTherapyViewSet(viewsets.GenericViewSet[CoTherapy]):
    """``POST /co-therapies/{id}/entered-in-error/`` withdraws a co-therapy with the reason (docs/api.md
    "Patients"); the patient's list is at ``/patients/{id}/co-therapies/``."""

    serializer_class = CoTherapySerializer
    permission_classes = [HasActionPermission]
    action_permissions = {"entered_in_error": "patients.add_cotherapy"}
    queryset = CoTherapy.objects.select_related("recorded_by")

    @extend_schema(request=ReasonInputSerializer, responses={200: CoTherapySerializer})
    @action(detail=True, methods=["post"], url_path="entered-in-error", url_name="entered-in-error")
    def entered_in_error(self, request: Request, pk: str | None = None) -> Response:
        therapy = self.get_object()
        payload = ReasonInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.withdraw_co_therapy(co_therapy_id=therapy.pk, user=request.user, **payload.validated_data)
        return Response(CoTherapySerializer(self.get_queryset().get(pk=therapy.pk)).data)


class PatientCoTherapyViewSet(viewsets.GenericViewSet[Patient]):
    """A patient's co-therapies at ``/patients/{id}/co-therapies/`` (GET the list, POST one): monitoring adds the
    route to patients, as it does to orders, without the patients app importing monitoring."""

    permission_classes = [HasActionPermission]
    action_permissions = {"co_therapies": "patients.view_cotherapy"}
    queryset = Patient.objects.all()
    serializer_class = CoTherapySerializer  # type: ignore[assignment]  # the action answers co-therapies

    @extend_schema(
        request=CoTherapyInputSerializer, responses={200: CoTherapySerializer(many=True), 201: CoTherapySerializer}
    )
    @action(detail=True, methods=["get", "post"], url_path="co-therapies", url_name="co-therapies")
    def co_therapies(self, request: Request, pk: str | None = None) -> Response:
        patient = self.get_object()
        if request.method == "POST":
            payload = CoTherapyInputSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            therapy = services.record_co_therapy(patient_id=patient.pk, user=request.user, data=payload.validated_data)
            return Response(CoTherapySerializer(therapy).data, status=status.HTTP_201_CREATED)
        therapies = CoTherapy.objects.filter(patient=patient).select_related("recorded_by")
        paginator = self.paginator
        assert paginator is not None  # every list is paginated (settings)
        page = paginator.paginate_queryset(therapies, request, view=self)
        return paginator.get_paginated_response(CoTherapySerializer(page, many=True).data)


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
