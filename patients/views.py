from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.errors import SafetyStopped
from core.forms import apply_validation_error, overrides_from_post, typed_local_time
from core.roles import is_clinical_staff, roles_of
from core.stops import Actor, Kind, Overrider, may_override
from patients import selectors, services
from patients.forms import PatientForm, ReportedIvigReactionForm
from patients.models import Patient


def _require_staff(request: HttpRequest) -> None:
    if not is_clinical_staff(request.user):
        raise PermissionDenied("Your account has no clinical role.")


def _stop_rows(exc: SafetyStopped, request: HttpRequest) -> list[dict[str, Any]]:
    """The body-size stops as the form shows them, beside their field, each with the reason typed so far."""
    actor = Actor(
        roles=frozenset(str(role) for role in roles_of(request.user)),
        superuser=bool(getattr(request.user, "is_superuser", False)),
    )
    return [
        {
            **stop.as_dict(),
            "may_override": stop.kind is Kind.OVERRIDE and may_override(actor, stop.overrider or Overrider.ANY),
            "reason": request.POST.get(f"override__{stop.code}", ""),
        }
        for stop in exc.stops
    ]


def _refused(form: PatientForm, exc: SafetyStopped, request: HttpRequest) -> list[dict[str, Any]]:
    for message in exc.field_errors().get("overrides", []):
        form.add_error(None, message)
    return _stop_rows(exc, request)


def patient_list(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    query = request.GET.get("q", "")
    page = Paginator(selectors.search_patients(query), 50).get_page(request.GET.get("page"))
    template = "patients/partials/patient_rows.html" if request.htmx else "patients/patient_list.html"
    return render(request, template, {"page": page, "query": query})


def patient_detail(
    request: HttpRequest,
    pk: int,
    reaction_form: ReportedIvigReactionForm | None = None,
    status: int = 200,
    lab_form: dict[str, Any] | None = None,
) -> HttpResponse:
    _require_staff(request)
    patient = get_object_or_404(selectors.patients_with_weights(), pk=pk)
    can_edit = request.user.has_perm("patients.change_patient")
    context = {
        "patient": patient,
        "weights": patient.weights.select_related("recorded_by")[:20],
        "history": patient.history.select_related("history_user")[:20],
        "can_edit": can_edit,
        "ivig_reactions": selectors.ivig_reactions(patient, every_grade=True),
        "reaction_form": reaction_form or (ReportedIvigReactionForm() if can_edit else None),
        "lab_rows": list(reversed(selectors.lab_rows(patient)))[:30],
        "latest_labs": selectors.latest_labs(patient),
        "can_record_labs": request.user.has_perm("patients.add_labresult"),
        "lab_form": lab_form or {},
        "lab_units": LAB_UNITS,
        "now": timezone.now(),
    }
    return render(request, "patients/patient_detail.html", context, status=status)


# The units a lab value may be typed in (docs/clinical-rules.md §A13), first the stored SI unit.
LAB_UNITS = {
    "creatinine": ["µmol/L", "mmol/L", "mg/dL"],
    "hemoglobin": ["g/L", "g/dL", "mmol/L"],
}


@require_POST
def lab_add(request: HttpRequest, pk: int) -> HttpResponse:
    """A laboratory value typed on the patient's page; a refusal keeps what was typed beside the field."""
    if not request.user.has_perm("patients.add_labresult"):
        raise PermissionDenied("Nurses and hematologists enter laboratory values.")
    patient = get_object_or_404(Patient, pk=pk)
    post = request.POST
    test = post.get("test", "")
    unit = post.get(f"unit_{test}", "") if test in LAB_UNITS else ""
    try:
        services.record_lab_result(
            patient_id=patient.pk,
            user=request.user,
            test=test,
            value=post.get("value", ""),
            unit=unit,
            collected_at=typed_local_time(post.get("collected_at"), "collected_at"),
        )
    except ValidationError as exc:
        return patient_detail(request, patient.pk, status=400, lab_form={"posted": post, "errors": exc.message_dict})
    messages.success(request, "Laboratory value recorded.")
    if post.get("return_to") == "worklist":
        return redirect("nurse-home")
    return redirect("patient-detail", pk=patient.pk)


@require_POST
def ivig_reaction_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a reaction to IVIG given elsewhere (nurses and hematologists)."""
    if not request.user.has_perm("patients.change_patient"):
        raise PermissionDenied("Only nurses and hematologists record a patient's reaction history.")
    patient = get_object_or_404(Patient, pk=pk)
    form = ReportedIvigReactionForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.record_reported_ivig_reaction(
                patient_id=patient.pk,
                user=request.user,
                occurred_on=data["occurred_on"],
                product=data["product"],
                ctcae_grade=data["ctcae_grade"],
                anaphylaxis=data["anaphylaxis"],
                where=data["where"],
                details=data["details"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, "Reaction added to the patient's IVIG reaction history.")
            return redirect("patient-detail", pk=patient.pk)
    return patient_detail(request, patient.pk, reaction_form=form, status=400)


def patient_create(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("patients.add_patient"):
        raise PermissionDenied("Only nurses and hematologists create patients.")
    form = PatientForm(request.POST or None)
    stops: list[dict[str, Any]] = []
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            patient = services.create_patient(
                data=data,
                user=request.user,
                weight_kg=data.pop("weight_kg", None),
                overrides=overrides_from_post(request.POST),
            )
        except SafetyStopped as exc:
            stops = _refused(form, exc, request)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Patient {patient} created.")
            return redirect("patient-detail", pk=patient.pk)
    return render(request, "patients/patient_form.html", {"form": form, "creating": True, "stops": stops})


def patient_edit(request: HttpRequest, pk: int) -> HttpResponse:
    if not request.user.has_perm("patients.change_patient"):
        raise PermissionDenied("Only nurses and hematologists edit patients.")
    patient = get_object_or_404(selectors.patients_with_weights(), pk=pk)
    form = PatientForm(request.POST or None, instance=patient, initial={"weight_kg": patient.weight_kg})
    stops: list[dict[str, Any]] = []
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        weight = data.pop("weight_kg", None)
        try:
            services.update_patient(
                patient_id=patient.pk,
                data=data,
                user=request.user,
                weight_kg=weight,
                overrides=overrides_from_post(request.POST),
            )
        except SafetyStopped as exc:
            stops = _refused(form, exc, request)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, "Patient updated.")
            return redirect("patient-detail", pk=patient.pk)
    context = {"form": form, "patient": patient, "creating": False, "stops": stops}
    return render(request, "patients/patient_form.html", context)
