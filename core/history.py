"""Who changed a clinical record, and why: the attributes django-simple-history reads on the next save, and the
history rows of the writes it cannot see (``bulk_create`` and ``QuerySet.update``).

simple_history looks for ``_history_user`` and ``_change_reason`` on the instance being saved, and skips the
history row when ``skip_history_when_saving`` is set. They are dynamic attributes the Django stubs cannot see, so
they are set here, in one typed place, rather than with an ignore at every call site.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Model, QuerySet

# The attribute names django-simple-history reads (simple_history/models.py).
_HISTORY_USER = "_history_user"
_CHANGE_REASON = "_change_reason"
_SKIP_HISTORY = "skip_history_when_saving"


# simple_history's history_change_reason column holds 100 characters; a longer reason would fail the save on
# PostgreSQL. Reasons are cut to fit: the full clinical reason is kept on the record itself where it matters.
CHANGE_REASON_MAX_LENGTH = 100


def attribute_change(instance: Model, user: Any, reason: str | None = None) -> None:
    """Record ``user`` (and ``reason``, when given) on the history row the next ``save()`` of ``instance`` writes."""
    setattr(instance, _HISTORY_USER, user)
    if reason is not None:
        if len(reason) > CHANGE_REASON_MAX_LENGTH:
            reason = reason[: CHANGE_REASON_MAX_LENGTH - 1] + "…"
        setattr(instance, _CHANGE_REASON, reason)


@contextmanager
def history_skipped(instance: Model) -> Iterator[None]:
    """Saves of ``instance`` inside the block write no history row."""
    setattr(instance, _SKIP_HISTORY, True)
    try:
        yield
    finally:
        delattr(instance, _SKIP_HISTORY)


def update_with_history(
    queryset: QuerySet[Any],
    *,
    reason: str,
    user: Any = None,
    at: datetime | None = None,
    skip_locked: bool = False,
    **changes: Any,
) -> int:
    """``queryset.update(**changes)`` that also writes one history row per changed record.

    ``QuerySet.update`` is one statement and sends no signal, so django-simple-history never sees it: a status the
    sweep or a cancellation moved that way left no trace. Here the rows are locked first (in primary-key order, so
    two callers cannot deadlock), updated in one statement as before, read back and written to history in one bulk
    insert: a fixed number of queries whatever the number of rows. With ``skip_locked`` a row another transaction
    holds is left for the next call (the sweep's way: it comes back every minute) instead of waited for.

    The history row names ``user``, or the request's user when there is one (simple_history's middleware), and
    ``reason``; ``at`` dates it (the sweep's own "now"), else the present time.
    """
    model = queryset.model
    with transaction.atomic():
        locked = queryset.select_for_update(skip_locked=skip_locked, of=("self",)).order_by("pk")
        pks = list(locked.values_list("pk", flat=True))
        if not pks:
            return 0
        count: int = model._default_manager.filter(pk__in=pks).update(**changes)
        _write_history(model, model._default_manager.filter(pk__in=pks), update=True, user=user, reason=reason, at=at)
    return count


def record_creations(queryset: QuerySet[Any], *, reason: str, user: Any = None) -> int:
    """A creation history row for each record of ``queryset`` that has none yet.

    ``bulk_create`` (how the checks of a course are written, unique per order and label, a repeated call being a
    no-op through ``ignore_conflicts``) saves no history and, with ``ignore_conflicts``, does not even say which rows
    it inserted. The rows without a creation record are the ones it wrote; a second call finds none.
    """
    model = queryset.model
    pks = set(queryset.values_list("pk", flat=True))
    # Looked up among these rows only: the history table holds every row's every version.
    recorded = set(model.history.filter(id__in=pks, history_type="+").values_list("id", flat=True))
    new = model._default_manager.filter(pk__in=pks - recorded)
    return len(_write_history(model, new, update=False, user=user, reason=reason, at=None)) if pks - recorded else 0


def _write_history(
    model: type[Model], rows: QuerySet[Any], *, update: bool, user: Any, reason: str, at: datetime | None
) -> list[Any]:
    if len(reason) > CHANGE_REASON_MAX_LENGTH:
        reason = reason[: CHANGE_REASON_MAX_LENGTH - 1] + "…"
    history = model.history  # type: ignore[attr-defined]  # called only on models with HistoricalRecords
    return list(
        history.bulk_history_create(
            list(rows.order_by("pk")),
            batch_size=500,
            update=update,
            default_user=user,
            default_change_reason=reason,
            default_date=at,
        )
        or []
    )
