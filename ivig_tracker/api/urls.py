"""The /api/v1/ router: each app registers its viewsets here."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

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

router = DefaultRouter()
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
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:api-schema"), name="api-docs"),
    path("", include(router.urls)),
]
