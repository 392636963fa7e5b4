"""The CapabilityStatement served at ``GET /fhir/R4/metadata``, built from the registry of served types so that
it always says exactly what the server does."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from interop.fhir.search import RESOURCE_TYPES, params_of

# When this capability was last changed (CapabilityStatement.date is required).
CAPABILITY_DATE = "2026-12-01"
FHIR_VERSION = "4.0.1"

SECURITY = (
    "SMART on FHIR (App Launch 2.x, v1 scopes): `Authorization: Bearer <access token>` from the token endpoint, "
    "with client credentials for backend services (scope system/*.read or system/<type>.read) or the "
    "authorization-code flow with PKCE S256 for apps (user/*.read or user/<type>.read); discovery at "
    ".well-known/smart-configuration. Standalone patient launch: an app asking for launch/patient with "
    "patient/*.read or patient/<type>.read has the authorising clinician choose the patient (by MRN) on the "
    "consent page; the token response carries `patient`, and the token reads that patient's compartment only "
    "(the Patient and the resources whose subject it is: another patient's resource is 404, searches are "
    "restricted to the patient). The project's `Authorization: Token <token>` (from POST /api/v1/auth/token/) "
    "and the browser session work too. Anonymous requests and expired or revoked tokens get 401; accounts without a "
    "clinical role (nurse, hematologist, pharmacist), tokens without a read scope for the type and patient/ tokens "
    "without a patient get 403. Only this CapabilityStatement and the SMART configuration are public."
)
SECURITY_SERVICE_SYSTEM = "http://terminology.hl7.org/CodeSystem/restful-security-service"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def security(base_url: str) -> dict[str, Any]:
    """rest.security: the SMART-on-FHIR service and its OAuth endpoints (the oauth-uris extension)."""

    # The origin: the FHIR base without its path (reverse() gives both paths with any script prefix).
    origin = base_url.removesuffix(reverse("fhir-metadata").removesuffix("metadata"))

    def absolute(name: str) -> str:
        return origin + reverse(name)

    return {
        "extension": [
            {
                "url": OAUTH_URIS,
                "extension": [
                    {"url": "token", "valueUri": absolute("oauth2_provider:token")},
                    {"url": "authorize", "valueUri": absolute("oauth2_provider:authorize")},
                    {"url": "revoke", "valueUri": absolute("oauth2_provider:revoke-token")},
                    {"url": "introspect", "valueUri": absolute("oauth2_provider:introspect")},
                ],
            }
        ],
        "cors": False,
        "service": [
            {
                "coding": [{"system": SECURITY_SERVICE_SYSTEM, "code": "SMART-on-FHIR", "display": "SMART-on-FHIR"}],
                "text": "OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)",
            }
        ],
        "description": SECURITY,
    }


def capability_statement(base_url: str) -> dict[str, Any]:
    resources = []
    for rtype in RESOURCE_TYPES.values():
        entry: dict[str, Any] = {"type": rtype.name}
        if rtype.profile:
            entry["profile"] = rtype.profile
        if rtype.supported_profiles:
            entry["supportedProfile"] = list(rtype.supported_profiles)
        entry["interaction"] = [{"code": "read"}, {"code": "search-type"}]
        entry["versioning"] = "versioned"
        entry["readHistory"] = False
        if rtype.name == "Observation":
            # A platelet count's corrections are its versions (interop/fhir/platelet_versions.py); the other
            # Observations answer their _history with 404, as the documentation says.
            entry["interaction"] += [{"code": "vread"}, {"code": "history-instance"}]
            entry["readHistory"] = True
            entry["documentation"] = (
                "A platelet count (plt-<id>) is one Observation whatever its corrections: its status goes "
                "preliminary, final, corrected (or entered-in-error when withdrawn), its versions are at "
                "_history and _history/<versionId>, and a later version's former id redirects (301) to it. "
                "Other Observations have no history (404)."
            )
        entry["updateCreate"] = False
        entry["conditionalRead"] = "full-support"  # If-None-Match and If-Modified-Since
        entry["searchParam"] = [
            {"name": name, "type": param.type, "documentation": param.documentation}
            for name, param in params_of(rtype).items()
        ]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "id": "ivig-tracker",
        "name": "IVIGTrackerFHIRServer",
        "title": "IVIG Tracker FHIR R4 API (read-only)",
        "status": "active",
        "experimental": False,
        "date": CAPABILITY_DATE,
        "publisher": "IVIG Tracker",
        "description": (
            "Read-only FHIR R4 view of IVIG Tracker: patients, platelet counts, vital signs and weights, IVIG "
            "orders and their administrations, platelet-check tasks and non-response flags."
        ),
        "kind": "instance",
        "software": {"name": "IVIG Tracker"},
        "implementation": {"description": "IVIG Tracker FHIR R4 API", "url": base_url.rstrip("/")},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Read by id and search (GET only); a platelet count's Observation also has its history and "
                    "versions. Searches return searchset Bundles paged with `_count` "
                    "(default 50, at most 200) and `page`. Handling is strict: an unsupported parameter, modifier "
                    "or chain is a 400 OperationOutcome naming it, unless the request sends "
                    "`Prefer: handling=lenient`, which ignores it (the self link shows only the parameters applied). "
                    'Reads carry `ETag: W/"<versionId>"` and `Last-Modified` and answer `If-None-Match` and '
                    "`If-Modified-Since` with 304."
                ),
                "security": security(base_url),
                "resource": resources,
            }
        ],
    }
