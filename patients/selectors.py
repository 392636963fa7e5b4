from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TypedDict

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from patients import lab_rules
from patients.models import CURRENT_LAB, CoTherapy, LabResult, Patient, ReportedIvigReaction

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
    """Patients with their weights, and ``blood_group`` from the latest current blood-group result (A13)."""
    latest_group = (
        LabResult.objects.filter(CURRENT_LAB, patient=OuterRef("pk"), test=LabResult.Test.BLOOD_GROUP)
        .order_by("-collected_at", "-pk")
        .values("blood_group")[:1]
    )
    return (
        Patient.objects.select_related("unit").prefetch_related("weights").annotate(blood_group=Subquery(latest_group))
    )


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


@dataclass(frozen=True)
class LabRow:
    """A laboratory result as shown: with the eGFR of a creatinine (A13), worked out on reading from the patient as
    recorded at the sample's date."""

    result: LabResult
    egfr: lab_rules.Egfr | None


def lab_rows(patient: Patient) -> list[LabRow]:
    """Every laboratory result of the patient, oldest first, corrections and withdrawn ones included."""
    # From the prefetched rows where a list prefetched them (the verification queue), else one query.
    results = sorted(patient.lab_results.all(), key=lambda r: (r.collected_at, r.pk))
    creatinines = tuple(
        (r.collected_at, r.value_si)
        for r in results
        if r.test == LabResult.Test.CREATININE and r.current and r.value_si is not None
    )
    return [LabRow(result=r, egfr=_egfr_of(patient, r, creatinines)) for r in results]


def latest_labs(patient: Patient) -> dict[str, LabRow]:
    """The latest current result of each test (creatinine with its eGFR, hemoglobin, blood group)."""
    latest: dict[str, LabRow] = {}
    for row in lab_rows(patient):
        if row.result.current:
            latest[row.result.test] = row
    return latest


def egfr_of_results(results: list[LabResult]) -> dict[int, lab_rules.Egfr | None]:
    """The eGFR of each creatinine among ``results`` (their ``patient`` select_related), as ``lab_rows`` works it
    out, in one query for the patients' current creatinines however many results."""
    creatinines: dict[int, list[tuple[datetime, Decimal]]] = {}
    current = (
        LabResult.objects.filter(
            patient_id__in={r.patient_id for r in results}, test=LabResult.Test.CREATININE, value_si__isnull=False
        )
        .filter(CURRENT_LAB)
        .order_by("collected_at", "pk")
    )
    for row in current:
        assert row.value_si is not None
        creatinines.setdefault(row.patient_id, []).append((row.collected_at, row.value_si))
    return {r.pk: _egfr_of(r.patient, r, tuple(creatinines.get(r.patient_id, ()))) for r in results}


def _egfr_of(
    patient: Patient, result: LabResult, creatinines: tuple[tuple[datetime, Decimal], ...]
) -> lab_rules.Egfr | None:
    if result.test != LabResult.Test.CREATININE or result.value_si is None:
        return None
    return lab_rules.egfr(
        creatinine_umol_l=result.value_si,
        collected_on=timezone.localtime(result.collected_at).date(),
        birth_date=patient.birth_date,
        female=patient.sex == "female",
        height_cm=patient.height_cm,
        pregnant=patient.pregnancy_open,
        previous_creatinines=tuple((at, value) for at, value in creatinines if at < result.collected_at),
        collected_at=result.collected_at,
    )
