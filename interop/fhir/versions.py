"""Change tracking of served resources: ``meta.lastUpdated``, ``meta.versionId``, and conditional reads.

A resource's last change is the latest django-simple-history row of the record it is served from. Bulk writes
record their history rows too (``core.history``), but a model with ``updated_at`` still counts it, in case a row
was changed without one (data written before those history rows existed, or by hand), and a record with no
history row at all falls back to its ``created_at``. The time is worked out in SQL, as an annotation of the queryset
that loads or filters the rows: a search page costs no query more. A change to another record that a resource
shows (the patient's name in ``subject.display``) leaves the version as it was.

``meta.versionId`` is that time in microseconds since 1970: it increases with every change that either a history
row or ``updated_at`` records. A count of history rows, or the latest history id, would not: neither moves when
the sweep turns a scheduled check into a due one, and a client's cached Task would then be answered "304 Not
Modified" although its status had changed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import models
from django.db.models import F, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils.http import http_date, parse_etags, parse_http_date_safe

from interop.fhir.resources import instant

CHANGED_AT = "fhir_changed_at"  # the annotation
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _field_names(model: type[models.Model]) -> set[str]:
    return {f.name for f in model._meta.get_fields()}


def last_changed(model: type[models.Model]) -> Any:
    """An expression for the time of a row's latest change (see the module docstring)."""
    history = model.history  # type: ignore[attr-defined]  # every served model has ``history = HistoricalRecords()``
    latest = Subquery(
        history.filter(id=OuterRef("pk")).order_by().values("id").annotate(latest=Max("history_date")).values("latest"),
        output_field=models.DateTimeField(),
    )
    fields = _field_names(model)
    if "updated_at" in fields:
        # Greatest alone would be NULL on some databases when the row has no history row: Coalesce first.
        return Greatest(Coalesce(latest, F("updated_at")), F("updated_at"))
    if "created_at" in fields:
        return Coalesce(latest, F("created_at"))
    return latest


def with_last_changed(queryset: models.QuerySet) -> models.QuerySet:
    return queryset.annotate(**{CHANGED_AT: last_changed(queryset.model)})


def version_id(changed_at: datetime) -> str:
    return str((changed_at - _EPOCH) // timedelta(microseconds=1))


def stamp(resource: dict[str, Any], changed_at: datetime | None) -> dict[str, Any]:
    """The resource with ``meta.versionId`` and ``meta.lastUpdated`` first in its meta (a profile is kept)."""
    if changed_at is None:
        return resource
    meta = {
        "versionId": version_id(changed_at),
        "lastUpdated": instant(changed_at),
        **{k: v for k, v in resource.get("meta", {}).items() if k not in ("versionId", "lastUpdated")},
    }
    stamped = {"resourceType": resource["resourceType"], "id": resource["id"], "meta": meta}
    stamped.update((k, v) for k, v in resource.items() if k not in stamped)
    return stamped


def etag(changed_at: datetime) -> str:
    """FHIR's weak ETag of a version (R4 http.html "read"): ``W/"<versionId>"``."""
    return f'W/"{version_id(changed_at)}"'


def last_modified(changed_at: datetime) -> str:
    return http_date(changed_at.timestamp())


def not_modified(headers: Any, changed_at: datetime) -> bool:
    """A conditional read (RFC 9110 §13.2.2): If-None-Match when sent, compared weakly (a client may send the ETag
    with or without ``W/``, or ``*``); otherwise If-Modified-Since, to the second as Last-Modified is."""
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        current = version_id(changed_at)
        return any(tag == "*" or tag.removeprefix("W/").strip('"') == current for tag in parse_etags(if_none_match))
    since = parse_http_date_safe(headers.get("If-Modified-Since") or "")
    return since is not None and int(changed_at.timestamp()) <= since
