from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from core import csv_export
from core.errors import Conflict
from core.forms import typed_local_time
from core.roles import Role, has_role
from core.units import choose_units
from dashboards import charts, selectors
from infusions import bedside
from infusions import selectors as order_selectors
from infusions.models import Infusion, Order
from infusions.views import verification_queue_page
from monitoring import response_rules
from monitoring import services as monitoring_services
from monitoring.models import WHO_BLEEDING_GRADES, OrderResponse, PlateletResult
from patients.models import CoTherapy, CoTherapyKind, Patient
from patients.views import LAB_UNITS


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "core/no_role.html", status=403)


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def hematologist_dashboard(request: HttpRequest) -> HttpResponse:
    if not has_role(request.user, Role.HEMATOLOGIST):
        return _forbidden(request)
    params = request.GET
    filters = selectors.CourseFilters(
        mine=params.get("mine") == "1",
        category=params.get("category", ""),
        overdue=params.get("overdue") == "1",
        date_from=_date(params.get("from")),
        date_to=_date(params.get("to")),
        search=params.get("q", ""),
        sort=params.get("sort", "priority"),
        loss=params.get("loss") == "1",
    )
    units = choose_units(request.user, params.get("unit"))
    courses = selectors.active_courses(request.user, filters, units=units.q("unit"))
    page = Paginator(courses, 50).get_page(params.get("page"))
    unfiltered = selectors.active_courses(
        request.user, selectors.CourseFilters(mine=filters.mine), units=units.q("unit")
    )
    context = {
        "page": page,
        "units": units,
        "returned": [] if request.htmx else list(selectors.returned_to(request.user)[:50]),
        "lab_alerts": [] if request.htmx else list(selectors.lab_safety_alerts()[:50]),
        "filters": filters,
        "counts": selectors.category_counts(unfiltered),
        "now": timezone.now(),
        "category_choices": [
            ("complete_response", "Complete response"),
            ("response", "Response"),
            ("no_response", "No response"),
            ("pending", "Pending"),
        ],
    }
    template = "dashboards/partials/course_rows.html" if request.htmx else "dashboards/hematologist.html"
    return render(request, template, context)


