from __future__ import annotations

from django.urls import path

from infusions import views

urlpatterns = [
    path("new/", views.order_create, name="order-create"),
    path("preview/", views.order_preview, name="order-preview"),
    path("verify/", views.verification_queue, name="verification-queue"),
    path("<int:pk>/", views.order_detail, name="order-detail"),
    path("<int:pk>/working/", views.order_working_fragment, name="order-working"),
    path("<int:pk>/verify/", views.order_verify, name="order-verify"),
    path("<int:pk>/cancel/", views.order_cancel, name="order-cancel"),
    path("<int:pk>/recalculate/", views.order_recalculate, name="order-recalculate"),
    path("<int:pk>/return/", views.order_return, name="order-return"),
    path("<int:pk>/hold-review/", views.order_hold_review, name="order-hold-review"),
    path("<int:pk>/change-product/", views.order_change_product, name="order-change-product"),
    path("catalogue/", views.catalogue, name="product-catalogue"),
    path("catalogue/<int:pk>/", views.catalogue_record, name="product-site-values"),
    path("catalogue/<int:pk>/gtins/", views.catalogue_gtins, name="product-gtins"),
    path("for-patient/<int:patient_id>/", views.patient_orders, name="patient-orders"),
    path("infusions/<int:pk>/", views.infusion_bedside, name="infusion-bedside"),
    path("infusions/<int:pk>/move/", views.infusion_move, name="infusion-move"),
    path(
        "infusions/<int:pk>/<str:action>/",
        views.bedside_action,
        name="infusion-action",
    ),
]
