from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from core.permissions import HasActionPermission
from core.roles import has_permission
from patients import selectors, services
from patients.api.serializers import (
    IVIG_REACTION_KEYS,
    IvigReactionSerializer,
    LabCorrectionSerializer,
    LabInputSerializer,
    LabReasonSerializer,
    LabResultSerializer,
    PatientSerializer,
    WeightSerializer,
)
from patients.models import LabResult, Patient


class PatientViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[Patient],
):
    """Patients: created and edited by nurses and hematologists, read by every role. Never deleted."""

    serializer_class = PatientSerializer
    permission_classes = [HasActionPermission]
    action_permissions = {
        "create": "patients.add_patient",
        "partial_update": "patients.change_patient",
        "update": "patients.change_patient",
        "ivig_reactions": "patients.change_patient",
        "labs": "patients.view_labresult",
    }
    http_method_names = ["get", "post", "patch", "head", "options"]
    search_fields = ["mrn", "given_name", "family_name"]
    ordering_fields = ["family_name", "mrn", "created_at"]
    filterset_fields = ["sex", "cardiac_dysfunction", "renal_impairment", "pregnant", "unit"]

    def get_queryset(self) -> QuerySet[Patient]:
        return selectors.patients_with_weights()

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        patient = services.create_patient(
            data=data,
            user=request.user,
            weight_kg=data.pop("weight_kg", None),
            weight_measured_at=data.pop("weight_measured_at", None),
            overrides=data.pop("overrides", {}),
        )
        return Response(self.get_serializer(self._reload(patient.pk)).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        patient = self.get_object()
        serializer = self.get_serializer(patient, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        services.update_patient(
            patient_id=patient.pk,
            data=data,
            user=request.user,
            weight_kg=data.pop("weight_kg", None),
            weight_measured_at=data.pop("weight_measured_at", None),
            overrides=data.pop("overrides", {}),
        )
        return Response(self.get_serializer(self._reload(patient.pk)).data)

    # The weight and lab histories are whole lists, not pages (pagination_class=None tells the schema so).
    @extend_schema(methods=["GET"], responses={200: WeightSerializer(many=True)})
    @extend_schema(methods=["POST"], request=WeightSerializer, responses={201: WeightSerializer})
    @action(detail=True, methods=["get", "post"], serializer_class=WeightSerializer, pagination_class=None)
    def weights(self, request: Request, pk: str | None = None) -> Response:
        """The weight history, newest first, each with its confirmation; POST records a new weighing (nurses and
        hematologists), refused by weight_change or implausible_body_size until ``overrides`` confirms it."""
        patient = self.get_object()
        if request.method == "POST":
            if not has_permission(request.user, "patients.change_patient"):
                raise PermissionDenied("Your role may not do this.")
            serializer = WeightSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
            weight = services.record_weight(
                patient_id=patient.pk,
                weight_kg=data["weight_kg"],
                measured_at=data.get("measured_at"),
                user=request.user,
                overrides=data.get("overrides", {}),
            )
            return Response(WeightSerializer(weight).data, status=status.HTTP_201_CREATED)
        weights = patient.weights.select_related("recorded_by").order_by("-measured_at", "-pk")
        return Response(WeightSerializer(weights, many=True).data)

    @extend_schema(methods=["GET"], responses={200: LabResultSerializer(many=True)})
    @extend_schema(methods=["POST"], request=LabInputSerializer, responses={201: LabResultSerializer})
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def labs(self, request: Request, pk: str | None = None) -> Response:
        """The patient's creatinine, hemoglobin and blood group results, oldest first (corrections and withdrawn
        ones included); POST records one, converted by the unit sent (docs/clinical-rules.md §A13)."""
        patient = self.get_object()
        if request.method == "POST":
            if not has_permission(request.user, "patients.add_labresult"):
                raise PermissionDenied("Your role may not do this.")
            payload = LabInputSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            lab = services.record_lab_result(patient_id=patient.pk, user=request.user, **payload.validated_data)
            return Response(_lab_body(patient, lab.pk), status=status.HTTP_201_CREATED)
        return Response(LabResultSerializer(selectors.lab_rows(patient), many=True).data)

    def _reload(self, pk: int) -> Patient:
        return self.get_queryset().get(pk=pk)

    @extend_schema(request=IvigReactionSerializer, responses={201: IvigReactionSerializer})
    @action(detail=True, methods=["post"], url_path="ivig-reactions")
    def ivig_reactions(self, request: Request, pk: str | None = None) -> Response:
        """Add a reaction to IVIG given elsewhere to the patient's structured history (nurses, hematologists)."""
        patient = self.get_object()
        serializer = IvigReactionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            report = services.record_reported_ivig_reaction(
                patient_id=patient.pk,
                user=request.user,
                occurred_on=data["date"],
                product=data["product"],
                ctcae_grade=data["ctcae_grade"],
                anaphylaxis=data["anaphylaxis"],
                where=data["where"],
                details=data["details"],
            )
        except ValidationError as exc:
            # The service speaks the model's names; the API says "date" for occurred_on.
            errors = {("date" if field == "occurred_on" else field): m for field, m in exc.message_dict.items()}
            raise ValidationError(errors) from exc
        body = {key: getattr(report, key) for key in IVIG_REACTION_KEYS if key != "date"}
        return Response(
            {"date": report.occurred_on.isoformat(), **body, "details": report.details}, status=status.HTTP_201_CREATED
        )


def _lab_body(patient: Patient, lab_id: int) -> dict[str, Any]:
    patient = Patient.objects.get(pk=patient.pk)
    row = next(row for row in selectors.lab_rows(patient) if row.result.pk == lab_id)
    return dict(LabResultSerializer(row).data)


class LabResultViewSet(viewsets.GenericViewSet[LabResult]):
    """``POST /labs/{id}/correct/`` and ``/labs/{id}/entered-in-error/`` (docs/api.md "Patients"): the earlier
    value stays in the history."""

    permission_classes = [HasActionPermission]
    action_permissions = {"correct": "patients.add_labresult", "entered_in_error": "patients.add_labresult"}
    queryset = LabResult.objects.select_related("patient")
    serializer_class = LabResultSerializer  # rows: the result with its eGFR

    @extend_schema(request=LabCorrectionSerializer, responses={201: LabResultSerializer})
    @action(detail=True, methods=["post"])
    def correct(self, request: Request, pk: str | None = None) -> Response:
        lab = self.get_object()
        payload = LabCorrectionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        new = services.correct_lab_result(lab_id=lab.pk, user=request.user, **payload.validated_data)
        return Response(_lab_body(lab.patient, new.pk), status=status.HTTP_201_CREATED)

    @extend_schema(request=LabReasonSerializer, responses={200: LabResultSerializer})
    @action(detail=True, methods=["post"], url_path="entered-in-error", url_name="entered-in-error")
    def entered_in_error(self, request: Request, pk: str | None = None) -> Response:
        lab = self.get_object()
        payload = LabReasonSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.withdraw_lab_result(lab_id=lab.pk, user=request.user, **payload.validated_data)
        return Response(_lab_body(lab.patient, lab.pk))
