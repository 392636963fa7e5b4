"""A platelet result and its corrections served as one FHIR Observation with versions (R4 http.html "history").

The monitoring app never overwrites a count: a correction, or the laboratory's final result after its preliminary
one, is a new PlateletResult row, and the rows it replaces point to it with ``superseded_by`` (docs/clinical-rules.md
§A12). To a FHIR client these rows are one Observation whose status goes preliminary → final → corrected (or
entered-in-error when withdrawn), so the rows linked by ``superseded_by`` form one *lineage*:

- its **head** is the row that stands (``superseded_by`` empty), the one searches and reads show;
- its Observation id is ``plt-<the first row's id>``: the smallest id of the lineage, which is the row a client
  first saw, so the links clients already hold keep working. A final result that replaces two preliminary ones
  of the same check joins their lineages; the lineage keeps the older id and the younger one moves to it;
- its versions are the django-simple-history rows of all its rows, oldest first, except the update that marked a
  row superseded (at that moment the new row became the version).

Lineages are short (a preliminary, a final, a correction or two), so they are walked one level per query.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from interop.fhir import versions
from monitoring.models import PlateletResult

OBSERVATION_PREFIX = "plt-"


def observation_id(first_version_pk: int) -> str:
    return f"{OBSERVATION_PREFIX}{first_version_pk}"


def lineages(head_pks: Iterable[int]) -> dict[int, list[int]]:
    """Each head's lineage: the ids of every row it replaced, directly or not, and its own; oldest first."""
    members: dict[int, list[int]] = {pk: [pk] for pk in head_pks}
    frontier = {pk: pk for pk in members}  # a row of this level → its head
    while frontier:
        replaced = PlateletResult.objects.filter(superseded_by__in=list(frontier)).values_list("pk", "superseded_by")
        next_level: dict[int, int] = {}
        for pk, successor in replaced:
            head = frontier[successor]
            members[head].append(pk)
            next_level[pk] = head
        frontier = next_level
    return {head: sorted(pks) for head, pks in members.items()}


def first_versions(head_pks: Iterable[int]) -> dict[int, int]:
    """Each head's first version: the row whose id names the Observation."""
    return {head: pks[0] for head, pks in lineages(head_pks).items()}


def head_of(pk: int) -> int | None:
    """The row standing for the lineage that row ``pk`` belongs to (itself when it stands); None if no such row."""
    current = pk
    seen: set[int] = set()
    while current not in seen:  # superseded_by never loops; the guard only bounds a corrupted table
        seen.add(current)
        successors = list(PlateletResult.objects.filter(pk=current).values_list("superseded_by", flat=True))
        if not successors:
            return None
        if successors[0] is None:
            return current
        current = successors[0]
    return None


@dataclass(frozen=True)
class Version:
    changed_at: datetime  # meta.lastUpdated; meta.versionId is it in microseconds
    result: Any  # the PlateletResult as it was then (a historical instance), or the head row as loaded for a read


def versions_of(head: PlateletResult, lineage: list[int]) -> list[Version]:
    """The versions of the Observation whose head (loaded with its last change annotated, as reads load it) and
    lineage are given, oldest first. The last version is the head as a read serves it, so its versionId is the
    one a read's ETag carries."""
    head_changed_at: datetime | None = getattr(head, versions.CHANGED_AT, None)
    records = (
        PlateletResult.history.filter(id__in=lineage)  # type: ignore[attr-defined]  # simple-history's manager
        .exclude(history_type="-")
        # The update that marked a row superseded: the row replacing it, created in the same transaction, is the
        # version from then on.
        .exclude(status=PlateletResult.Status.SUPERSEDED)
        .order_by("history_date", "history_id")
    )
    earlier = [
        Version(record.history_date, record.instance)
        for record in records
        if head_changed_at is None or record.history_date < head_changed_at
    ]
    if head_changed_at is None:
        return earlier
    return [*earlier, Version(head_changed_at, head)]
