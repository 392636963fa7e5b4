from __future__ import annotations

import csv
from datetime import date
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from core.roles import Role, has_role
from dashboards import charts, selectors
from infusions import bedside
from infusions import selectors as order_selectors
from infusions.models import Infusion, Order
from infusions.views import verification_queue_page
from monitoring.models import OrderResponse, PlateletResult
from patients.models import Patient


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
    )
    courses = selectors.active_courses(request.user, filters)
    page = Paginator(courses, 50).get_page(params.get("page"))
    unfiltered = selectors.active_courses(request.user, selectors.CourseFilters(mine=filters.mine))
    context = {
        "page": page,
        "returned": [] if request.htmx else list(selectors.returned_to(request.user)[:50]),
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
    """The platelet trend of a patient's course, with its results, the vitals of each infusion and any
    repeat decision pending."""
    if not has_role(request.user, *Role):
        return _forbidden(request)
    patient = get_object_or_404(Patient, pk=patient_id)
    orders = list(Order.objects.filter(patient=patient).exclude(status="draft").order_by("-first_infusion_on", "-pk"))
    order = next((o for o in orders if str(o.pk) == request.GET.get("order")), orders[0] if orders else None)
    context: dict[str, Any] = {"patient": patient, "orders": orders, "order": order}
    if order is not None:
        zone = timezone.get_current_timezone()
        results = list(
            PlateletResult.objects.filter(order=order, superseded_by__isnull=True).select_related("platelet_check")
        )
        infusions = list(Infusion.objects.filter(order=order).prefetch_related("vitals").order_by("day_number"))
        points = [
            charts.TrendPoint(
                at=r.collected_at,
                count=r.platelet_count,
                category=r.category if not r.preliminary else "pending",
                label=r.platelet_check.get_label_display() if r.platelet_check else "ad hoc",
            )
            for r in results
        ]
        marks = [
            charts.InfusionMark(start=i.started_at, end=i.ended_at, label=f"Day {i.day_number} infusion")
            for i in infusions
            if i.started_at
        ]
        context.update(
            results=sorted(results, key=lambda r: r.collected_at),
            response=OrderResponse.objects.filter(order=order).first(),
            trend_svg=charts.platelet_trend_svg(
                points=points,
                baseline=order.baseline_platelet_count,
                infusions=marks,
                zone=zone,
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
    return render(request, "dashboards/patient_response.html", context)


def nurse_worklist(request: HttpRequest) -> HttpResponse:
    if not has_role(request.user, Role.NURSE):
        return _forbidden(request)
    now = timezone.now()
    infusions = list(selectors.todays_infusions())
    context = {
        "today": timezone.localdate(),
        "infusions": [
            {"infusion": infusion, "vitals_due": bedside.worklist_vitals_due(infusion, now)} for infusion in infusions
        ],
        "checks": selectors.checks_needing_results(now)[:100],
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
    writer = csv.writer(_Echo())

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
