"""searchset Bundles and OperationOutcomes (plain dicts)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.utils import timezone

from interop.fhir.resources import instant
from interop.fhir.search import Found, SearchResult


def searchset(result: SearchResult, *, base_url: str, resource_type: str) -> dict[str, Any]:
    """``base_url``: the absolute FHIR base ending in "/". Links carry the applied parameters, ``_count`` and
    ``page``: self, first, previous and next (when they exist), last."""
    type_url = f"{base_url}{resource_type}"

    def link(relation: str, page: int) -> dict[str, str]:
        query = [*result.applied, ("_count", str(result.count)), ("page", str(page))]
        return {"relation": relation, "url": f"{type_url}?{urlencode(query)}"}

    last_page = max(1, -(-result.total // result.count)) if result.count else 1
    links = [link("self", result.page), link("first", 1)]
    if result.page > 1:
        links.append(link("previous", min(result.page - 1, last_page)))
    if result.count and result.page < last_page:
        links.append(link("next", result.page + 1))
    links.append(link("last", last_page))
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "meta": {"lastUpdated": instant(timezone.now())},
        "type": "searchset",
        "timestamp": instant(timezone.now()),
        "total": result.total,
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base_url}{resource['resourceType']}/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
            for resource in result.resources
        ],
    }
    if not bundle["entry"]:
        del bundle["entry"]  # FHIR allows no empty arrays
    return bundle


def history_bundle(found: list[Found], *, base_url: str, self_url: str) -> dict[str, Any]:
    """A ``history`` Bundle (R4 http.html "history") of one resource's versions, given oldest first and listed
    newest first. Each entry carries the request that made the version (the first a create, later ones updates:
    a history Bundle requires request and response) and its response's ETag and time."""
    entries = []
    for number, version in enumerate(found):
        resource = version.resource
        url = f"{resource['resourceType']}/{resource['id']}"
        meta = resource["meta"]
        entries.append(
            {
                "fullUrl": f"{base_url}{url}",
                "resource": resource,
                "request": {"method": "PUT", "url": url}
                if number
                else {"method": "POST", "url": resource["resourceType"]},
                "response": {
                    "status": "200 OK" if number else "201 Created",
                    "etag": f'W/"{meta["versionId"]}"',
                    "lastModified": meta["lastUpdated"],
                },
            }
        )
    return {
        "resourceType": "Bundle",
        "meta": {"lastUpdated": instant(timezone.now())},
        "type": "history",
        "timestamp": instant(timezone.now()),
        "total": len(entries),
        "link": [{"relation": "self", "url": self_url}],
        "entry": entries[::-1],
    }


def operation_outcome(diagnostics: str, code: str = "invalid", severity: str = "error") -> dict[str, Any]:
    """``code`` from the FHIR IssueType value set: invalid, not-found, not-supported, login, forbidden, ..."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }
