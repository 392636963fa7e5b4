"""The request id that ties one web request to the log lines and the Celery tasks it causes.

A context variable, so each thread (gunicorn's workers, the HL7 listener's connections) and each task sees its own.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("ivig_request_id", default="")

# A proxy's X-Request-ID is kept only when it looks like an id: it lands in every log line, so no free text.
_ACCEPTABLE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

# The Celery message header that carries the id from the request into its tasks.
TASK_HEADER = "ivig_request_id"


def new_request_id() -> str:
    return uuid.uuid4().hex


def accepted_request_id(offered: str | None) -> str:
    """The proxy's id when it is well formed, else a new one."""
    if offered and _ACCEPTABLE_ID.match(offered):
        return offered
    return new_request_id()


def current_request_id() -> str:
    return request_id_var.get()
