from __future__ import annotations

from django.db.models import Q, QuerySet

from patients.models import Patient


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
