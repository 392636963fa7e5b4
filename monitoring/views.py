from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.errors import Conflict, SafetyStopped
from core.forms import error_messages, typed_id, typed_local_time
from core.roles import is_clinical_staff
from infusions import services as infusion_services
from infusions.models import Infusion, Order
from monitoring import selectors, services
from monitoring.models import (
    WHO_BLEEDING_GRADES,
    Notification,
    OrderResponse,
    PlateletCheck,
    PlateletResult,
)


def _require_staff(request: HttpRequest) -> None:
    if not is_clinical_staff(request.user):
        raise PermissionDenied("Your account has no clinical role.")


def inbox(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    notifications = Notification.objects.filter(recipient=request.user).select_related("order__patient")[:200]
    return render(request, "monitoring/inbox.html", {"notifications": notifications})


@require_POST
def mark_read(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(Notification, pk=pk, recipient=request.user)
    notification = services.mark_read(notification_id=pk, user=request.user)
    if request.htmx:
        return render(request, "monitoring/partials/notification.html", {"n": notification})
    return redirect("inbox")


def order_panel(request: HttpRequest, order_id: int) -> HttpResponse:
    """The monitoring part of the order page: checks with result entry, the response, the repeat decision."""
    _require_staff(request)
    order = get_object_or_404(Order.objects.select_related("patient"), pk=order_id)
    return render(request, "monitoring/partials/order_panel.html", _panel_context(request, order))


def _panel_context(request: HttpRequest, order: Order, **extra: Any) -> dict[str, Any]:
    return {
        "order": order,
        "checks": PlateletCheck.objects.filter(order=order).prefetch_related("results"),
        "adhoc_results": order.platelet_results.filter(platelet_check__isnull=True),
        "response": OrderResponse.objects.filter(order=order).select_related("repeat_order").first(),
        "can_record": request.user.has_perm("monitoring.record_platelet_result"),
        "can_decide": request.user.has_perm("monitoring.decide_repeat_dose"),
        "now": timezone.now(),
        **extra,
    }


def _aware(value: str | None) -> Any:
    collected_at = typed_local_time(value, "collected_at")
    if collected_at is None:
        raise ValidationError({"collected_at": ["Enter the collection date and time."]})
    return collected_at


def _panel_response(request: HttpRequest, order: Order, errors: list[str], notice: str) -> HttpResponse:
    if request.htmx:
        return render(
            request,
            "monitoring/partials/order_panel.html",
            _panel_context(request, order, errors=errors, notice=notice),
        )
    for error in errors:
        messages.error(request, error)
    if notice:
        messages.success(request, notice)
    return redirect("order-detail", pk=order.pk)


ALREADY_RECORDED = "This result was already recorded (same count and collection time): nothing was changed."
COUNT_MESSAGE = "Platelet count must be a whole number of ×10⁹/L, such as 45: no letters, signs or decimals."


def _record_result(request: HttpRequest, order: Order, check_id: str | None) -> Any:
    """The result typed on a page, through the service; a count that is not a whole number is refused first."""
    count_text = request.POST.get("platelet_count", "").strip()
    if not (count_text.isascii() and count_text.isdigit()):
        raise ValidationError({"platelet_count": [COUNT_MESSAGE]})
    grade = request.POST.get("bleeding_who_grade", "").strip()
    if grade and not (grade.isascii() and grade.isdigit()):
        raise ValidationError({"bleeding_who_grade": ["The WHO bleeding grade is 0 to 4."]})
    check = typed_id(check_id) if check_id else None
    if check_id and check is None:
        raise ValidationError({"check": ["There is no such platelet check."]})
    return services.record_platelet_result(
        check_id=check,
        # Always the page's order: a check posted beside it must be one of its own.
        order_id=order.pk,
        platelet_count=int(count_text),
        collected_at=_aware(request.POST.get("collected_at")),
        bleeding=None if grade.isdigit() else request.POST.get("bleeding") == "on",
        bleeding_who_grade=int(grade) if grade.isdigit() else None,
        user=request.user,
    )


def _require_result_permission(request: HttpRequest) -> None:
    if not request.user.has_perm("monitoring.record_platelet_result"):
        raise PermissionDenied("Nurses and hematologists enter platelet results.")


@require_POST
def record_result(request: HttpRequest, order_id: int) -> HttpResponse:
    _require_result_permission(request)
    order = get_object_or_404(Order, pk=order_id)
    try:
        result = _record_result(request, order, request.POST.get("check") or None)
    except (ValidationError, Conflict) as exc:
        return _panel_response(request, order, error_messages(exc), "")
    if result.already_recorded:
        return _panel_response(request, order, [], ALREADY_RECORDED)
    return _panel_response(request, order, [], "Result recorded and classified.")


# The worklist's row fields that show their own errors; any other refusal is shown across the row.
WORKLIST_FIELDS = ("platelet_count", "collected_at", "bleeding")


@require_POST
def worklist_result(request: HttpRequest, check_id: int) -> HttpResponse:
    """A count entered on the nurse's worklist: the row comes back in place, with each error beside its field and
    what was typed kept, or with a confirmation of what was recorded."""
    _require_result_permission(request)
    check = get_object_or_404(PlateletCheck.objects.select_related("order__patient"), pk=check_id)
    context: dict[str, Any] = {"check": check, "now": timezone.now(), "posted": {}, "field_errors": {}, "errors": []}
    try:
        result = _record_result(request, check.order, str(check.pk))
    except (ValidationError, Conflict) as exc:
        context["posted"] = {key: value for key, value in request.POST.items() if key != "csrfmiddlewaretoken"}
        if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
            by_field = exc.message_dict
            context["field_errors"] = {f: m for f, m in by_field.items() if f in WORKLIST_FIELDS}
            rest = {f: m for f, m in by_field.items() if f not in WORKLIST_FIELDS}
            context["errors"] = error_messages(ValidationError(rest)) if rest else []
        else:
            context["errors"] = error_messages(exc)
        return render(request, "monitoring/partials/worklist_check_row.html", context)
    check.refresh_from_db()
    context["recorded"] = result
    return render(request, "monitoring/partials/worklist_check_row.html", context)


@require_POST
def worklist_bleeding(request: HttpRequest, result_id: int) -> HttpResponse:
    """The WHO bleeding grade of a lab count, recorded from the worklist's prompt (A12): the row comes back in
    place with the grade and the category, or the error beside the choice."""
    _require_result_permission(request)
    result = get_object_or_404(PlateletResult.objects.select_related("order__patient", "platelet_check"), pk=result_id)
    grade = request.POST.get("who_grade", "").strip()
    context: dict[str, Any] = {"result": result, "grades": WHO_BLEEDING_GRADES, "posted": grade}
    try:
        if not (grade.isascii() and grade.isdigit() and len(grade) == 1):
            raise ValidationError({"who_grade": ["Choose the WHO bleeding grade, 0 to 4."]})
        services.record_bleeding_grade(result_id=result.pk, user=request.user, who_grade=int(grade))
    except (ValidationError, Conflict) as exc:
        context["error"] = " ".join(error_messages(exc))
        return render(request, "monitoring/partials/worklist_bleeding_row.html", context)
    result.refresh_from_db()
    context["recorded"] = True
    return render(request, "monitoring/partials/worklist_bleeding_row.html", context)


@require_POST
def repeat_decision(request: HttpRequest, order_id: int) -> HttpResponse:
    if not request.user.has_perm("monitoring.decide_repeat_dose"):
        raise PermissionDenied("The hematologist decides on a repeat dose.")
    order = get_object_or_404(Order, pk=order_id)
    try:
        record = services.decide_repeat_dose(
            order_id=order.pk,
            user=request.user,
            decision=request.POST.get("decision", ""),
            reason=request.POST.get("reason", ""),
        )
    except (ValidationError, Conflict) as exc:
        return _panel_response(request, order, error_messages(exc), "")
    if record.repeat_order_id:
        messages.success(request, f"Repeat order #{record.repeat_order_id} drafted; it awaits verification.")
        return redirect("order-detail", pk=record.repeat_order_id)
    return _panel_response(request, order, [], "Repeat dose declined; the reason is recorded.")


def day2_prompt(request: HttpRequest, infusion_id: int) -> HttpResponse:
    """A1: for two_days_1g_per_kg, the day-2 dose may be withheld when the 24 h count shows response."""
    _require_staff(request)
    infusion = get_object_or_404(Infusion.objects.select_related("order"), pk=infusion_id)
    # A12: the latest result that counts toward the course, a check's or an ad hoc one (not one within 24 h of a
    # platelet transfusion, not a withdrawn or superseded one).
    latest = selectors.latest_counted_result(infusion.order)
    show = infusion.status == "scheduled" and selectors.withhold_stop(infusion) is None
    can_withhold = request.user.has_perm("infusions.administer_infusion") or request.user.has_perm(
        "infusions.add_order"
    )
    return render(
        request,
        "monitoring/partials/day2_prompt.html",
        {"show": show, "result": latest, "infusion": infusion, "can_withhold": can_withhold},
    )


@require_POST
def withhold(request: HttpRequest, infusion_id: int) -> HttpResponse:
    if not (request.user.has_perm("infusions.administer_infusion") or request.user.has_perm("infusions.add_order")):
        raise PermissionDenied("A nurse or the hematologist withholds a dose.")
    get_object_or_404(Infusion, pk=infusion_id)
    try:
        infusion_services.withhold_infusion(
            infusion_id=infusion_id, user=request.user, reason=request.POST.get("reason", "")
        )
    except (ValidationError, Conflict, SafetyStopped) as exc:
        for error in error_messages(exc):
            messages.error(request, error)
    else:
        messages.success(request, "Day-2 dose withheld.")
    return redirect("infusion-bedside", pk=infusion_id)


def notifications_badge(request: HttpRequest) -> HttpResponse:
    return render(
        request, "monitoring/partials/badge.html", {"unread_notifications": selectors.unread_count(request.user)}
    )
