from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.errors import validation_error_body
from core.permissions import HasActionPermission
from core.roles import has_permission
from infusions import selectors, services
from infusions.api.serializers import (
    CancelSerializer,
    ChangeProductSerializer,
    CompleteSerializer,
    DoseWorkingSerializer,
    DryRunSerializer,
    FluidBalanceSerializer,
    FluidEntryCreatedSerializer,
    FluidEntryInputSerializer,
    FluidEntrySerializer,
    GtinsInputSerializer,
    HoldReviewSerializer,
    InfusionSerializer,
    LotAdministrationSerializer,
    LotQuerySerializer,
    MoveToUnitSerializer,
    OrderInputSerializer,
    OrderSerializer,
    PauseSerializer,
    ProductSerializer,
    RateSerializer,
    ReactionInputSerializer,
    ReactionSerializer,
    ReasonSerializer,
    RecalculateSerializer,
    ResumeSerializer,
    SafetyTrySerializer,
    SiteValuesInputSerializer,
    StartSerializer,
    StopSerializer,
    VerifySerializer,
    VitalsInputSerializer,
    VitalsSerializer,
)
from infusions.models import Infusion, Order, Product, SafetyRecord


class ProductViewSet(viewsets.ReadOnlyModelViewSet[Product]):
    """The IVIG catalogue shipped with the application. Pharmacy records the site's values for what a label leaves
    unknown, each with its source (``site-values``); a label value is never replaced."""

    queryset = Product.objects.all()
    serializer_class = ProductSerializer
    permission_classes = [HasActionPermission]
    action_permissions = {"site_values": "infusions.change_product", "gtins": "infusions.change_product"}
    search_fields = ["name", "manufacturer"]
    filterset_fields = ["iga_depleted", "itp_indication", "on_formulary"]

    @extend_schema(request=SiteValuesInputSerializer, responses={200: ProductSerializer})
    @action(detail=True, methods=["post"], url_path="site-values", url_name="site-values")
    def site_values(self, request: Request, pk: str | None = None) -> Response:
        product = self.get_object()
        payload = SiteValuesInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            services.record_site_values(product_id=product.pk, user=request.user, **payload.validated_data)
        except DjangoValidationError as exc:
            # A value's error is reported under "values", as DRF reports a dict's entries.
            errors = validation_error_body(exc)
            top = {"source", "values", "non_field_errors"}
            body: dict[str, Any] = {field: messages for field, messages in errors.items() if field in top}
            values = {field: messages for field, messages in errors.items() if field not in top}
            if values:
                body["values"] = values
            raise ValidationError(body) from exc
        return Response(ProductSerializer(Product.objects.get(pk=product.pk)).data)

    @extend_schema(request=GtinsInputSerializer, responses={200: ProductSerializer})
    @action(detail=True, methods=["post"])
    def gtins(self, request: Request, pk: str | None = None) -> Response:
        """Pharmacy records the GTINs of the product's vials, each with its size; the list is replaced and the
        previous one kept in the product's history with its source (docs/clinical-rules.md §A10 vial_mismatch)."""
        product = self.get_object()
        payload = GtinsInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.record_gtins(product_id=product.pk, user=request.user, **payload.validated_data)
        return Response(ProductSerializer(Product.objects.get(pk=product.pk)).data)


class LotViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[Infusion]):
    """Which patients received a lot: every infusion that used a vial of ``?lot=``, oldest first, with the patient,
    that lot's vials and the infusion's reactions (a recall's question; docs/api.md "Lots")."""

    serializer_class = LotAdministrationSerializer
    permission_classes = [HasActionPermission]
    queryset = Infusion.objects.none()  # the schema's model; the list is the lot's

    @extend_schema(parameters=[OpenApiParameter("lot", str, required=True, description="The lot number, whole.")])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        query = LotQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = self.paginate_queryset(selectors.infusions_given_lot(query.validated_data["lot"]))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class OrderViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[Order]):
    serializer_class = OrderSerializer
    permission_classes = [HasActionPermission]
    action_permissions = {
        "create": "infusions.add_order",
        "preview": "infusions.add_order",
        "verify": "infusions.verify_order",
        "cancel": "infusions.cancel_order",
        "recalculate": "infusions.recalculate_order",
        "safety": "infusions.view_order",
        "return_to_prescriber": "infusions.verify_order",
        "hold_review": "infusions.review_hold",
        "change_product": "infusions.change_order_product",
    }
    filterset_fields = ["patient", "status", "regimen", "product", "emergency", "unit"]
    ordering_fields = ["created_at", "first_infusion_on"]

    def get_queryset(self) -> QuerySet[Order]:
        return selectors.orders_with_related()

    @extend_schema(request=OrderInputSerializer, responses={201: OrderSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = OrderInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        overrides = data.pop("overrides", {})
        order = services.create_order(data=data, user=request.user, overrides=overrides)
        return Response(self._read(order.pk), status=status.HTTP_201_CREATED)

    @extend_schema(request=OrderInputSerializer, responses={200: DoseWorkingSerializer})
    @action(detail=False, methods=["post"])
    def preview(self, request: Request) -> Response:
        """The dry run of creation: the dose the order would get, with the stops and warnings it would meet (its
        ``stops`` and ``warnings``); nothing is saved."""
        payload = OrderInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        data.pop("overrides", None)
        working, dry = services.preview_order(data, request.user)
        body = DoseWorkingSerializer(working).data
        # v1's warnings stay a list of messages; the stops and the safety warnings come with their codes.
        body["warnings"] = body["warnings"] + [w["message"] for w in dry["warnings"]]
        return Response({**body, "stops": dry["stops"], "safety_warnings": dry["warnings"]})

    @extend_schema(
        request=None,
        responses={200: DryRunSerializer},
        parameters=[OpenApiParameter("action", str, enum=["verify"], description="The action to try.")],
    )
    @action(detail=True, methods=["get"])
    def safety(self, request: Request, pk: str | None = None) -> Response:
        """The dry run of verification: the stops and warnings it would meet now; nothing changes."""
        order = self.get_object()
        if request.query_params.get("action", "verify") != "verify":
            raise ValidationError({"action": ["Only verify can be tried on an order."]})
        return Response(services.verification_dry_run(order_id=order.pk, user=request.user))

    @extend_schema(request=VerifySerializer, responses={200: OrderSerializer})
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, pk: str | None = None) -> Response:
        order = self.get_object()
        payload = VerifySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.verify_order(order_id=order.pk, user=request.user, overrides=payload.validated_data["overrides"])
        return Response(self._read(order.pk))

    @extend_schema(request=ReasonSerializer, responses={200: OrderSerializer})
    @action(detail=True, methods=["post"], url_path="return", url_name="return")
    def return_to_prescriber(self, request: Request, pk: str | None = None) -> Response:
        """The verifier sends a draft back to its prescriber with the reason, instead of verifying it."""
        order = self.get_object()
        payload = ReasonSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.return_order(order_id=order.pk, user=request.user, reason=payload.validated_data["reason"])
        return Response(self._read(order.pk))

    @extend_schema(request=HoldReviewSerializer, responses={200: OrderSerializer})
    @action(detail=True, methods=["post"], url_path="hold-review", url_name="hold-review")
    def hold_review(self, request: Request, pk: str | None = None) -> Response:
        """A hematologist's review of a course on hold: continue with a reason, or cancel the remaining days."""
        order = self.get_object()
        payload = HoldReviewSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.review_hold(order_id=order.pk, user=request.user, **payload.validated_data)
        return Response(self._read(order.pk))

    @extend_schema(request=CancelSerializer, responses={200: OrderSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        order = self.get_object()
        payload = CancelSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.cancel_order(order_id=order.pk, user=request.user, reason=payload.validated_data["reason"])
        return Response(self._read(order.pk))

    @extend_schema(request=RecalculateSerializer, responses={200: OrderSerializer})
    @action(detail=True, methods=["post"])
    def recalculate(self, request: Request, pk: str | None = None) -> Response:
        """Work the order out again from the current record, catalogue and settings, with the hematologist's changes
        (kept in history); before any infusion has started. A verified order goes back to draft."""
        order = self.get_object()
        payload = RecalculateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        reason, overrides = data.pop("reason", ""), data.pop("overrides", {})
        services.recalculate_order(
            order_id=order.pk, user=request.user, reason=reason, changes=data, overrides=overrides
        )
        return Response(self._read(order.pk))

    @extend_schema(request=ChangeProductSerializer, responses={200: OrderSerializer})
    @action(detail=True, methods=["post"], url_path="change-product", url_name="change-product")
    def change_product(self, request: Request, pk: str | None = None) -> Response:
        """Change the product of an in-progress course's remaining days (a shortage): worked out again on the new
        product and verified again before the next start, which is a product switch."""
        order = self.get_object()
        payload = ChangeProductSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.change_product(order_id=order.pk, user=request.user, **payload.validated_data)
        return Response(self._read(order.pk))

    def _read(self, pk: int) -> dict[str, Any]:
        return OrderSerializer(self.get_queryset().get(pk=pk), context=self.get_serializer_context()).data


class InfusionFilter(filters.FilterSet):  # type: ignore[misc]  # django-filter ships no type hints
    date = filters.DateFilter(field_name="scheduled_for", help_text="Infusions scheduled on this day.")

    class Meta:
        model = Infusion
        fields = ["order", "status", "date", "unit"]


class InfusionViewSet(viewsets.ReadOnlyModelViewSet[Infusion]):
    """Infusions and the bedside actions (nurses): start, vitals, rate, pause/resume, reactions, complete, stop."""

    serializer_class = InfusionSerializer
    permission_classes = [HasActionPermission]
    action_permissions = {
        action_name: "infusions.administer_infusion"
        for action_name in (
            "start",
            "vitals",
            "rate",
            "pause",
            "resume",
            "reactions",
            "complete",
            "stop",
            "safety",
            "withhold",
            "move",
        )
    }
    filterset_class = InfusionFilter
    # The order's patient: each infusion's fluid_balance_ml asks whether a balance is kept for them (§A13), and
    # works it out from the segments, the entries and the course's days (when the balance closes): prefetched, so a
    # page costs the same number of queries however many balances it shows.
    queryset = Infusion.objects.select_related("order__patient", "unit").prefetch_related(
        "vial_lots",
        Prefetch("safety_records", queryset=SafetyRecord.objects.select_related("recorded_by")),
        "rate_segments",
        "fluid_entries",
        "order__infusions",
    )

    def _respond(self, pk: int, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(InfusionSerializer(self.get_queryset().get(pk=pk)).data, status=status_code)

    @extend_schema(request=StartSerializer, responses={200: InfusionSerializer})
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str | None = None) -> Response:
        infusion = self.get_object()
        payload = StartSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        services.start_infusion(
            infusion_id=infusion.pk,
            user=request.user,
            checklist=data["checklist"],
            lot_numbers=data.get("lot_numbers"),
            started_at=data.get("started_at"),
            rate_ml_per_h=data.get("rate_ml_per_h"),
            vials=data.get("vials"),
            barcodes=data.get("barcodes"),
            overrides=data["overrides"],
        )
        return self._respond(infusion.pk)

    @extend_schema(request=SafetyTrySerializer, responses={200: DryRunSerializer})
    @action(detail=True, methods=["post"])
    def safety(self, request: Request, pk: str | None = None) -> Response:
        """The dry run of a bedside action (start, rate, resume, complete) with that action's body: the stops and
        warnings it would meet now; nothing changes."""
        infusion = self.get_object()
        payload = SafetyTrySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return Response(services.bedside_dry_run(infusion_id=infusion.pk, user=request.user, **payload.validated_data))

    @extend_schema(request=VitalsInputSerializer, responses={201: VitalsSerializer})
    @action(detail=True, methods=["post"])
    def vitals(self, request: Request, pk: str) -> Response:
        payload = VitalsInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        values = dict(payload.validated_data)
        taken_at = values.pop("taken_at", None)
        # The service reads and locks the infusion itself; the URL admits only digits.
        try:
            entry = services.record_vitals(infusion_id=int(pk), user=request.user, values=values, taken_at=taken_at)
        except Infusion.DoesNotExist as exc:
            raise NotFound("No such infusion.") from exc
        return Response(VitalsSerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=RateSerializer, responses={200: InfusionSerializer})
    @action(detail=True, methods=["post"])
    def rate(self, request: Request, pk: str | None = None) -> Response:
        infusion = self.get_object()
        payload = RateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.change_rate(
            infusion_id=infusion.pk,
            user=request.user,
            rate_ml_per_h=payload.validated_data["rate_ml_per_h"],
            changed_at=payload.validated_data.get("changed_at"),
            overrides=payload.validated_data["overrides"],
        )
        return self._respond(infusion.pk)

    @extend_schema(request=PauseSerializer, responses={200: InfusionSerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        infusion = self.get_object()
        payload = PauseSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.pause_infusion(
            infusion_id=infusion.pk, user=request.user, paused_at=payload.validated_data.get("paused_at")
        )
        return self._respond(infusion.pk)

    @extend_schema(request=ResumeSerializer, responses={200: InfusionSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        infusion = self.get_object()
        payload = ResumeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.resume_infusion(
            infusion_id=infusion.pk,
            user=request.user,
            rate_ml_per_h=payload.validated_data.get("rate_ml_per_h"),
            resumed_at=payload.validated_data.get("resumed_at"),
            overrides=payload.validated_data["overrides"],
        )
        return self._respond(infusion.pk)

    @extend_schema(request=ReactionInputSerializer, responses={201: ReactionSerializer})
    @action(detail=True, methods=["post"])
    def reactions(self, request: Request, pk: str | None = None) -> Response:
        infusion = self.get_object()
        payload = ReactionInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        reaction = services.record_reaction(infusion_id=infusion.pk, user=request.user, **payload.validated_data)
        return Response(ReactionSerializer(reaction).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CompleteSerializer, responses={200: InfusionSerializer})
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: str | None = None) -> Response:
        infusion = self.get_object()
        payload = CompleteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.complete_infusion(infusion_id=infusion.pk, user=request.user, **payload.validated_data)
        return self._respond(infusion.pk)

    @extend_schema(request=StopSerializer, responses={200: InfusionSerializer})
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str | None = None) -> Response:
        infusion = self.get_object()
        payload = StopSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.stop_infusion(infusion_id=infusion.pk, user=request.user, **payload.validated_data)
        return self._respond(infusion.pk)

    @extend_schema(request=ReasonSerializer, responses={200: InfusionSerializer})
    @action(detail=True, methods=["post"])
    def withhold(self, request: Request, pk: str | None = None) -> Response:
        """Withhold a later day of a course (the day-2 dose when the 24 h count shows response), with the reason."""
        infusion = self.get_object()
        payload = ReasonSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.withhold_infusion(infusion_id=infusion.pk, user=request.user, reason=payload.validated_data["reason"])
        return self._respond(infusion.pk)

    @extend_schema(request=MoveToUnitSerializer, responses={200: InfusionSerializer})
    @action(detail=True, methods=["post"])
    def move(self, request: Request, pk: str | None = None) -> Response:
        """Give this day in another unit (a transfer): the unit it was in stays in its history, with who moved it
        and why; a day already given is refused (409)."""
        infusion = self.get_object()
        payload = MoveToUnitSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.move_infusion_to_unit(
            infusion_id=infusion.pk,
            unit_id=payload.validated_data["unit"].pk,
            user=request.user,
            reason=payload.validated_data["reason"],
        )
        return self._respond(infusion.pk)

    @extend_schema(
        methods=["GET"], request=None, responses={200: FluidBalanceSerializer}, operation_id="infusions_fluid_balance"
    )
    @extend_schema(
        methods=["POST"],
        request=FluidEntryInputSerializer,
        responses={201: FluidEntryCreatedSerializer},
        operation_id="infusions_fluid_entries_create",
    )
    @action(detail=True, methods=["get", "post"], url_path="fluid-entries", url_name="fluid-entries")
    def fluid_entries(self, request: Request, pk: str | None = None) -> Response:
        """The fluid balance kept for cardiac dysfunction, eGFR < 60, volume depletion or sepsis (docs/clinical-
        rules.md §A13 "Fluid"): GET reads it (every role that reads infusions); POST records an intake other than the
        IVIG, or an output (nurses), answering with the entry and the new ``fluid_balance_ml``."""
        infusion = self.get_object()
        if request.method == "POST":
            # The action reads for every clinical role and writes for those who document infusions.
            if not has_permission(request.user, "infusions.administer_infusion"):
                self.permission_denied(request, message="Only nurses document infusions.")
            payload = FluidEntryInputSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            entry = services.record_fluid_entry(infusion_id=infusion.pk, user=request.user, **payload.validated_data)
            body = {
                **FluidEntrySerializer(entry).data,
                "fluid_balance_ml": services.fluid_balance_ml(self.get_queryset().get(pk=infusion.pk)),
            }
            return Response(body, status=status.HTTP_201_CREATED)
        report = services.fluid_balance(infusion)
        if report is None:
            empty = {"ivig_ml": None, "intake_ml": None, "output_ml": None, "as_of": None, "closes_at": None}
            return Response(
                FluidBalanceSerializer(
                    {
                        "fluid_balance_ml": None,
                        "kept_because": list(services.fluid_balance_reasons(infusion.order)),
                        "started_at": infusion.started_at,
                        "entries": [],
                        **empty,
                    }
                ).data
            )
        return Response(
            FluidBalanceSerializer(
                {
                    "fluid_balance_ml": report.balance_ml,
                    "kept_because": list(report.reasons),
                    "started_at": report.started_at,
                    "closes_at": report.closes_at,
                    "as_of": report.at,
                    "ivig_ml": report.ivig_ml,
                    "intake_ml": report.intake_ml,
                    "output_ml": report.output_ml,
                    "entries": report.rows,
                }
            ).data
        )
