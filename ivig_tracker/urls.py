from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from oauth2_provider import views as oauth_views

from core import health, sso, two_factor, two_factor_views
from dashboards import views as dashboard_views
from interop.fhir import launch, smart
from ivig_tracker import metrics, views

admin.site.site_header = "IVIG Tracker administration"
admin.site.site_title = "IVIG Tracker admin"

# django-oauth-toolkit's endpoints that SMART on FHIR uses, under its own namespace (no device flow, no client
# self-registration or management pages: IT registers Applications in the admin). The consent page asks for the
# patient of a SMART patient launch (interop/fhir/launch.py).
oauth_urlpatterns = [
    path("authorize/", launch.PatientLaunchAuthorizationView.as_view(), name="authorize"),
    path("token/", oauth_views.TokenView.as_view(), name="token"),
    path("revoke_token/", oauth_views.RevokeTokenView.as_view(), name="revoke-token"),
    path("introspect/", oauth_views.IntrospectTokenView.as_view(), name="introspect"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("account/tokens/", views.account_tokens, name="account-tokens"),
    path("logout/", two_factor.two_factor_exempt(auth_views.LogoutView.as_view()), name="logout"),
    path("account/two-factor/setup/", two_factor_views.two_factor_setup, name="two-factor-setup"),
    path("account/two-factor/verify/", two_factor_views.two_factor_verify, name="two-factor-verify"),
    path("account/two-factor/recovery-codes/", two_factor_views.recovery_codes, name="two-factor-recovery-codes"),
    # Single sign-on (core/sso.py): the views answer 404 unless OIDC_RP_CLIENT_ID is set. The names are
    # mozilla-django-oidc's own, which it reverses.
    path(
        "oidc/authenticate/",
        login_not_required(two_factor.two_factor_exempt(sso.HospitalAuthenticationRequestView.as_view())),
        name="oidc_authentication_init",
    ),
    path(
        "oidc/callback/",
        login_not_required(two_factor.two_factor_exempt(sso.HospitalCallbackView.as_view())),
        name="oidc_authentication_callback",
    ),
    path("sso/refused/", sso.sso_refused, name="sso-refused"),
    path("nurse/", dashboard_views.nurse_worklist, name="nurse-home"),
    path("hematology/", dashboard_views.hematologist_dashboard, name="hematologist-home"),
    path("hematology/patients/<int:patient_id>/", dashboard_views.patient_response, name="patient-response"),
    path(
        "hematology/patients/<int:patient_id>/results/<int:result_id>/<slug:action>/",
        dashboard_views.response_result_action,
        name="patient-result-action",
    ),
    path(
        "hematology/patients/<int:patient_id>/co-therapies/",
        dashboard_views.response_co_therapy,
        name="patient-co-therapy",
    ),
    path("pharmacy/", dashboard_views.pharmacist_dashboard, name="pharmacist-home"),
    path("pharmacy/lots/", dashboard_views.lot_recall, name="lot-recall"),
    path("pharmacy/orders.csv", dashboard_views.orders_csv, name="orders-csv"),
    path("patients/", include("patients.urls")),
    path("orders/", include("infusions.urls")),
    path("monitoring/", include("monitoring.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("livez", health.livez, name="livez"),
    path("admin/", admin.site.urls),
    # Namespaced: the router names (patient-list, ...) would otherwise shadow the pages of the same name.
    path("api/v1/hl7/", include("interop.hl7.urls")),
    path("api/v1/", include(("ivig_tracker.api.urls", "api"), namespace="api")),
    path("fhir/R4/", include("interop.fhir.urls")),
    path("o/", include((oauth_urlpatterns, "oauth2_provider"))),
    path(".well-known/smart-configuration", smart.smart_configuration, name="smart-configuration"),
]
