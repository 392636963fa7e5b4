"""One exception handler so that every error has the shape of docs/api.md and nothing becomes a 500."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.api.authentication import TokenExpired
from core.errors import Conflict, SafetyStopped


def validation_error_body(exc: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {
            ("non_field_errors" if field == "__all__" else field): [str(m) for m in messages]
            for field, messages in exc.message_dict.items()
        }
    return {"non_field_errors": [str(m) for m in exc.messages]}


def safety_stopped_response(exc: SafetyStopped, sent: Collection[str]) -> Response:
    """403 for an override from the wrong role; 400 with field errors when the stops concern values sent in the
    request (or an override reason was blank); else 409. Every body lists the stops (docs/api.md "Safety stops")."""
    stops = [stop.as_dict() for stop in exc.stops]
    if exc.forbidden:
        return Response({"detail": exc.detail, "stops": stops}, status=status.HTTP_403_FORBIDDEN)
    if exc.blank_reasons or exc.concerns_sent_values(sent):
        return Response({**exc.field_errors(), "stops": stops}, status=status.HTTP_400_BAD_REQUEST)
    return Response({"detail": exc.detail, "stops": stops}, status=status.HTTP_409_CONFLICT)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, SafetyStopped):
        request = context.get("request")
        data: Any = getattr(request, "data", None)
        sent: set[str] = set(data.keys()) if data is not None and hasattr(data, "keys") else set()
        # A start's barcodes (or a v1 client's lot numbers) stand for its vials: vial_mismatch and vials_missing
        # name "vials" (docs/api.md "Infusions").
        if sent & {"barcodes", "lot_numbers"}:
            sent.add("vials")
        return safety_stopped_response(exc, sent)
    if isinstance(exc, Conflict):
        return Response({"detail": exc.detail}, status=status.HTTP_409_CONFLICT)
    # Django refuses an oversized body when DRF reads it (request.body): in the API's shape, not Django's HTML 400.
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            {"detail": f"The request body is larger than {limit} bytes, the most this server accepts."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, TooManyFieldsSent):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        return Response(validation_error_body(exc), status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, list):
        # DRF answers a ValidationError raised with a bare message (a search term with a NUL character) as a list:
        # the API's shape is an object, whatever raised it.
        response.data = {"non_field_errors": response.data}
    # A code a client can act on without parsing the message: wait (Retry-After), or sign in again.
    if response is not None and isinstance(response.data, dict) and isinstance(exc, CODED_ERRORS):
        response.data["code"] = exc.default_code
    return response


# docs/api.md "Errors": 429 {"detail", "code": "throttled"}; 401 {"detail", "code": "token_expired"}.
CODED_ERRORS = (exceptions.Throttled, TokenExpired)
