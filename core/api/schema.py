"""The error answers every API operation can give, written into the OpenAPI schema (docs/api.md "Errors").

drf-spectacular documents the success answers it can see in the views; the refusals come from the exception handler,
the parsers and the permission classes, which it cannot see. A client generated from the schema, or a fuzzer that
checks every answer against it, must find each refusal documented with its body.
"""

from __future__ import annotations

from typing import Any

FIELD_ERRORS = "FieldErrors"
DETAIL_ERROR = "DetailError"

STOPS_PROPERTY: dict[str, Any] = {
    "type": "array",
    "description": 'Every safety stop the request raised (docs/api.md "Safety stops and refusal codes").',
    "items": {"type": "object", "additionalProperties": True},
}

ERROR_COMPONENTS: dict[str, Any] = {
    FIELD_ERRORS: {
        "type": "object",
        "description": (
            "A refused request: each field at fault with its messages (`non_field_errors` for the request as a "
            "whole), or `detail` alone for a body that could not be read (malformed or too deeply nested JSON, "
            "NaN or Infinity, a non-text HL7 body)."
        ),
        "properties": {
            "detail": {"type": "string"},
            "non_field_errors": {"type": "array", "items": {"type": "string"}},
            "stops": STOPS_PROPERTY,
        },
        # A nested input (vitals in a start, one vial of several) answers with its own errors, by field or index.
        "additionalProperties": {"anyOf": [{"type": "array"}, {"type": "object"}, {"type": "string"}]},
    },
    DETAIL_ERROR: {
        "type": "object",
        "description": "Why the request was refused, in words; `stops` when safety stops refused it.",
        "properties": {"detail": {"type": "string"}, "stops": STOPS_PROPERTY},
        "required": ["detail"],
    },
}

ALWAYS = {
    "400": (FIELD_ERRORS, "The request is malformed or a value is refused; nothing was changed."),
    "401": (DETAIL_ERROR, "No or invalid credentials."),
    "403": (DETAIL_ERROR, "The account's role may not do this."),
    "429": (
        DETAIL_ERROR,
        "Too many requests or sign-in attempts: wait for Retry-After (code throttled or locked_out).",
    ),
}
WITH_ID_OR_PAGE = {"404": (DETAIL_ERROR, "No such object, or no such page of a list.")}
WITH_BODY = {
    "409": (DETAIL_ERROR, "The object's current state forbids the action; nothing was changed."),
    "413": (DETAIL_ERROR, "The body is larger than this server accepts."),
    "415": (DETAIL_ERROR, "The body is not in a media type this operation reads."),
}
WRITE_METHODS = {"post", "put", "patch", "delete"}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: add the refusals each operation can answer, leaving any an operation
    documents itself (the HL7 endpoint's) as they are."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, component in ERROR_COMPONENTS.items():
        schemas.setdefault(name, component)
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in {"get", "head", *WRITE_METHODS}:
                continue
            parameters = operation.get("parameters", [])
            answers = dict(ALWAYS)
            # An unknown id, page or ?format= (DRF answers an unknown format suffix 404).
            if any(p.get("in") == "path" or p.get("name") in {"page", "format"} for p in parameters):
                answers.update(WITH_ID_OR_PAGE)
            if method in WRITE_METHODS:
                answers.update(WITH_BODY)
            responses = operation.setdefault("responses", {})
            # A refusal is rendered as the operation renders its answers: JSON, or text where it answers text.
            media_types = {media for answer in responses.values() for media in answer.get("content", {})}
            for code, (component, description) in answers.items():
                content: dict[str, Any] = {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}
                }
                if "text/plain" in media_types:
                    content["text/plain"] = {"schema": {"type": "string"}}
                responses.setdefault(code, {"description": description, "content": content})
    return result
