"""FHIR R4 read-only endpoints: ``metadata``, read ``<type>/<id>`` and search ``<type>?...``.

A read carries ``ETag: W/"<versionId>"`` and ``Last-Modified``, and answers ``If-None-Match`` and
``If-Modified-Since`` with 304 Not Modified. A platelet count's Observation also serves its history and each version
(interop/fhir/platelet_versions.py); a later version's former id redirects to the Observation's. A search is strict
unless ``Prefer: handling=lenient`` (search.py). A token of one patient (a SMART patient launch) reads and searches
that patient's compartment only (smart.compartment_patient).

Authentication is an OAuth2 Bearer token (SMART on FHIR, interop/fhir/smart.py), else the project's (API token,
then session); anonymous gets 401 with a ``Bearer`` challenge. Permission is IsClinicalStaff for the token's
account, and a Bearer token needs a scope that reads the type (SMARTReadScope), except ``metadata`` which is public,
as FHIR clients fetch it before authenticating. Every error is an OperationOutcome. The views are left out of the
OpenAPI schema (FHIR is described by its CapabilityStatement).
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import exceptions, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.authentication import ExpiringTokenAuthentication
from core.api.errors import exception_handler as api_exception_handler
from core.oauth import BearerAuthentication
from core.permissions import IsClinicalStaff
from interop.fhir import search, versions
from interop.fhir.bundles import history_bundle, operation_outcome, searchset
from interop.fhir.capability import capability_statement
from interop.fhir.smart import SMARTReadScope, compartment_patient


class FHIRJSONRenderer(JSONRenderer):
    """JSON with FHIR's media type; ``application/json`` is served too (by JSONRenderer) when asked for."""

    media_type = "application/fhir+json"
    format = "fhir+json"


# FHIR's _format parameter (R4 http.html "Content Types and encodings").
_FORMATS = {
    "json": FHIRJSONRenderer,
    "application/fhir+json": FHIRJSONRenderer,
    "application/json+fhir": FHIRJSONRenderer,
    "application/json": JSONRenderer,
}


class FHIRContentNegotiation(DefaultContentNegotiation):
    """The Accept header, overridden by ``_format`` (json forms only; xml and turtle are 406)."""

    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        requested = request.query_params.get("_format")
        if requested:
            wanted = _FORMATS.get(requested.strip())
            for renderer in renderers:
                if wanted is not None and type(renderer) is wanted:
                    return renderer, renderer.media_type
            raise exceptions.NotAcceptable(f"_format {requested!r} is not served: only JSON.")
        return super().select_renderer(request, renderers, format_suffix)


_ISSUE_CODES = {
    status.HTTP_400_BAD_REQUEST: "invalid",
    status.HTTP_401_UNAUTHORIZED: "login",
    status.HTTP_403_FORBIDDEN: "forbidden",
    status.HTTP_404_NOT_FOUND: "not-found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "not-supported",
    status.HTTP_406_NOT_ACCEPTABLE: "not-supported",
    status.HTTP_409_CONFLICT: "conflict",
    status.HTTP_429_TOO_MANY_REQUESTS: "throttled",
}


def fhir_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """The project's handler (status and headers, e.g. WWW-Authenticate), with an OperationOutcome body."""
    response = api_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    detail = data.get("detail") if isinstance(data, dict) and "detail" in data else data
    response.data = operation_outcome(str(detail), _ISSUE_CODES.get(response.status_code, "exception"))
    return response


class FHIRView(APIView):
    # Bearer first: its challenge is the one a 401 carries.
    authentication_classes = [BearerAuthentication, ExpiringTokenAuthentication, SessionAuthentication]
    permission_classes = [IsClinicalStaff, SMARTReadScope]
    renderer_classes = [FHIRJSONRenderer, JSONRenderer]
    content_negotiation_class = FHIRContentNegotiation
    http_method_names = ["get", "head"]
    schema = None  # not part of the /api/v1/ OpenAPI schema

    def get_exception_handler(self) -> Any:
        return fhir_exception_handler

    def base_url(self, request: Request) -> str:
        """The absolute FHIR base, ending in "/"."""
        return request.build_absolute_uri(reverse("fhir-metadata")).removesuffix("metadata")

    def resource_type(self, name: str) -> search.ResourceType:
        rtype = search.RESOURCE_TYPES.get(name)
        if rtype is None:
            served = ", ".join(search.RESOURCE_TYPES)
            raise exceptions.NotFound(f"Resource type {name!r} is not served here (served: {served}).")
        return rtype


def _bad_request(error: search.SearchError) -> Response:
    return Response(operation_outcome(error.message, error.code), status=status.HTTP_400_BAD_REQUEST)


class MetadataView(FHIRView):
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response(capability_statement(self.base_url(request)))


