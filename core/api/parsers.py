"""The API's JSON parser, bounded: a body larger than Django's DATA_UPLOAD_MAX_MEMORY_SIZE is refused with 413, JSON
nested deeper than IVIG_API_MAX_JSON_DEPTH with 400, and NaN or Infinity (which Python's json reads) with 400, each
in the API's error shape and before anything is parsed or changed (docs/api.md "Limits").

DRF reads a request body from the raw stream, past the check Django applies to ``request.body``, so the size limit
is applied here; and Python's json parser recurses once per level, so a body nested a thousand deep would exhaust
the interpreter's recursion limit (a 500) unless the depth is counted first, without recursion.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

# A JSON string (skipped whole, escapes included) or one bracket: the brackets outside strings give the depth.
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def read_bounded(stream: Any, limit: int) -> bytes:
    """The whole body, or RequestTooLarge as soon as it proves longer than ``limit`` bytes (a chunked body has no
    Content-Length to check first)."""
    if stream is None:
        return b""
    payload: bytes = stream.read(limit + 1)
    if len(payload) > limit:
        raise RequestTooLarge(f"The request body is larger than {limit} bytes, the most this server accepts.")
    return payload


def nesting_depth_exceeds(text: str, limit: int) -> bool:
    """Whether arrays and objects nest deeper than ``limit`` anywhere in ``text`` (brackets inside strings do not
    count). Counted iteratively, so that any depth is measured without recursion."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return True
        elif token in "]}":
            depth -= 1
    return False


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number: send a finite number")


class BoundedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        payload = read_bounded(stream, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        try:
            text = payload.decode(encoding)
        except (LookupError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - the body is not valid {encoding} text.") from exc
        limit = settings.IVIG_API_MAX_JSON_DEPTH
        if nesting_depth_exceeds(text, limit):
            raise ParseError(f"JSON parse error - arrays and objects may nest at most {limit} levels deep.")
        try:
            return json.loads(text, parse_constant=_refuse_constant)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
