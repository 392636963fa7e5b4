"""Who changed a clinical record, and why: the attributes django-simple-history reads on the next save.

simple_history looks for ``_history_user`` and ``_change_reason`` on the instance being saved, and skips the
history row when ``skip_history_when_saving`` is set. They are dynamic attributes the Django stubs cannot see, so
they are set here, in one typed place, rather than with an ignore at every call site.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db.models import Model

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