class SearchView(FHIRView):
    def get(self, request: Request, resource_type: str) -> Response:
        rtype = self.resource_type(resource_type)
        query = {name: request.query_params.getlist(name) for name in request.query_params}
        strict = search.strict_handling(request.headers.get("Prefer"))
        try:
            result = search.search(rtype, query, strict=strict, patient_id=compartment_patient(request, rtype.name))
        except search.SearchError as error:
            return _bad_request(error)
        return Response(searchset(result, base_url=self.base_url(request), resource_type=rtype.name))


def _unknown(type_name: str, resource_id: str, patient_id: int | None) -> str:
    if patient_id is None:
        return f"{type_name}/{resource_id} is not known."
    # The same words whether or not it exists: a token of one patient learns nothing of the others.
    return f"{type_name}/{resource_id} is not known in the record of Patient/{patient_id}, this token's patient."


def _moved(request: Request, base_url: str, resource: dict[str, Any], requested_id: str, rest: str = "") -> Response:
    """A resource asked for by another id than its own (a later version's ``plt-<id>`` a client held before a
    result and its corrections were one Observation): 301 to the resource's own URL, which a FHIR client follows
    and can store, rather than the same resource answered under two URLs."""
    location = f"{base_url}{resource['resourceType']}/{resource['id']}{rest}"
    if request.META.get("QUERY_STRING"):
        location += "?" + request.META["QUERY_STRING"]
    outcome = operation_outcome(
        f"{resource['resourceType']}/{requested_id} is {resource['resourceType']}/{resource['id']}: a later version "
        "of the same result.",
        "informational",
        severity="information",
    )
    return Response(outcome, status=status.HTTP_301_MOVED_PERMANENTLY, headers={"Location": location})


def _versioned(request: Request, found: search.Found) -> Response:
    """The resource with its ETag and Last-Modified, or 304 to a matching conditional read."""
    if found.changed_at is None:
        return Response(found.resource)
    headers = {"ETag": versions.etag(found.changed_at), "Last-Modified": versions.last_modified(found.changed_at)}
    if versions.not_modified(request.headers, found.changed_at):
        return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(found.resource, headers=headers)


class ReadView(FHIRView):
    def get(self, request: Request, resource_type: str, resource_id: str) -> Response:
        rtype = self.resource_type(resource_type)
        patient_id = compartment_patient(request, rtype.name)
        found = search.read(rtype, resource_id, patient_id=patient_id)
        if found is None:
            raise exceptions.NotFound(_unknown(rtype.name, resource_id, patient_id))
        if found.resource["id"] != resource_id:
            return _moved(request, self.base_url(request), found.resource, resource_id)
        return _versioned(request, found)


class HistoryView(FHIRView):
    """``GET <type>/<id>/_history`` (R4 http.html "history"): a ``history`` Bundle of every version, newest first;
    and ``GET <type>/<id>/_history/<versionId>`` (vread): one version. Served for platelet count Observations,
    whose corrections are versions; other resources answer 404 (their earlier states are not kept as versions)."""

    def versions(self, request: Request, resource_type: str, resource_id: str) -> list[search.Found]:
        rtype = self.resource_type(resource_type)
        patient_id = compartment_patient(request, rtype.name)
        try:
            found = search.history(rtype, resource_id, patient_id=patient_id)
        except search.HistoryNotKept:
            raise exceptions.NotFound(
                f"{rtype.name}/{resource_id} has no version history here: only platelet count Observations "
                "(plt-<id>) keep theirs. Read the resource for its current version."
            ) from None
        if not found:
            raise exceptions.NotFound(_unknown(rtype.name, resource_id, patient_id))
        return found

    def get(self, request: Request, resource_type: str, resource_id: str, version_id: str | None = None) -> Response:
        found = self.versions(request, resource_type, resource_id)
        current = found[-1].resource
        if current["id"] != resource_id:
            rest = "/_history" + (f"/{version_id}" if version_id is not None else "")
            return _moved(request, self.base_url(request), current, resource_id, rest)
        if version_id is None:
            return Response(
                history_bundle(found, base_url=self.base_url(request), self_url=request.build_absolute_uri())
            )
        for version in found:
            if version.resource["meta"]["versionId"] == version_id:
                return _versioned(request, version)
        raise exceptions.NotFound(
            f"{current['resourceType']}/{resource_id} has no version {version_id} (see its _history)."
        )


class NotServedView(FHIRView):
    """Anything else under the FHIR base (history, operations, the base itself): 404 OperationOutcome."""

    def get(self, request: Request, rest: str = "") -> Response:
        raise exceptions.NotFound(
            f"{request.path} is not served: only metadata, read, search-type, and a platelet count's history and "
            "versions are."
        )
