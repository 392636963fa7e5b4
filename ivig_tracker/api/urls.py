"""The /api/v1/ router: each app registers its viewsets here."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from core.api.tokens import ObtainTokenView, TokenDetailView, TokenListView
from core.api.units import UnitViewSet
from infusions.api.views import InfusionViewSet, LotViewSet, OrderViewSet, ProductViewSet
from monitoring.api.views import (
    CoTherapyViewSet,
    LabCheckViewSet,
    NotificationViewSet,
    OrderResponseViewSet,
    PatientCoTherapyViewSet,
    PlateletCheckViewSet,
    PlateletResultViewSet,
)
from patients.api.views import LabResultViewSet, PatientViewSet


@csrf_exempt
def not_an_api_path(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Whatever no route matches under /api/v1/ (a non-numeric id included) is 404 in the API's shape, not
    Django's HTML page, for every method and whoever asks."""
    return JsonResponse({"detail": "Not found."}, status=404)


class NumericIdRouter(DefaultRouter):
    """Every id in a URL is ASCII digits: anything else is 404 before a view runs. (Python's int() and a regex's
    \\d also read other scripts' digits, so /infusions/١/ would otherwise reach infusion 1.)"""

    def get_lookup_regex(self, viewset: Any, lookup_prefix: str = "") -> str:
        lookup_url_kwarg = getattr(viewset, "lookup_url_kwarg", None) or getattr(viewset, "lookup_field", "pk")
        return f"(?P<{lookup_prefix}{lookup_url_kwarg}>[0-9]+)"


router = NumericIdRouter()
router.register("patients", PatientViewSet, basename="patient")
# Monitoring's route under /patients/{id}/ (co-therapies): no list or detail route of its own.
router.register("patients", PatientCoTherapyViewSet, basename="patient-co-therapies")
router.register("co-therapies", CoTherapyViewSet, basename="co-therapy")
router.register("labs", LabResultViewSet, basename="lab")
router.register("products", ProductViewSet, basename="product")
router.register("orders", OrderViewSet, basename="order")
# Monitoring's routes under /orders/{id}/ (response, repeat-decision): no list or detail route of its own.
router.register("orders", OrderResponseViewSet, basename="order-response")
router.register("infusions", InfusionViewSet, basename="infusion")
router.register("lots", LotViewSet, basename="lot")
router.register("platelet-checks", PlateletCheckViewSet, basename="platelet-check")
router.register("lab-checks", LabCheckViewSet, basename="lab-check")
router.register("platelet-results", PlateletResultViewSet, basename="platelet-result")
router.register("notifications", NotificationViewSet, basename="notification")
router.register("units", UnitViewSet, basename="unit")

urlpatterns = [
    path("auth/token/", ObtainTokenView.as_view(), name="api-token"),
    path("auth/tokens/", TokenListView.as_view(), name="api-tokens"),
    path("auth/tokens/<str:token_key>/", TokenDetailView.as_view(), name="api-token-detail"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file: the Content-Security-Policy allows no inline script.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:api-schema"), name="api-docs"),
    path("", include(router.urls)),
    # [\s\S], not ".": a path with an encoded newline (%0A) is answered in the same shape.
    re_path(r"^[\s\S]*$", not_an_api_path, name="api-not-found"),
]
