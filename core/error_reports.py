"""Error reports through Sentry's SDK (``SENTRY_DSN``), with patient data removed before anything is sent.

A report leaves the hospital's network for a service its clinicians do not control, so it keeps what an engineer
needs to find the fault (the exception's type, the stack's file and line, the view, the request id, the user's id)
and drops what could identify a patient: request bodies, query strings, cookies and headers, local variables, the
values of log messages, and the text of exceptions, whose messages can quote a row ("Key (mrn)=(…) already exists").
"""

from __future__ import annotations

from typing import Any

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration

from core.logging import redact_text
from core.request_context import current_request_id

# Headers that tell an engineer something and nothing about a patient.
_KEPT_HEADERS = {"content-type", "content-length", "x-request-id", "accept"}


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sentry's ``before_send``: the event as it may leave the process."""
    request = event.get("request")
    if isinstance(request, dict):
        event["request"] = {
            "method": request.get("method"),
            "url": str(request.get("url", "")).split("?", 1)[0],
            "headers": {k: v for k, v in (request.get("headers") or {}).items() if k.lower() in _KEPT_HEADERS},
        }
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {"id": user["id"]} if "id" in user else {}
    for exception in (event.get("exception") or {}).get("values", []) or []:
        if exception.get("value"):
            exception["value"] = redact_text(str(exception["value"]))
        for frame in (exception.get("stacktrace") or {}).get("frames", []) or []:
            frame.pop("vars", None)
    logentry = event.get("logentry")
    if isinstance(logentry, dict):
        event["logentry"] = {"message": logentry.get("message", "")}
    if "message" in event and isinstance(event["message"], str):
        event["message"] = redact_text(event["message"])
    breadcrumbs = event.get("breadcrumbs")
    if isinstance(breadcrumbs, dict):
        for crumb in breadcrumbs.get("values", []) or []:
            crumb.pop("data", None)
            if crumb.get("message"):
                crumb["message"] = redact_text(str(crumb["message"]))
    event.pop("extra", None)
    request_id = current_request_id()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    return event


def start_error_reports(dsn: str, *, environment: str, traces_sample_rate: float = 0.0, **options: Any) -> None:
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        # Collect nothing personal in the first place; scrub_event then removes what an integration added anyway.
        data_collection={
            "user_info": False,
            "http_bodies": [],
            "database_query_data": False,
            "stack_frame_variables": False,
        },
        max_request_body_size="never",
        traces_sample_rate=traces_sample_rate,
        before_send=scrub_event,  # type: ignore[arg-type]  # Sentry's Event is a TypedDict of this dict
        before_send_transaction=scrub_event,  # type: ignore[arg-type]
        **options,
    )
