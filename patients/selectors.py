from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TypedDict

from django.db.models import Q, QuerySet
from django.utils import timezone

from patients.models import CoTherapy, Patient, ReportedIvigReaction

THIS_HOSPITAL = "this hospital"


class IvigReaction(TypedDict):
    """One entry of a patient's IVIG reaction history (docs/api.md Patients ``ivig_reactions``)."""

    date: date
    product: str
    ctcae_grade: int | None
    anaphylaxis: bool
    where: str
    details: str
    reported: bool


def patients_with_weights() -> QuerySet[Patient]:
    return Patient.objects.prefetch_related("weights")


def search_patients(query: str) -> QuerySet[Patient]:
    patients = patients_with_weights()
    query = query.strip()
    if not query:
        return patients
    condition = Q(mrn__iexact=query)
    for term in query.split():
        condition |= Q(mrn__icontains=term) | Q(given_name__icontains=term) | Q(family_name__icontains=term)
    return patients.filter(condition)


def ivig_reactions_of_patients(patient_ids: list[int], *, every_grade: bool = False) -> dict[int, list[IvigReaction]]:
    """Each patient's IVIG reaction history, newest first, in two queries whatever the number of patients: the
    severe reactions recorded here (CTCAE grade >= 3 or anaphylaxis, from the patient's infusions; "where" is
    "this hospital"), or with ``every_grade`` every reaction recorded here (the patient page), and every reaction
    reported from elsewhere.

    This system's reactions live in infusions, which sits above patients: they are read through the reverse
    relations (orders -> infusions -> reactions) by name, never by importing infusions (docs/architecture.md)."""
    found: dict[int, list[IvigReaction]] = {pk: [] for pk in patient_ids}
    reaction = "orders__infusions__reactions__"
    recorded_here = (
        Q(**{f"{reaction}pk__isnull": False})
        if every_grade
        else Q(**{f"{reaction}ctcae_grade__gte": 3}) | Q(**{f"{reaction}reaction": "anaphylaxis"})
    )
    here = (
        Patient.objects.filter(pk__in=patient_ids)
        .filter(recorded_here)
        .values_list(
            "pk",
            "orders__product__name",
            f"{reaction}noted_at",
            f"{reaction}ctcae_grade",
            f"{reaction}reaction",
            f"{reaction}action_taken",
        )
    )
    for patient_id, product, noted_at, grade, kind, action_taken in here:
        found[patient_id].append(
            IvigReaction(
                date=timezone.localtime(noted_at).date(),
                product=product,
                ctcae_grade=grade,
                anaphylaxis=kind == "anaphylaxis",
                where=THIS_HOSPITAL,
                details=f"{kind.replace('_', ' ')}; {action_taken}",
                reported=False,
            )
        )
    for report in ReportedIvigReaction.objects.filter(patient_id__in=patient_ids):
        found[report.patient_id].append(
            IvigReaction(
                date=report.occurred_on,
                product=report.product,
                ctcae_grade=report.ctcae_grade,
                anaphylaxis=report.anaphylaxis,
                where=report.where,
                details=report.details,
                reported=True,
            )
        )
    for reactions in found.values():
        reactions.sort(key=lambda r: r["date"], reverse=True)
    return found


def ivig_reactions(patient: Patient, *, every_grade: bool = False) -> list[IvigReaction]:
    return ivig_reactions_of_patients([patient.pk], every_grade=every_grade)[patient.pk]


RECENT_CO_THERAPY_DAYS = 7


def recent_co_therapies(patient_id: int, *, now: datetime) -> list[CoTherapy]:
    """The co-therapies the bedside shows: given or running in the last 7 days (not withdrawn), newest first."""
    since = now - timedelta(days=RECENT_CO_THERAPY_DAYS)
    return list(
        CoTherapy.objects.filter(patient_id=patient_id, entered_in_error_at__isnull=True)
        .filter(Q(given_from__gte=since) | Q(given_until__gte=since))
        .select_related("recorded_by")
        .order_by("-given_from", "-pk")
    )