def patient_response(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The platelet trend of a patient's course, with its results (those that count toward nothing shown with the
    reason), co-therapies, the vitals of each infusion and any repeat decision pending."""
    if not has_role(request.user, *Role):
        return _forbidden(request)
    patient = get_object_or_404(Patient, pk=patient_id)
    return render(request, "dashboards/patient_response.html", _response_context(request, patient))


def _response_context(request: HttpRequest, patient: Patient, form: dict[str, Any] | None = None) -> dict[str, Any]:
    orders = list(Order.objects.filter(patient=patient).exclude(status="draft").order_by("-first_infusion_on", "-pk"))
    wanted = request.POST.get("order") or request.GET.get("order")
    order = next((o for o in orders if str(o.pk) == wanted), orders[0] if orders else None)
    co_therapies = list(CoTherapy.objects.filter(patient=patient).select_related("recorded_by"))
    form = form or {}
    context: dict[str, Any] = {
        "patient": patient,
        "from_infusion": _bedside_of(patient, request.POST.get("from_infusion") or request.GET.get("from_infusion")),
        "orders": orders,
        "order": order,
        "co_therapies": co_therapies,
        "co_therapy_rows": [{"therapy": t, "withdraw": _form_state(form, f"withdraw-{t.pk}")} for t in co_therapies],
        "co_therapy_form": _form_state(form, "co-therapy"),
        "co_therapy_kinds": CoTherapyKind.choices,
        "can_record": request.user.has_perm("monitoring.record_platelet_result"),
        "can_record_co_therapy": request.user.has_perm("patients.add_cotherapy"),
        "now": timezone.now(),
    }
    if order is not None:
        zone = timezone.get_current_timezone()
        every_result = list(
            PlateletResult.objects.filter(order=order)
            .select_related("platelet_check", "entered_by")
            .order_by("collected_at", "pk")
        )
        counted = [r for r in every_result if r.current and not r.not_attributed_reason]
        infusions = list(Infusion.objects.filter(order=order).prefetch_related("vitals").order_by("day_number"))
        points = [
            charts.TrendPoint(
                at=r.collected_at,
                count=r.platelet_count,
                category=r.category if not r.preliminary else "pending",
                label=r.platelet_check.get_label_display() if r.platelet_check else "ad hoc",
            )
            for r in counted
        ]
        marks = [
            charts.InfusionMark(start=i.started_at, end=i.ended_at, label=f"Day {i.day_number} infusion")
            for i in infusions
            if i.started_at
        ]
        course = monitoring_services.course_times(order)
        context.update(
            results=[
                {
                    "result": r,
                    "current": r.current,
                    "correct": _form_state(form, f"correct-{r.pk}"),
                    "withdraw": _form_state(form, f"entered-in-error-{r.pk}"),
                    "bleeding": _form_state(form, f"bleeding-{r.pk}"),
                }
                for r in every_result
            ],
            response=OrderResponse.objects.filter(order=order).first(),
            window_closes_at=response_rules.attribution_window_closes_at(course) if course else None,
            trend_svg=charts.platelet_trend_svg(
                points=points,
                baseline=order.baseline_platelet_count,
                infusions=marks,
                zone=zone,
                therapies=[
                    charts.TherapyMark(start=t.given_from, end=t.given_until, label=str(t))
                    for t in co_therapies
                    if not t.withdrawn and t.kind in CHARTED_CO_THERAPIES
                ],
                window_closes_at=response_rules.attribution_window_closes_at(course) if course else None,
                title=f"Platelet count of {patient.full_name}, order #{order.pk}",
            ),
            vitals_charts=[
                {
                    "infusion": infusion,
                    "charts": [
                        charts.sparkline_svg(
                            [(v.taken_at, float(getattr(v, field))) for v in infusion.vitals.all()],
                            label=label,
                            unit=unit,
                        )
                        for field, label, unit in (
                            ("temperature_c", "T", "°C"),
                            ("heart_rate_bpm", "HR", "/min"),
                            ("systolic_bp_mmhg", "SBP", "mmHg"),
                            ("spo2_percent", "SpO₂", "%"),
                        )
                    ],
                }
                for infusion in infusions
                if infusion.vitals.all()
            ],
            can_decide=request.user.has_perm("monitoring.decide_repeat_dose"),
            overrides=list(order_selectors.overrides_of_order(order.pk)),
        )
    return context


def _bedside_of(patient: Patient, infusion_id: str | None) -> int | None:
    """The id of one of the patient's infusions named by the page the nurse came from, else None."""
    if not infusion_id or not infusion_id.isascii() or not infusion_id.isdigit() or len(infusion_id) > 12:
        return None
    found = Infusion.objects.filter(pk=int(infusion_id), order__patient=patient).values_list("pk", flat=True).first()
    return found


