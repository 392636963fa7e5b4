"""Log formats: ``LOG_FORMAT=json`` (one JSON object per line, for a log collector) or ``text`` (for a terminal).

Log lines carry ids (user, patient, order, infusion), never names or MRNs: a log store is read by people who are not
the patient's clinicians and is kept longer than the clinical record's access audit would allow.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

from pythonjsonlogger.json import JsonFormatter

from core.request_context import current_request_id

# The parts of an exception's text that quote data: quoted strings, "=(value)" details (a database's "Key (mrn)=(…)
# already exists") and runs of three digits or more (MRNs, dates of birth). A row id may be redacted with them: an id
# lost from a traceback costs little beside an MRN kept in a log store.
_QUOTED = re.compile(r"""(['"`]).*?\1|=\(.*?\)|\d{3,}""")


def redact_text(text: str) -> str:
    return _QUOTED.sub("[redacted]", text)


class TextFormatter(logging.Formatter):
    """The terminal's format; a traceback's quoted values are redacted as in JSON."""

    def formatException(self, ei: object) -> str:  # noqa: N802 (logging's API)
        return redact_text(super().formatException(ei))  # type: ignore[arg-type]


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record: the web request's, or the one a task inherited from it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = current_request_id()
        return True


class JsonLineFormatter(JsonFormatter):
    """One JSON object per line with the time in UTC (ISO 8601), level, logger, message, request id and extras."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s")
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", False)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def process_log_record(self, log_data: dict[str, object]) -> dict[str, object]:
        # Django's request logger attaches the request, whose text includes the query string (a searched MRN).
        log_data.pop("request", None)
        return log_data

    def formatException(self, ei: object) -> str:  # noqa: N802 (logging's API)
        return redact_text(super().formatException(ei))  # type: ignore[arg-type]

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 (logging's API)
        return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")
