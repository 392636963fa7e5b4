"""The CapabilityStatement served at ``GET /fhir/R4/metadata``, built from the registry of served types so that
it always says exactly what the server does."""

from __future__ import annotations

from typing import Any

from interop.fhir.search import RESOURCE_TYPES, params_of

# When this capability was last changed (CapabilityStatement.date is required).
CAPABILITY_DATE = "2026-11-24"
FHIR_VERSION = "4.0.1"

SECURITY = (
    "Same authentication as /api/v1/: `Authorization: Token <token>` (from POST /api/v1/auth/token/) or the "
    "browser session. Anonymous requests get 401, accounts without a clinical role (nurse, hematologist, "
    "pharmacist) 403. Only this CapabilityStatement is public."
)


def capability_statement(base_url: str) -> dict[str, Any]:
    resources = []
    for rtype in RESOURCE_TYPES.values():
        entry: dict[str, Any] = {"type": rtype.name}
        if rtype.profile:
            entry["profile"] = rtype.profile
        if rtype.supported_profiles:
            entry["supportedProfile"] = list(rtype.supported_profiles)
        entry["interaction"] = [{"code": "read"}, {"code": "search-type"}]
        entry["versioning"] = "no-version"
        entry["readHistory"] = False
        entry["updateCreate"] = False
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
                    "Read by id and search (GET only). Searches return searchset Bundles paged with `_count` "
                    "(default 50, at most 200) and `page`; unknown parameters are ignored unless the request "
                    "sends `Prefer: handling=strict`."
                ),
                "security": {"cors": False, "description": SECURITY},
                "resource": resources,
            }
        ],
    }