def _form_state(form: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The refused form's posted values and errors when ``name`` is the form that was refused."""
    return form if form.get("name") == name else None


# A12: the co-therapies that change what a count means are marked on the trend.
CHARTED_CO_THERAPIES = ("platelet_transfusion", "corticosteroid", "other_itp_treatment")


def _whole_number(value: str | None, field: str, message: str) -> int | None:
    text = (value or "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):  # "²" is a digit to str.isdigit(), not to int()
        raise ValidationError({field: [message]})
    return int(text)


@require_POST
def response_result_action(request: HttpRequest, patient_id: int, result_id: int, action: str) -> HttpResponse:
    """Correct a result, withdraw it as entered in error, or record its WHO bleeding grade (A12), from the
    patient's response page; a refusal keeps what was typed beside the field."""
    if not request.user.has_perm("monitoring.record_platelet_result"):
        return _forbidden(request)
    patient = get_object_or_404(Patient, pk=patient_id)
    result = get_object_or_404(PlateletResult, pk=result_id, order__patient=patient)
    post = request.POST
    try:
        if action == "correct":
            monitoring_services.correct_platelet_result(
                result_id=result.pk,
                user=request.user,
                reason=post.get("reason", ""),
                platelet_count=_whole_number(post.get("platelet_count"), "platelet_count", COUNT_MESSAGE),
                collected_at=typed_local_time(post.get("collected_at"), "collected_at"),
                bleeding_who_grade=_whole_number(post.get("bleeding_who_grade"), "bleeding_who_grade", GRADE_MESSAGE),
            )
            notice = "Result corrected; the earlier value is kept in the history."
        elif action == "entered-in-error":
            monitoring_services.withdraw_platelet_result(
                result_id=result.pk, user=request.user, reason=post.get("reason", "")
            )
            notice = "Result withdrawn as entered in error."
        elif action == "bleeding":
            grade = _whole_number(post.get("who_grade"), "who_grade", GRADE_MESSAGE)
            if grade is None:
                raise ValidationError({"who_grade": [GRADE_MESSAGE]})
            monitoring_services.record_bleeding_grade(result_id=result.pk, user=request.user, who_grade=grade)
            notice = "Bleeding grade recorded."
        else:
            return _forbidden(request)
    except ValidationError as exc:
        return _response_refused(request, patient, f"{action}-{result.pk}", exc.message_dict, 400)
    except Conflict as exc:
        return _response_refused(request, patient, f"{action}-{result.pk}", {"refused": [str(exc.detail)]}, 409)
    messages.success(request, notice)
    return redirect(f"{reverse('patient-response', args=[patient.pk])}?order={result.order_id}")


@require_POST
def response_co_therapy(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Record a co-therapy from the patient's response page (or, with ``withdraw``, withdraw one entered in
    error)."""
    if not request.user.has_perm("patients.add_cotherapy"):
        return _forbidden(request)
    patient = get_object_or_404(Patient, pk=patient_id)
    post = request.POST
    withdraw = post.get("withdraw", "")
    try:
        if withdraw:
            therapy = get_object_or_404(
                CoTherapy, pk=int(withdraw) if withdraw.isascii() and withdraw.isdigit() else 0, patient=patient
            )
            monitoring_services.withdraw_co_therapy(
                co_therapy_id=therapy.pk, user=request.user, reason=post.get("reason", "")
            )
            notice = "Co-therapy withdrawn as entered in error."
        else:
            fields = ("kind", "drug", "dose", "dose_unit", "route", "description", "units", "volume_ml")
            data: dict[str, Any] = {field: post.get(field, "") for field in fields}
            data["given_from"] = typed_local_time(post.get("given_from"), "given_from")
            data["given_until"] = typed_local_time(post.get("given_until"), "given_until")
            monitoring_services.record_co_therapy(patient_id=patient.pk, user=request.user, data=data)
            notice = "Co-therapy recorded; the response is worked out again with it."
    except (ValidationError, Conflict) as exc:
        errors = exc.message_dict if isinstance(exc, ValidationError) else {"refused": [str(exc.detail)]}
        name = f"withdraw-{withdraw}" if withdraw else "co-therapy"
        return _response_refused(request, patient, name, errors, 400 if isinstance(exc, ValidationError) else 409)
    messages.success(request, notice)
    bedside = _bedside_of(patient, post.get("from_infusion"))
    if bedside is not None:
        # Recorded from the bedside (a pre-hydration before a start, a premedication): back to the infusion.
        return redirect("infusion-bedside", pk=bedside)
    order = post.get("order", "")
    return redirect(
        reverse("patient-response", args=[patient.pk])
        + (f"?order={order}" if order.isascii() and order.isdigit() else "")
    )


def _response_refused(
    request: HttpRequest, patient: Patient, name: str, errors: dict[str, list[str]], status: int
) -> HttpResponse:
    """The page again with the refused form open, what was typed kept and each error beside its field."""
    form = {"name": name, "posted": request.POST, "errors": errors}
    context = _response_context(request, patient, form)
    return render(request, "dashboards/patient_response.html", context, status=status)


COUNT_MESSAGE = "Platelet count must be a whole number of ×10⁹/L, such as 45: no letters, signs or decimals."
GRADE_MESSAGE = "The WHO bleeding grade is a whole number from 0 to 4."


def nurse_worklist(request: HttpRequest) -> HttpResponse:
    if not has_role(request.user, Role.NURSE):
        return _forbidden(request)
    now = timezone.now()
    units = choose_units(request.user, request.GET.get("unit"))
    # A check is followed where the course was given and where the patient is now (docs/architecture.md "Wards
    # and units"); the reminders themselves go to their recipients whatever unit is shown here.
    follow_up = units.q("order__unit", "order__patient__unit")
    infusions = list(selectors.todays_infusions(units=units.q("unit")))
    context = {
        "today": timezone.localdate(),
        "units": units,
        "infusions": [
            {"infusion": infusion, "vitals_due": bedside.worklist_vitals_due(infusion, now)} for infusion in infusions
        ],
        "checks": selectors.checks_needing_results(now, units=follow_up)[:100],
        "lab_checks": selectors.lab_checks_needing_results(units=follow_up)[:100],
        "lab_units": LAB_UNITS,
        "bleeding_to_grade": selectors.results_needing_bleeding_grade(now, units=follow_up)[:100],
        "who_grades": WHO_BLEEDING_GRADES,
        "notifications": selectors.unread_notifications(request.user),
        "now": now,
    }
    template = "dashboards/partials/worklist_body.html" if request.htmx else "dashboards/nurse.html"
    return render(request, template, context)


def pharmacist_dashboard(request: HttpRequest) -> HttpResponse:
    if not has_role(request.user, Role.PHARMACIST):
        return _forbidden(request)
    # The verification queue (one row per draft order with its stops; the working opens on demand).
    context = verification_queue_page(request)
    context.update(months=selectors.monthly_use_cached(), lot_reactions=order_selectors.reactions_by_product_and_lot())
    return render(request, "dashboards/pharmacist.html", context)


class _Echo:
    def write(self, value: str) -> str:
        return value


EXPORT_COLUMNS = [
    ("order_id", lambda o: o.pk),
    ("status", lambda o: o.status),
    ("mrn", lambda o: o.patient.mrn),
    ("regimen", lambda o: o.regimen),
    ("product", lambda o: o.product.name),
    ("first_infusion_on", lambda o: o.first_infusion_on.isoformat()),
    ("emergency", lambda o: o.emergency),
    ("actual_weight_kg", lambda o: o.actual_weight_kg),
    ("dosing_weight_kg", lambda o: o.dosing_weight_kg),
    ("dosing_weight_basis", lambda o: o.dosing_weight_basis),
    ("dosing_weight_exclusion", lambda o: o.dosing_weight_exclusion),
    ("dose_per_day_g", lambda o: o.dose_per_day_g),
    ("rounded_dose_per_day_g", lambda o: o.rounded_dose_per_day_g),
    ("deviation_percent", lambda o: o.deviation_percent),
    ("days", lambda o: o.days),
    ("total_calculated_g", lambda o: o.total_calculated_g),
    ("total_dose_g", lambda o: o.total_dose_g),
    ("vials_per_day", lambda o: o.vials_text),
    ("partial_vial", lambda o: o.partial_vial),
    ("warnings", lambda o: " | ".join(o.warning_messages)),
    ("created_by", lambda o: o.created_by.username),
    ("verified_by", lambda o: o.verified_by.username if o.verified_by else ""),
    ("created_at", lambda o: o.created_at.isoformat()),
]


def orders_csv(request: HttpRequest) -> HttpResponse:
    if not has_role(request.user, Role.PHARMACIST, Role.HEMATOLOGIST):
        return _forbidden(request)
    writer = csv_export.writer(_Echo())

    def rows() -> Any:
        yield writer.writerow([name for name, _ in EXPORT_COLUMNS])
        for order in selectors.orders_for_export().iterator(chunk_size=2000):
            yield writer.writerow([value(order) for _, value in EXPORT_COLUMNS])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="ivig-orders-{timezone.localdate()}.csv"'
    return response


def lot_recall(request: HttpRequest) -> HttpResponse:
    """Which patients received a lot (the page beside ``GET /api/v1/lots/?lot=``)."""
    if not has_role(request.user, *Role):
        return _forbidden(request)
    lot = request.GET.get("lot", "").strip()
    error = ""
    administrations: list[Infusion] = []
    if "lot" in request.GET and not lot:
        error = "Type the lot number to look up."
    elif len(lot) > 64:
        error = "A lot number has at most 64 characters."
    elif lot:
        administrations = list(order_selectors.infusions_given_lot(lot))
    context = {
        "lot": lot,
        "error": error,
        "administrations": administrations,
        "patient_count": len({infusion.order.patient_id for infusion in administrations}),
    }
    return render(request, "dashboards/lots.html", context, status=400 if error else 200)
