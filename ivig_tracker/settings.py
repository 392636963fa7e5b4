"""IVIG Tracker settings, read from the environment (README: "Configuration").

With no environment at all the embedded default runs: SQLite in ``var/`` and Celery's filesystem broker, so
``make run`` works on a bare machine. Production sets DATABASE_URL (PostgreSQL), CELERY_BROKER_URL (Redis),
SECRET_KEY and ALLOWED_HOSTS.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import fields as dataclass_fields
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import csp.constants
import django_stubs_ext

from core.env import Env, SettingsError
from core.sign_in_rules import SignInConfigError, parse_group_roles, parse_two_factor_roles
from infusions.safety_rules import SafetyConfig
from patients.rules import BodySizeConfig

# Lets Django's generic classes be subscripted at run time as django-stubs types them (admin.ModelAdmin[Heartbeat]).
django_stubs_ext.monkeypatch()

env = Env()


def _aware_datetime(name: str, raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an ISO 8601 date-time, got {raw!r}") from exc
    if value.tzinfo is None:
        raise SettingsError(f"{name} must carry its offset (e.g. +01:00 or Z), got {raw!r}")
    return value


BASE_DIR = Path(__file__).resolve().parent.parent
# Runtime files of the embedded default (SQLite, the filesystem broker, beat's schedule, collected static).
VAR_DIR = BASE_DIR / env.str("IVIG_VAR_DIR", "var")
(VAR_DIR / "static").mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DJANGO_DEBUG", False)

SECRET_KEY = env.str("SECRET_KEY", None)
if SECRET_KEY is None:
    if not DEBUG:
        raise SettingsError("SECRET_KEY is required when DJANGO_DEBUG is off")
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production-0123456789"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "oauth2_provider",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "simple_history",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "mozilla_django_oidc",
    "core",
    "ivig_tracker",
    "patients",
    "infusions",
    "monitoring",
    "dashboards",
    "interop",
]

MIDDLEWARE = [
    "core.middleware.ForwardedHeadersFromTrustedProxies",  # first: SecurityMiddleware reads X-Forwarded-Proto
    # It times the whole request and gives every log line below it the request id.
    "core.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "core.middleware.RefuseNulCharactersMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Adds request.user.is_verified(): whether this session has given its second factor.
    "django_otp.middleware.OTPMiddleware",
    "core.no_store.NoStoreMiddleware",
    "core.middleware.PageLoginRequiredMiddleware",
    "core.middleware.TwoFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "ivig_tracker.urls"
WSGI_APPLICATION = "ivig_tracker.wsgi.application"
ASGI_APPLICATION = "ivig_tracker.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ivig_tracker.context_processors.clinical_context",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------------------------
DATABASES = {"default": env.database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'ivig_tracker.sqlite3'}")}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Web, worker and beat share one SQLite file in the embedded default: WAL lets readers run beside the
    # writer, and IMMEDIATE transactions take the write lock up front instead of failing mid-transaction.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    # An OLTP workload: PostgreSQL's JIT spends ~170 ms compiling the dashboard's big-but-fast queries
    # (benchmarks/dashboards.py); it only pays off for long analytical scans.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth ------------------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", 12 * 60 * 60, minimum=60)  # one clinical shift

# --- Two-factor authentication (core/two_factor.py; SECURITY.md "Two-factor authentication") ---------------
# Accounts holding one of these roles give a code from an authenticator app (TOTP) or a one-time recovery code after
# their password, on every page, the admin and the API token endpoint. "admin" means staff and superusers.
IVIG_TWO_FACTOR_ROLES = env.list("IVIG_TWO_FACTOR_ROLES", ["hematologist", "pharmacist", "admin"])
try:
    IVIG_TWO_FACTOR_REQUIRED_ROLES = parse_two_factor_roles(IVIG_TWO_FACTOR_ROLES)
except SignInConfigError as exc:
    raise SettingsError(f"IVIG_TWO_FACTOR_ROLES: {exc}") from exc
# "off" is for a laptop demo only: refused unless DJANGO_DEBUG is on, so production always requires it.
IVIG_TWO_FACTOR = env.str("IVIG_TWO_FACTOR", "required")
if IVIG_TWO_FACTOR not in {"required", "off"}:
    raise SettingsError(f"IVIG_TWO_FACTOR={IVIG_TWO_FACTOR!r} must be required or off")
if IVIG_TWO_FACTOR == "off" and not DEBUG:
    raise SettingsError("IVIG_TWO_FACTOR=off is only allowed with DJANGO_DEBUG=true (a demo); production requires it")
# The name authenticator apps show beside the account.
OTP_TOTP_ISSUER = env.str("IVIG_TWO_FACTOR_ISSUER", "IVIG Tracker")
IVIG_RECOVERY_CODE_COUNT = 10
# IT resets devices in the admin; it never needs to see their secrets or QR codes.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# --- Single sign-on through OpenID Connect (core/sso.py; README "Single sign-on") -----------------------------
# On only when a client id is given. Endpoints come from the provider's discovery document or one by one.
OIDC_RP_CLIENT_ID = env.str("OIDC_RP_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = env.str("OIDC_RP_CLIENT_SECRET", "")
OIDC_OP_DISCOVERY_ENDPOINT = env.str("OIDC_OP_DISCOVERY_ENDPOINT", "")
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("OIDC_OP_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = env.str("OIDC_OP_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = env.str("OIDC_OP_USER_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = env.str("OIDC_OP_JWKS_ENDPOINT", "")
# The ID tokens' iss; taken from discovery when not set. Set it when the endpoints are given one by one.
OIDC_OP_ISSUER = env.str("OIDC_OP_ISSUER", "")
OIDC_RP_SIGN_ALGO = env.str("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env.str("OIDC_RP_SCOPES", "openid email profile")
OIDC_USE_PKCE = True
OIDC_TIMEOUT = env.int("OIDC_TIMEOUT_SECONDS", 10, minimum=1)
OIDC_CALLBACK_CLASS = "core.sso.HospitalCallbackView"
OIDC_AUTHENTICATE_CLASS = "core.sso.HospitalAuthenticationRequestView"
LOGIN_REDIRECT_URL_FAILURE = "/sso/refused/"
# The claim naming the hospital's groups, the claim that becomes the local username, and which group gives which role.
IVIG_OIDC_GROUPS_CLAIM = env.str("IVIG_OIDC_GROUPS_CLAIM", "groups")
IVIG_OIDC_USERNAME_CLAIM = env.str("IVIG_OIDC_USERNAME_CLAIM", "preferred_username")
_oidc_group_roles = env.str("IVIG_OIDC_GROUP_ROLES", "")
try:
    IVIG_OIDC_GROUP_ROLES = parse_group_roles(_oidc_group_roles) if _oidc_group_roles else {}
except SignInConfigError as exc:
    raise SettingsError(f"IVIG_OIDC_GROUP_ROLES: {exc}") from exc
# Off by default: our own TOTP is still asked after single sign-on. On, a sign-in whose amr claim holds one of
# IVIG_OIDC_MFA_AMR_VALUES counts as the second factor (the hospital's sign-in service did MFA).
IVIG_OIDC_TRUST_IDP_MFA = env.bool("IVIG_OIDC_TRUST_IDP_MFA", False)
IVIG_OIDC_MFA_AMR_VALUES = env.list("IVIG_OIDC_MFA_AMR_VALUES", ["mfa"])
IVIG_SSO_ENABLED = bool(OIDC_RP_CLIENT_ID)
if IVIG_SSO_ENABLED:
    if not OIDC_RP_CLIENT_SECRET:
        raise SettingsError("OIDC_RP_CLIENT_SECRET is required when OIDC_RP_CLIENT_ID is set")
    _endpoints = [OIDC_OP_AUTHORIZATION_ENDPOINT, OIDC_OP_TOKEN_ENDPOINT, OIDC_OP_USER_ENDPOINT, OIDC_OP_JWKS_ENDPOINT]
    if not OIDC_OP_DISCOVERY_ENDPOINT and not all(_endpoints):
        raise SettingsError(
            "single sign-on needs OIDC_OP_DISCOVERY_ENDPOINT, or all of OIDC_OP_AUTHORIZATION_ENDPOINT, "
            "OIDC_OP_TOKEN_ENDPOINT, OIDC_OP_USER_ENDPOINT and OIDC_OP_JWKS_ENDPOINT"
        )
    if not IVIG_OIDC_GROUP_ROLES:
        raise SettingsError("IVIG_OIDC_GROUP_ROLES is required when OIDC_RP_CLIENT_ID is set (group=role pairs)")
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
if IVIG_SSO_ENABLED:
    AUTHENTICATION_BACKENDS.insert(0, "core.sso.HospitalOIDCBackend")

# --- Time: stored in UTC, shown in the hospital's zone ---------------------------------------------------
USE_TZ = True
TIME_ZONE = env.timezone("HOSPITAL_TIME_ZONE", "UTC")
LANGUAGE_CODE = "en-gb"
USE_I18N = True

# --- Static files: served by the application itself (WhiteNoise), never from a CDN -----------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = True  # serve straight from the apps when collectstatic has not run (make run)

# --- Security (check --deploy passes with DEBUG off and the defaults below) ------------------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^livez$"]  # load balancers probe over plain HTTP inside the network
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", False) else None
# The addresses (or networks) of the reverse proxy in front of the application: X-Forwarded-Proto, -For and -Host
# are believed from these only, and dropped from anyone else (core.middleware.ForwardedHeadersFromTrustedProxies),
# so a client reaching the application directly cannot claim HTTPS or another address. docker-compose.yml sets
# nginx's network.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", ["127.0.0.1", "::1"])
try:
    TRUSTED_PROXY_NETWORKS = [ipaddress.ip_network(address, strict=False) for address in TRUSTED_PROXIES]
except ValueError as exc:
    raise SettingsError(f"TRUSTED_PROXIES: {exc} (give IP addresses or networks such as 10.0.0.0/24)") from exc
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp; SECURITY.md "Browser protections"): scripts only from our own static files,
# never inline and never eval, so a name or note that slipped past escaping cannot run. Styles allow 'unsafe-inline'
# for the style="" attributes of the templates and Swagger UI's <style>: CSS cannot run script. Images allow data:
# (Swagger UI's icons). No form-action: the OAuth authorisation form's redirect to a SMART app is legitimate.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.constants.SELF],
        "script-src": [csp.constants.SELF],
        "style-src": [csp.constants.SELF, csp.constants.UNSAFE_INLINE],
        "img-src": [csp.constants.SELF, "data:"],
        "font-src": [csp.constants.SELF],
        "connect-src": [csp.constants.SELF],
        "object-src": [csp.constants.NONE],
        "base-uri": [csp.constants.SELF],
        "frame-ancestors": [csp.constants.NONE],
    }
}

# --- Email -----------------------------------------------------------------------------------------------
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", "localhost")
EMAIL_PORT = env.int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "ivig-tracker@localhost")
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise SettingsError("EMAIL_USE_TLS and EMAIL_USE_SSL are mutually exclusive")

# --- REST API --------------------------------------------------------------------------------------------
# Request bodies (docs/api.md "Limits"): the largest body Django and the API read, in bytes (Django's default, 2.5 MB;
# the API answers a larger one 413), and how deeply JSON arrays and objects may nest (deeper is 400: an order or a
# set of vitals nests three or four levels, and Python's json parser recurses once per level). nginx's
# client_max_body_size (deploy/nginx/nginx.conf, 2560k) matches the default: change the two together.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440, minimum=1024)
IVIG_API_MAX_JSON_DEPTH = env.int("IVIG_API_MAX_JSON_DEPTH", 32, minimum=4)

REST_FRAMEWORK: dict[str, Any] = {
    # Token first: its WWW-Authenticate header is what turns an anonymous request into 401 rather than 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.api.authentication.ExpiringTokenAuthentication",
        # OAuth2 Bearer tokens (read-only here, core/oauth.py); the FHIR views put Bearer first (their challenge).
        "core.oauth.APIBearerAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.IsClinicalStaff"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.StandardPagination",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    # DRF's parsers, with JSON bounded in size, depth and numbers (core/api/parsers.py, docs/api.md "Limits").
    "DEFAULT_PARSER_CLASSES": [
        "core.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # docs/api.md: weights, doses and counts are JSON numbers, not strings.
    "COERCE_DECIMAL_TO_STRING": False,
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

# The MLLP listener's limits: connections served at once, seconds before a connection without a message is closed
# (bytes that complete no message do not count), seconds a message has to arrive whole from its first byte (a
# slow-trickling sender is then refused with an AR, or closed when no header arrived), seconds a connection beyond
# the limit waits for a free one before it is refused with an AR, and how many may wait (beyond: refused at once).
IVIG_HL7_MAX_CONNECTIONS = env.int("IVIG_HL7_MAX_CONNECTIONS", 16, minimum=1)
IVIG_HL7_IDLE_TIMEOUT_SECONDS = env.int("IVIG_HL7_IDLE_TIMEOUT_SECONDS", 300, minimum=1)
IVIG_HL7_MESSAGE_DEADLINE_SECONDS = env.int("IVIG_HL7_MESSAGE_DEADLINE_SECONDS", 60, minimum=1)
IVIG_HL7_BUSY_WAIT_SECONDS = env.int("IVIG_HL7_BUSY_WAIT_SECONDS", 30, minimum=0)
IVIG_HL7_MAX_WAITING_CONNECTIONS = env.int("IVIG_HL7_MAX_WAITING_CONNECTIONS", 256, minimum=0)
# The largest HL7 message or batch POST /api/v1/hl7/oru/ reads, in bytes: a larger one is answered 413 with an AR.
# A platelet result is a few hundred bytes; a megabyte is the MLLP listener's limit too.
IVIG_HL7_HTTP_MAX_BODY_BYTES = env.int("IVIG_HL7_HTTP_MAX_BODY_BYTES", 1_048_576, minimum=1024)

# --- FHIR R4 out (interop/fhir) ----------------------------------------------------------------------------
# The system of the hospital's MRNs (Patient.identifier.system): set it per hospital, e.g. its MRN OID as urn:oid:...;
# empty serves the MRN without a system.
IVIG_FHIR_MRN_SYSTEM = env.str("IVIG_FHIR_MRN_SYSTEM", "http://hospital.example.org/mrn")

# --- OAuth2 and SMART on FHIR (django-oauth-toolkit at /o/; core/oauth.py, interop/fhir/smart.py) ---------------
# Applications are registered by IT in the admin: a system integration as confidential + client credentials, acting
# as the Application's user (an integration account with a clinical role); an app as authorization code, acting as
# the user who signs in and authorises it. Seconds an access token lives:
IVIG_OAUTH_ACCESS_TOKEN_SECONDS = env.int("IVIG_OAUTH_ACCESS_TOKEN_SECONDS", 3600, minimum=60)
OAUTH2_PROVIDER: dict[str, Any] = {
    # The SMART v1 read scopes (per-type ones, e.g. system/Observation.read, follow from the served FHIR types).
    "SCOPES": {
        "launch/patient": "Open one patient's record, the patient you choose",
        "patient/*.read": "Read the FHIR resources of one patient",
        "user/*.read": "Read the FHIR resources you may read",
        "system/*.read": "Read all FHIR resources (backend services)",
        "introspection": "Introspect access tokens (resource servers)",
    },
    "DEFAULT_SCOPES": [],
    "SCOPES_BACKEND_CLASS": "interop.fhir.smart.SMARTScopes",
    # core.oauth.ActingUserValidator, carrying a SMART patient launch's patient to its token.
    "OAUTH2_VALIDATOR_CLASS": "interop.fhir.launch.PatientLaunchValidator",
    "ACCESS_TOKEN_EXPIRE_SECONDS": IVIG_OAUTH_ACCESS_TOKEN_SECONDS,
    # An app's refresh token lasts one clinical shift, like a browser session; a replayed one revokes its family.
    "REFRESH_TOKEN_EXPIRE_SECONDS": SESSION_COOKIE_AGE,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "PKCE_REQUIRED": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
    "ALLOW_URI_WILDCARDS": False,
    # RFC 9700 (OAuth 2.0 Security BCP) throughout: no implicit or password grant, S256 PKCE only, tokens only in
    # the Authorization header, `iss` in authorization responses, tokens stored hashed.
    **{
        f"COMPLIANT_BCP_RFC9700_{gate}": True
        for gate in (
            "IMPLICIT_GRANT",
            "PASSWORD_GRANT",
            "PKCE_METHOD",
            "ACCESS_TOKEN_TRANSPORT",
            "AUTHZ_RESPONSE_ISS",
            "TOKEN_STORAGE",
            "REFRESH_TOKEN",
            "REDIRECT_URI_SCHEME",
            "REDIRECT_URI_MATCHING",
            "PKCE_REQUIRED",
        )
    },
}
# django-oauth-toolkit's own models, named so that interop's SMART patient context (beside its grants and access
# tokens) can refer to them; these are its defaults.
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"

SPECTACULAR_SETTINGS = {
    "TITLE": "IVIG Tracker API",
    "DESCRIPTION": "Public REST API v1 of IVIG Tracker (docs/api.md is the contract).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several fields are named "kind": each choice set gets its own name in the schema.
    "ENUM_NAME_OVERRIDES": {
        "CoTherapyKindEnum": "patients.models.CoTherapyKind",
        # Platelet checks and lab checks share their statuses.
        "CheckStatusEnum": "monitoring.models.CheckStatus",
        # A course's IWG response category, a check's and a result's.
        "CategoryEnum": "monitoring.models.ResponseCategory",
    },
    # The refusals (400, 401, 403, 404, 409, 413, 415) and their bodies, which the views cannot show.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.add_error_responses",
    ],
}

# --- Celery (every setting CELERY_-namespaced; docs/architecture.md "The reminder pipeline") ---------------
CELERY_BROKER_URL = env.broker_url("CELERY_BROKER_URL", "filesystem://")
_broker_scheme = CELERY_BROKER_URL.split("://", 1)[0]
if _broker_scheme == "filesystem":
    _broker_dir = VAR_DIR / "celery-broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # kombu's default control folder is ./control, in the working directory: keep it under var/ too.
        "control_folder": str(_broker_dir / "control"),
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
else:
    # Above the longest task plus all its retries, so Redis never redelivers a message still being worked on.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "worker-heartbeat": {
        "task": "core.tasks.record_heartbeat",
        "schedule": 60.0,
        "args": ("worker",),
        "options": {"expires": 50},
    },
}

# --- Clinical configuration (docs/clinical-rules.md defaults; each a hospital setting) ------------------------
IVIG_DOSING_WEIGHT_POLICY = env.str("IVIG_DOSING_WEIGHT_POLICY", "adjusted_above_ideal")
if IVIG_DOSING_WEIGHT_POLICY not in {"adjusted_above_ideal", "adjusted_if_bmi_over_30", "actual"}:
    raise SettingsError(
        "IVIG_DOSING_WEIGHT_POLICY must be adjusted_above_ideal, adjusted_if_bmi_over_30 or actual, "
        f"got {IVIG_DOSING_WEIGHT_POLICY!r}"
    )
IVIG_IGA_DEFICIENCY_CUTOFF_MG_DL = env.decimal("IVIG_IGA_DEFICIENCY_CUTOFF_MG_DL", Decimal("7"))
IVIG_MAX_WEIGHT_AGE_DAYS = env.int("IVIG_MAX_WEIGHT_AGE_DAYS", 30, minimum=1)
# The moment the v2 safety stops were switched on: orders verified before it were verified under v1, and a start stop
# caused only by data v1 did not collect is a warning for them (docs/clinical-rules.md §A8 "Upgrade"). Unset: every
# order is a v2 order. An ISO 8601 date-time with its offset, e.g. 2026-12-01T06:00:00+01:00.
IVIG_SAFETY_STOPS_SINCE = _aware_datetime("IVIG_SAFETY_STOPS_SINCE", env.str("IVIG_SAFETY_STOPS_SINCE", None))

# Safety stops (docs/clinical-rules.md §A8-A10): every number of infusions.safety_rules.SafetyConfig may be set as
# IVIG_SAFETY_<NAME>, e.g. IVIG_SAFETY_HIGH_DOSE_ABOVE_G=120. The weight's maximum age keeps its older name.
IVIG_SAFETY: dict[str, object] = {"weight_max_age_days": IVIG_MAX_WEIGHT_AGE_DAYS}
for _field in dataclass_fields(SafetyConfig):
    _name = f"IVIG_SAFETY_{_field.name.upper()}"
    if _name in os.environ:
        _default = getattr(SafetyConfig(), _field.name)
        IVIG_SAFETY[_field.name] = env.decimal(_name) if isinstance(_default, Decimal) else env.int(_name, minimum=1)
try:
    SafetyConfig(**IVIG_SAFETY)  # type: ignore[arg-type]  # values are typed by the loop above
except ValueError as exc:
    raise SettingsError(f"IVIG_SAFETY_*: {exc}") from exc

# Recording body size (docs/clinical-rules.md §A9): every number of patients.rules.BodySizeConfig may be set as
# IVIG_BODY_SIZE_<NAME>, e.g. IVIG_BODY_SIZE_WEIGHT_CHANGE_PERCENT=10.
IVIG_BODY_SIZE: dict[str, object] = {}
for _field in dataclass_fields(BodySizeConfig):
    _name = f"IVIG_BODY_SIZE_{_field.name.upper()}"
    if _name in os.environ:
        _default = getattr(BodySizeConfig(), _field.name)
        IVIG_BODY_SIZE[_field.name] = env.decimal(_name) if isinstance(_default, Decimal) else env.int(_name, minimum=1)

# --- Health ----------------------------------------------------------------------------------------------
HEALTH_BROKER_TIMEOUT_SECONDS = env.int("HEALTH_BROKER_TIMEOUT_SECONDS", 3, minimum=1)

# --- Logs, metrics and error reports (docs/architecture.md "Operations") ------------------------------------
# LOG_FORMAT=json: one JSON object per line (time in UTC, level, logger, message, request_id and the line's fields),
# for a hospital's log collector; text for a terminal. Lines carry ids, never patient names or MRNs.
LOG_FORMAT = env.str("LOG_FORMAT", "text")
if LOG_FORMAT not in ("json", "text"):
    raise SettingsError(f"LOG_FORMAT must be json or text, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.logging.RequestIdFilter"}},
    "formatters": {
        "text": {
            "()": "core.logging.TextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
        "json": {"()": "core.logging.JsonLineFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Our one line per request replaces the development server's own (which prints the path and its query).
        "django.server": {"level": "WARNING"},
        # 4xx warnings repeat the request line; server errors (with their traceback) still come through.
        "django.request": {"level": "ERROR"},
    },
}

# /metrics (Prometheus text format): answered to a scraper that sends this bearer token, or from these networks.
# With neither a token nor a network the page answers 403 to everyone.
IVIG_METRICS_TOKEN = env.str("IVIG_METRICS_TOKEN", "")
IVIG_METRICS_ALLOWED_NETWORKS = env.list("IVIG_METRICS_ALLOWED_NETWORKS", ["127.0.0.1/32", "::1/128"])
for _network in IVIG_METRICS_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as _exc:
        raise SettingsError(f"IVIG_METRICS_ALLOWED_NETWORKS: {_network!r} is not a network ({_exc})") from _exc

# Error reports to Sentry (or a compatible service) when SENTRY_DSN is set, with patient data scrubbed before
# anything leaves the process (core/error_reports.py).
SENTRY_DSN = env.str("SENTRY_DSN", "")
if SENTRY_DSN:
    from core.error_reports import start_error_reports

    start_error_reports(
        SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", "production"),
        traces_sample_rate=float(env.decimal("SENTRY_TRACES_SAMPLE_RATE", Decimal("0"))),
    )

# --- Notifications and reminders (docs/architecture.md "The reminder pipeline") --------------------------
# A hospital's transition from v1 clients: a start naming lot numbers only, without its vials, is taken with the
# warning vials_not_detailed instead of refused (docs/api.md "Breaking changes for v1 clients").
IVIG_V1_START_COMPAT = env.bool("IVIG_V1_START_COMPAT", False)
IVIG_EMAIL_NOTIFICATIONS = env.bool("IVIG_EMAIL_NOTIFICATIONS", True)
IVIG_WEBHOOK_URL = env.http_url("IVIG_WEBHOOK_URL", "")  # http:// or https:// with a host, or empty (no webhook)
IVIG_WEBHOOK_SECRET = env.str("IVIG_WEBHOOK_SECRET", "")
if IVIG_WEBHOOK_URL and not IVIG_WEBHOOK_SECRET:
    raise SettingsError("IVIG_WEBHOOK_SECRET is required when IVIG_WEBHOOK_URL is set (requests are signed)")
IVIG_WEBHOOK_TIMEOUT_SECONDS = env.int("IVIG_WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
IVIG_SWEEP_INTERVAL_SECONDS = env.int("IVIG_SWEEP_INTERVAL_SECONDS", 60, minimum=5)
IVIG_SWEEP_BATCH_SIZE = env.int("IVIG_SWEEP_BATCH_SIZE", 200, minimum=1)
# A claimed delivery whose worker died is returned to pending after this lease (the reaper).
IVIG_DELIVERY_LEASE_SECONDS = env.int("IVIG_DELIVERY_LEASE_SECONDS", 300, minimum=10)
# /healthz turns 503 when the sweep has not ticked for this long (3 minutes by default).
IVIG_SWEEP_STALE_AFTER_SECONDS = env.int("IVIG_SWEEP_STALE_AFTER_SECONDS", 180, minimum=30)
# docs/clinical-rules.md §A6: a check is overdue 12 hours after its due time without a result.
IVIG_CHECK_OVERDUE_AFTER_HOURS = env.int("IVIG_CHECK_OVERDUE_AFTER_HOURS", 12, minimum=1)
# §A12: the follow-up checks at 14 and 28 days (on unless a hospital turns them off), overdue 72 h after their
# due time, reminded to the ordering hematologist, or to the members of this group when one is named.
IVIG_FOLLOW_UP_CHECKS = env.bool("IVIG_FOLLOW_UP_CHECKS", True)
IVIG_FOLLOW_UP_OVERDUE_AFTER_HOURS = env.int("IVIG_FOLLOW_UP_OVERDUE_AFTER_HOURS", 72, minimum=1)
IVIG_FOLLOW_UP_GROUP = env.str("IVIG_FOLLOW_UP_GROUP", "")
# §A9 "Emergency orders": an order on an estimated weight with no weight recorded this long after it was written
# reminds the nurses and the prescriber to weigh the patient (weigh_patient, found by the sweep).
IVIG_WEIGH_PATIENT_AFTER_HOURS = env.int("IVIG_WEIGH_PATIENT_AFTER_HOURS", 12, minimum=1)

CELERY_BEAT_SCHEDULE["reminder-sweep"] = {
    "task": "monitoring.tasks.sweep_reminders",
    "schedule": float(IVIG_SWEEP_INTERVAL_SECONDS),
    # Shorter than the interval: a tick that could not run in time is dropped, never stacked.
    "options": {"expires": max(IVIG_SWEEP_INTERVAL_SECONDS - 10, 5)},
}

# --- HL7 v2 results in (interop/hl7) -----------------------------------------------------------------------
# Laboratory codes (OBX-3) that mean "platelet count" from any facility, besides LOINC 777-3, 26515-7 and 778-1, e.g.
# "PLT,PLTC". Codes are better mapped per sending facility in the admin (local observation codes).
IVIG_HL7_LOCAL_PLATELET_CODES = env.list("IVIG_HL7_LOCAL_PLATELET_CODES", [])
# The processing ID (MSH-11) this system records: P in production; a test system sets T (or D). A message with
# another one is refused with AR and kept, never recorded.
IVIG_HL7_PROCESSING_ID = env.str("IVIG_HL7_PROCESSING_ID", "P")
# A result closes the open check whose due time is nearest its collection time within this many hours either
# side; otherwise it is an ad hoc result of the patient's active order.
IVIG_HL7_MATCH_WINDOW_HOURS = env.int("IVIG_HL7_MATCH_WINDOW_HOURS", 12, minimum=1)

# --- Sign-in protection, API throttling and API token lifetimes (SECURITY.md "Sign-in and API tokens") -----
# Before core, whose admin replaces knox's token admin.
INSTALLED_APPS[INSTALLED_APPS.index("core") : INSTALLED_APPS.index("core")] = ["axes", "knox"]
# django-axes wants its backend first: it refuses a locked-out account before any password is hashed.
AUTHENTICATION_BACKENDS.insert(0, "axes.backends.AxesStandaloneBackend")  # before single sign-on's, if any
# Last, as its docs say: it turns a request that axes flagged as locked out into the lockout answer.
MIDDLEWARE.append("axes.middleware.AxesMiddleware")

# The source address the lockout and the throttles count is the connecting one, or the one a proxy listed in
# TRUSTED_PROXIES (above) appended to X-Forwarded-For (core/client_ip.py).

# Wrong passwords on the sign-in page, the admin's and POST /api/v1/auth/token/ (django-axes, recorded in the
# database): the IVIG_LOGIN_FAILURE_LIMIT-th failure for one account, or from one source, locks it for
# IVIG_LOGIN_COOLOFF_MINUTES; hospital IT unlocks sooner in the admin ("Access attempts").
IVIG_LOGIN_FAILURE_LIMIT = env.int("IVIG_LOGIN_FAILURE_LIMIT", 5, minimum=1)
IVIG_LOGIN_COOLOFF_MINUTES = env.int("IVIG_LOGIN_COOLOFF_MINUTES", 15, minimum=1)
IVIG_LOGIN_LOCKOUT_PARAMETERS = env.list("IVIG_LOGIN_LOCKOUT_PARAMETERS", ["username", "ip_address"])
if not IVIG_LOGIN_LOCKOUT_PARAMETERS or not set(IVIG_LOGIN_LOCKOUT_PARAMETERS) <= {"username", "ip_address"}:
    raise SettingsError(
        f"IVIG_LOGIN_LOCKOUT_PARAMETERS must be username, ip_address or both, got {IVIG_LOGIN_LOCKOUT_PARAMETERS!r}"
    )
AXES_ENABLED = env.bool("IVIG_LOGIN_PROTECTION", True)
AXES_FAILURE_LIMIT = IVIG_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=IVIG_LOGIN_COOLOFF_MINUTES)
# Each parameter counts on its own: too many failures for one account (from anywhere) or from one source (on any
# account) lock it.
AXES_LOCKOUT_PARAMETERS = IVIG_LOGIN_LOCKOUT_PARAMETERS
AXES_RESET_ON_SUCCESS = True
# The audit IT reads in the admin: every successful sign-in (access logs) and every failure (access failure logs,
# the last 1000 per username), kept when a success or an unlock clears the counting attempts.
AXES_ENABLE_ACCESS_FAILURE_LOG = True
# Attempts made while locked are refused without extending the lock: the cool-off the user was told stays true.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "core.client_ip.request_client_ip"
AXES_LOCKOUT_CALLABLE = "core.lockout.lockout_response"
AXES_VERBOSE = False
# Failures and lockouts (WARNING) reach the log for the hospital's security monitoring; each success's INFO does not.
LOGGING["loggers"]["axes"] = {"level": "WARNING"}  # type: ignore[index]

# Every process shares one cache, so a throttle counts all of a client's requests whichever worker serves them:
# Redis when CACHE_URL is set (e.g. redis://redis:6379/1, a database apart from the broker's), else files in var/.
CACHES = {"default": env.cache("CACHE_URL", VAR_DIR / "cache")}

# Requests per user (signed in; an interface account has its own, higher, rate) and per source (anonymous); the
# token endpoint has its own, stricter, rate per source, on top of the lockout. A number and a period: second,
# minute, hour or day, e.g. 600/minute.
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = [
    "core.api.throttling.SourceAnonRateThrottle",
    "core.api.throttling.SourceUserRateThrottle",
]
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "anon": env.str("IVIG_API_THROTTLE_ANON", "60/minute"),
    "user": env.str("IVIG_API_THROTTLE_USER", "600/minute"),
    "interface": env.str("IVIG_API_THROTTLE_INTERFACE", "6000/minute"),
    "token": env.str("IVIG_API_THROTTLE_TOKEN", "10/minute"),
}
for _scope, _rate in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].items():
    _count, _, _period = _rate.partition("/")
    if not (_count.isdigit() and int(_count) > 0 and _period in {"second", "minute", "hour", "day"}):
        raise SettingsError(f"IVIG_API_THROTTLE_{_scope.upper()} must be like 600/minute (second, minute, hour or day)")

# API tokens (django-rest-knox, stored hashed): they end after these many hours, and with a password change or a
# deactivated account. Interface accounts (members of the "interface" group: a laboratory engine, an integration)
# keep theirs longer, because nobody is there to sign in again at 3 a.m.
IVIG_API_TOKEN_HOURS = env.int("IVIG_API_TOKEN_HOURS", 12, minimum=1)
IVIG_INTERFACE_TOKEN_HOURS = env.int("IVIG_INTERFACE_TOKEN_HOURS", 30 * 24, minimum=1)
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=IVIG_API_TOKEN_HOURS),
    "AUTH_HEADER_PREFIX": "Token",  # docs/api.md fixes `Authorization: Token <token>`
    "AUTO_REFRESH": False,
}

# Expired tokens are refused either way; they are kept a week (the admin shows who had one), then deleted.
IVIG_EXPIRED_TOKENS_KEPT_DAYS = env.int("IVIG_EXPIRED_TOKENS_KEPT_DAYS", 7, minimum=0)
CELERY_BEAT_SCHEDULE["expired-api-tokens"] = {
    "task": "core.tasks.delete_expired_api_tokens",
    "schedule": 3600.0,
    "options": {"expires": 3000},
}
