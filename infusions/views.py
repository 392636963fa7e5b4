from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.errors import Conflict, SafetyStopped
from core.forms import (
    FIELD_LABELS,
    apply_validation_error,
    error_messages,
    field_message,
    overrides_from_post,
    typed_id,
    typed_local_time,
)
from core.models import Unit
from core.roles import Role, has_permission, has_role, is_clinical_staff
from infusions import bedside, selectors, services
from infusions.forms import OrderForm, SiteValuesForm
from infusions.models import Infusion, Order, Product
from infusions.services import bedside as bedside_services
from infusions.services import safety
from infusions.services import vials as vial_services
from infusions.services.catalogue import SITE_FIELD_LABELS, unknown_fields
from infusions.vial_scan import GS, ScanError, parse_vial_scan
from patients import selectors as patient_selectors
from patients.models import Patient

VITALS_FIELDS = (
    "temperature_c",
    "heart_rate_bpm",
    "systolic_bp_mmhg",
    "diastolic_bp_mmhg",
    "respiratory_rate_per_min",
    "spo2_percent",
)


def order_working(order: Order) -> dict[str, Any]:
    # The stored working has the same names as a fresh calculation's (services.WORKING_FIELDS).
    return {field: getattr(order, field) for field in services.WORKING_FIELDS}


def _require_staff(request: HttpRequest) -> None:
    if not is_clinical_staff(request.user):
        raise PermissionDenied("Your account has no clinical role.")


def order_create(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("infusions.add_order"):
        raise PermissionDenied("Only hematologists order IVIG.")
    initial = {"patient": request.GET.get("patient")} if request.GET.get("patient") else {}
    form = OrderForm(request.POST or None, initial=initial)
    stops: list[dict[str, Any]] = []
    if request.method == "POST" and form.is_valid():
        try:
            order = services.create_order(
                data=dict(form.cleaned_data), user=request.user, overrides=overrides_from_post(request.POST)
            )
        except SafetyStopped as exc:
            stops = safety.stopped_rows(exc, user=request.user, order=None)
            for stop in exc.stops:
                if stop.field in form.fields and stop.kind == "hard":
                    form.add_error(stop.field, stop.message)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Order #{order.pk} drafted; it now awaits verification.")
            return redirect("order-detail", pk=order.pk)
    context = {"form": form, **_patient_context(form), **_preview(form, request.user)}
    if stops:
        context["stops"] = stops
    return render(request, "infusions/order_form.html", context)


def _patient_context(form: OrderForm) -> dict[str, Any]:
    """The patient the form is for, with every IVIG reaction they have had: the prescriber sees them before
    choosing the product."""
    patient = _patient_from(form)
    reactions = patient_selectors.ivig_reactions(patient, every_grade=True) if patient is not None else []
    return {"patient": patient, "ivig_reactions": reactions}


def _patient_from(form: OrderForm) -> Patient | None:
    patient_id = typed_id(form.data.get("patient") or form.initial.get("patient"))
    if patient_id is None:
        return None
    return Patient.objects.prefetch_related("weights").filter(pk=patient_id).first()


def _preview(form: OrderForm, user: Any) -> dict[str, Any]:
    """Work the dose out from whatever the form holds so far, with the stops and warnings the order would meet
    before the prescriber taps; field problems become messages, not a 500."""
    if not form.is_bound or not form.is_valid():
        return {"working": None, "preview_errors": []}
    try:
        working, dry = services.preview_order(dict(form.cleaned_data), user)
    except SafetyStopped as exc:
        return {"working": None, "preview_errors": error_messages(exc)}
    except ValidationError as exc:
        return {"working": None, "preview_errors": exc.messages}
    return {
        "working": working,
        "preview_errors": [],
        "stops": safety.stop_rows(dry["stops"], user=user, order=None),
        "safety_warnings": dry["warnings"],
        "form_id": "order-form",
    }


def order_preview(request: HttpRequest) -> HttpResponse:
    """The htmx fragment the order form refreshes as the prescriber changes regimen, product or weight."""
    if not request.user.has_perm("infusions.add_order"):
        raise PermissionDenied("Only hematologists order IVIG.")
    form = OrderForm(request.POST or None)
    context = {**_patient_context(form), **_preview(form, request.user)}
    if not context["working"] and not context["preview_errors"] and form.is_bound:
        context["preview_errors"] = [
            f"{form[name].label if name in form.fields else 'Order'}: {' '.join(errors)}"
            for name, errors in form.errors.items()
        ]
    return render(request, "infusions/partials/working.html", context)


def order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require_staff(request)
    order = get_object_or_404(selectors.orders_with_related(), pk=pk)
    user = request.user
    newer = _newer_weight(order)
    context = {
        "order": order,
        "patient": order.patient,
        "working": order_working(order),
        "infusions": order.infusions.select_related("product", "order__product"),
        "history": order.history.select_related("history_user")[:30],
        "can_verify": (order.status == "draft" or order.awaiting_reverification)
        and user.has_perm("infusions.verify_order")
        and order.created_by_id != user.pk
        and order.product_changed_by_id != user.pk,
        "can_cancel": order.status not in {"completed", "cancelled"} and user.has_perm("infusions.cancel_order"),
        "can_recalculate": (
            (order.status in {"draft", "verified"} and not order.infusions.filter(started_at__isnull=False).exists())
            # An emergency course on its estimated weight: the remaining days go on the measured weight (§A9).
            or (order.on_estimated_weight and order.status in {"verified", "in_progress"} and newer is not None)
        )
        and user.has_perm("infusions.recalculate_order"),
        "can_review_hold": order.on_hold and user.has_perm("infusions.review_hold"),
        "can_change_product": order.status == "in_progress"
        and order.infusions.filter(status="scheduled").exists()
        and user.has_perm("infusions.change_order_product"),
        "products": Product.objects.filter(on_formulary=True, discontinued=False).exclude(pk=order.product_id),
        "newer_weight": newer,
        "ivig_reactions": patient_selectors.ivig_reactions(order.patient, every_grade=True),
        "latest_labs": patient_selectors.latest_labs(order.patient),
    }
    context["can_return"] = context["can_verify"] and order.status == "draft"
    if context["can_verify"]:
        # Before the tap: what verification would meet now, with the reason fields the verifier may fill in.
        dry = services.verification_dry_run(order_id=order.pk, user=user)
        context["stops"] = safety.stop_rows(dry["stops"], user=user, order=order)
        context["safety_warnings"] = dry["warnings"]
        context["action_blocked"] = _blocked(context["stops"])
    return render(request, "infusions/order_detail.html", context)


def _blocked(stops: list[dict[str, Any]]) -> bool:
    """An action the user cannot take even with reasons: a hard stop, or an override only another role may give."""
    return any(stop["kind"] == "hard" or not stop["may_override"] for stop in stops)


def _newer_weight(order: Order) -> Any:
    current = order.patient.current_weight
    if current is not None and current.pk != order.weight_measurement_id:
        return current
    return None


def _transition(request: HttpRequest, pk: int, action: Any, success: str) -> HttpResponse:
    get_object_or_404(Order, pk=pk)
    try:
        action()
    except SafetyStopped as exc:
        for line in error_messages(exc):
            messages.error(request, line)
    except (Conflict, PermissionDenied) as exc:
        messages.error(request, str(exc))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, success)
    return redirect("order-detail", pk=pk)


@require_POST
def order_verify(request: HttpRequest, pk: int) -> HttpResponse:
    if not request.user.has_perm("infusions.verify_order"):
        raise PermissionDenied("Only a pharmacist or a hematologist verifies orders.")
    return _transition(
        request,
        pk,
        lambda: services.verify_order(order_id=pk, user=request.user, overrides=overrides_from_post(request.POST)),
        "Order verified; its infusions are scheduled.",
    )


@require_POST
def order_return(request: HttpRequest, pk: int) -> HttpResponse:
    if not request.user.has_perm("infusions.verify_order"):
        raise PermissionDenied("Only a verifier returns an order to its prescriber.")
    reason = request.POST.get("reason", "")
    return _transition(
        request,
        pk,
        lambda: services.return_order(order_id=pk, user=request.user, reason=reason),
        "Order returned to its prescriber with your reason.",
    )


@require_POST
def order_hold_review(request: HttpRequest, pk: int) -> HttpResponse:
    if not request.user.has_perm("infusions.review_hold"):
        raise PermissionDenied("Only a hematologist reviews a course on hold.")
    decision, reason = request.POST.get("decision", ""), request.POST.get("reason", "")
    return _transition(
        request,
        pk,
        lambda: services.review_hold(order_id=pk, user=request.user, decision=decision, reason=reason),
        "Review recorded." if decision == "continue" else "Remaining days cancelled.",
    )


@require_POST
def order_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    if not request.user.has_perm("infusions.cancel_order"):
        raise PermissionDenied("Only a hematologist cancels orders.")
    reason = request.POST.get("reason", "")
    return _transition(
        request, pk, lambda: services.cancel_order(order_id=pk, user=request.user, reason=reason), "Order cancelled."
    )


@require_POST
def order_recalculate(request: HttpRequest, pk: int) -> HttpResponse:
    if not request.user.has_perm("infusions.recalculate_order"):
        raise PermissionDenied("Only a hematologist recalculates orders.")
    return _transition(
        request,
        pk,
        lambda: services.recalculate_order(
            order_id=pk,
            user=request.user,
            reason=request.POST.get("reason", ""),
            overrides=overrides_from_post(request.POST),
        ),
        "Dose recalculated with the current weight, catalogue and policy; the earlier working is in the history.",
    )


@require_POST
def order_change_product(request: HttpRequest, pk: int) -> HttpResponse:
    if not request.user.has_perm("infusions.change_order_product"):
        raise PermissionDenied("Only a pharmacist or a hematologist changes the product of a course.")
    product = Product.objects.filter(pk=typed_id(request.POST.get("product")) or 0).first()
    if product is None:
        messages.error(request, "Choose the new product.")
        return redirect("order-detail", pk=pk)
    return _transition(
        request,
        pk,
        lambda: services.change_product(
            order_id=pk,
            user=request.user,
            product=product,
            reason=request.POST.get("reason", ""),
            prepared_concentration_percent=_decimal(
                request.POST.get("prepared_concentration_percent"), "prepared_concentration_percent"
            ),
            overrides=overrides_from_post(request.POST),
        ),
        "Product changed: the remaining days were worked out again and wait for verification.",
    )


def patient_orders(request: HttpRequest, patient_id: int) -> HttpResponse:
    _require_staff(request)
    orders = selectors.orders_of_patient(patient_id)
    return render(request, "infusions/partials/patient_orders.html", {"orders": orders, "patient_id": patient_id})


QUEUE_PAGE_SIZE = 25


def verification_queue_page(request: HttpRequest) -> dict[str, Any]:
    """One page of the verification queue: a row per draft order with what verifying it would meet now (the same
    dry run as the order page), its overrides so far and its return, if any. The full working of an order is a
    fragment opened on demand (``order_working_fragment``), not rendered for every row.

    Queries are fixed whatever the page holds: the page of orders with their joins and prefetches, then
    ``services.verification_dry_runs`` reads every row's facts together."""
    page = Paginator(selectors.orders_awaiting_verification(), QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    orders = list(page)
    dry_runs = services.verification_dry_runs(orders, user=request.user)
    rows = []
    for order in orders:
        stops = safety.stop_rows(dry_runs[order.pk]["stops"], user=request.user, order=order)
        rows.append(
            {
                "order": order,
                "stops": stops,
                "warnings": dry_runs[order.pk]["warnings"],
                "blocked": _blocked(stops),
                "overrides": [record for record in order.safety_records.all() if record.kind == "override"],
                "newer_weight": _newer_weight(order),
            }
        )
    return {"rows": rows, "page": page}


def verification_queue(request: HttpRequest) -> HttpResponse:
    if not has_role(request.user, Role.PHARMACIST, Role.HEMATOLOGIST):
        return render(request, "core/no_role.html", status=403)
    return render(request, "infusions/verification_queue.html", verification_queue_page(request))


def order_working_fragment(request: HttpRequest, pk: int) -> HttpResponse:
    """The order's stored working, opened from a row of the verification queue (htmx)."""
    _require_staff(request)
    order = get_object_or_404(selectors.orders_with_related().prefetch_related("patient__weights"), pk=pk)
    context = {"order": order, "patient": order.patient, "working": order_working(order)}
    return render(request, "infusions/partials/order_working.html", context)


# --- Bedside --------------------------------------------------------------------------------------------


def infusion_bedside(
    request: HttpRequest, pk: int, move_form: dict[str, Any] | None = None, status: int = 200
) -> HttpResponse:
    _require_staff(request)
    get_object_or_404(Infusion, pk=pk)
    context = bedside.bedside_context(pk)
    context["can_administer"] = request.user.has_perm("infusions.administer_infusion")
    context["vitals_inputs"] = _vitals_inputs({}, {})
    if context["can_administer"]:
        context.update(_before_the_tap(context, request.user))
        context["move_units"] = list(Unit.objects.filter(active=True).exclude(pk=context["infusion"].unit_id))
        context["can_move"] = context["infusion"].status in services.MOVABLE_STATUSES
    context["move_form"] = move_form
    return render(request, "infusions/bedside.html", context, status=status)


@require_POST
def infusion_move(request: HttpRequest, pk: int) -> HttpResponse:
    """Give this day in another unit (a transfer); a refusal comes back beside the unit field, the reason kept."""
    if not request.user.has_perm("infusions.administer_infusion"):
        raise PermissionDenied("Only nurses document infusions.")
    get_object_or_404(Infusion, pk=pk)
    chosen = request.POST.get("unit", "")
    unit_id = int(chosen) if chosen.isascii() and chosen.isdigit() and len(chosen) < 12 else None
    try:
        infusion = services.move_infusion_to_unit(
            infusion_id=pk, unit_id=unit_id, user=request.user, reason=request.POST.get("reason", "")
        )
    except ValidationError as exc:
        return infusion_bedside(request, pk, {"posted": request.POST, "errors": exc.message_dict}, status=400)
    except Conflict as exc:
        return infusion_bedside(request, pk, {"posted": request.POST, "errors": {"unit": [exc.detail]}}, status=409)
    messages.success(request, f"This day is now given in {infusion.unit}; the earlier unit is kept in its history.")
    return redirect("infusion-bedside", pk=pk)


def _before_the_tap(context: dict[str, Any], user: Any) -> dict[str, Any]:
    """The stops the bedside's main controls would meet now, from the same dry runs the API offers: the start,
    stepping up to the plan's next step, and resuming at the suggested rate (docs/clinical-rules.md §A8)."""
    infusion = context["infusion"]
    checks: dict[str, dict[str, Any]] = {}
    extra: dict[str, Any] = {}
    if infusion.status == "scheduled":
        # The start form's typed vials: the formulary's products, the order's first (§A10 vial_mismatch).
        extra["vial_products"] = sorted(
            Product.objects.filter(Q(on_formulary=True) | Q(pk=infusion.order.product_id)),
            key=lambda product: (product.pk != infusion.order.product_id, product.name),
        )
        checks["start"] = {
            "action": "start",
            "checklist": dict.fromkeys(services.checklist_items(infusion.order), True),
        }
    elif infusion.status == "in_progress" and context["position"].next_step:
        checks["rate"] = {
            "action": "rate",
            "rate_ml_per_h": Decimal(str(context["position"].next_step["rate_ml_per_h"])),
        }
    elif infusion.status == "paused":
        checks["resume"] = {"action": "resume"}
    found: dict[str, Any] = {}
    for name, body in checks.items():
        dry = services.bedside_dry_run(infusion_id=infusion.pk, user=user, **body)
        rows = safety.stop_rows(dry["stops"], user=user, order=infusion.order)
        found[f"{name}_stops"] = rows
        found[f"{name}_blocked"] = _blocked(rows)
        found[f"{name}_warnings"] = dry["warnings"]
    return {**found, **extra}


# The fields each bedside form shows its own errors beside; any other error is shown at the top of the panel.
INLINE_FIELDS: dict[str, tuple[str, ...]] = {
    "vitals": (*VITALS_FIELDS, "taken_at"),
    "rate": ("rate_ml_per_h",),
    "resume": ("rate_ml_per_h",),
    "complete": ("volume_infused_ml",),
    "reaction": ("reaction", "ctcae_grade", "action_taken"),
    "stop": ("reason",),
    "fluid": ("kind", "volume_ml", "recorded_at", "description"),
}

VITALS_INPUTS = (
    # name, label, inputmode, hint (never a placeholder that could be read as a reading)
    ("temperature_c", "Temperature (°C)", "decimal", "One decimal; a comma is fine (36,8)"),
    ("heart_rate_bpm", "Heart rate (/min)", "numeric", "Whole number"),
    ("systolic_bp_mmhg", "Systolic BP (mmHg)", "numeric", "Whole number"),
    ("diastolic_bp_mmhg", "Diastolic BP (mmHg)", "numeric", "Whole number, below systolic"),
    ("respiratory_rate_per_min", "Respiratory rate (/min)", "numeric", "Whole number"),
    ("spo2_percent", "SpO₂ (%)", "numeric", "Whole number"),
)


def _vitals_inputs(posted: dict[str, str], field_errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The vitals form's six inputs, each with what was typed (after an error) and its own errors."""
    return [
        {
            "name": name,
            "label": label,
            "inputmode": inputmode,
            "hint": hint,
            "value": posted.get(name, ""),
            "errors": field_errors.get(name, []),
        }
        for name, label, inputmode, hint in VITALS_INPUTS
    ]


def _split_errors(exc: Exception, action: str) -> tuple[list[str], dict[str, list[str]]]:
    """A refusal's lines for the top of the panel, and the errors shown beside the action's own fields."""
    inline = INLINE_FIELDS.get(action, ())
    if isinstance(exc, ValidationError) and not isinstance(exc, SafetyStopped) and hasattr(exc, "error_dict"):
        beside = {field: list(messages) for field, messages in exc.message_dict.items() if field in inline}
        rest = (
            ValidationError({f: m for f, m in exc.message_dict.items() if f not in inline})
            if len(beside) < len(exc.message_dict)
            else None
        )
        top = error_messages(rest) if rest is not None else []
        if beside:
            top.insert(0, "Not recorded: correct the fields marked below. What you typed is kept.")
        return top, beside
    return error_messages(exc), {}


def _bedside_response(
    request: HttpRequest,
    pk: int,
    errors: list[str] | None = None,
    notice: str = "",
    refused: tuple[str, list[dict[str, Any]]] | None = None,
    failed: tuple[str, dict[str, list[str]]] | None = None,
) -> HttpResponse:
    """htmx gets the panel back in place (no page load); a plain form post is redirected to the page. A refused
    action comes back with its stops beside its own control, each with the reason field where one may be given;
    a failed one with what was typed kept in its fields and each error beside its own field."""
    if not request.htmx:
        for error in errors or []:
            messages.error(request, error)
        for field, field_messages in (failed[1] if failed else {}).items():
            for message in field_messages:
                messages.error(request, field_message(field, message))
        if notice:
            messages.success(request, notice)
        return redirect("infusion-bedside", pk=pk)
    context = bedside.bedside_context(pk)
    context.update(can_administer=True, errors=errors or [], notice=notice)
    context.update(_before_the_tap(context, request.user))
    if refused is not None:
        action, rows = refused
        context[f"{action}_stops"] = rows
        context[f"{action}_blocked"] = _blocked(rows)
    posted: dict[str, str] = {}
    field_errors: dict[str, list[str]] = {}
    if failed is not None or refused is not None:
        action = (failed or refused or ("", {}))[0]
        posted = {key: value for key, value in request.POST.items() if key != "csrfmiddlewaretoken"}
        field_errors = failed[1] if failed is not None else {}
        context["posted"] = {action: posted}
        context["field_errors"] = {action: field_errors}
        if action == "start":
            context.update(_start_as_typed(pk, request.POST))
        if action != "vitals":
            posted, field_errors = {}, {}
    context["vitals_inputs"] = _vitals_inputs(posted, field_errors)
    return render(request, "infusions/partials/bedside_panel.html", context)


TYPED_VIAL_FIELDS = ("vial_product", "vial_size_g", "vial_lot", "vial_expiry")


def _start_as_typed(pk: int, post: Any) -> dict[str, Any]:
    """A refused start comes back as the nurse left it: the checklist ticked as it was, and each vial listed again,
    checked again against the day (its verdict may have changed), so nothing is scanned or typed twice."""
    vials = []
    for code in post.getlist("barcodes"):
        if code.strip():
            vials.append({"post": {"barcode": code}, "verdict": _vial_verdict(pk, barcode=code, typed=None)})
    rows = zip(*(post.getlist(name) for name in TYPED_VIAL_FIELDS), strict=False)
    for row in rows:
        fields = dict(zip(TYPED_VIAL_FIELDS, row, strict=True))
        try:
            verdict = _vial_verdict(pk, barcode="", typed=_typed_vial(*row))
        except ValidationError as exc:
            verdict = {"ok": False, "label": "", "problems": exc.messages}
        vials.append({"post": fields, "verdict": verdict})
    return {"start_checked": {code for code, value in post.items() if value == "on"}, "start_vials": vials}


def _vial_verdict(pk: int, *, barcode: str, typed: dict[str, Any] | None) -> dict[str, Any]:
    try:
        return vial_services.check_vial(pk, barcode=barcode, typed=typed)
    except ValidationError as exc:
        return {"ok": False, "label": "", "problems": exc.messages}


def _decimal(value: str | None, field: str) -> Decimal | None:
    """A number typed on the tablet, a decimal comma accepted; anything else (text, NaN, infinity) is an error
    beside its own field, never a 500."""
    if value is None or not value.strip():
        return None
    number = bedside_services.typed_number(value)
    if number is None:
        label = FIELD_LABELS.get(field, "This value")
        raise ValidationError(
            {field: [f"{label} must be a number, such as 120 or 120,5, with no thousands separator."]}
        )
    return number


def _typed_vials(post: Any) -> list[dict[str, Any]]:
    """The vials typed on the start form: parallel lists, one entry per vial (docs/clinical-rules.md §A10)."""
    rows = zip(
        post.getlist("vial_product"),
        post.getlist("vial_size_g"),
        post.getlist("vial_lot"),
        post.getlist("vial_expiry"),
        strict=False,
    )
    return [_typed_vial(product, size, lot, expiry) for product, size, lot, expiry in rows]


def _typed_vial(product: str, size: str, lot: str, expiry: str) -> dict[str, Any]:
    try:
        expiry_date = date.fromisoformat(expiry) if expiry else None
    except ValueError as exc:
        raise ValidationError({"vials": [f"The expiry {expiry} is not a date."]}) from exc
    return {
        "product": typed_id(product) or -1,
        "vial_size_g": size,
        "lot_number": lot,
        "expiry_date": expiry_date,
    }


@require_POST
def bedside_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    if not request.user.has_perm("infusions.administer_infusion"):
        raise PermissionDenied("Only nurses document infusions.")
    get_object_or_404(Infusion, pk=pk)
    post = request.POST
    if action == "vial-check":
        try:
            typed = (_typed_vials(post) or [{}])[0] if not post.get("barcode") else None
        except ValidationError as exc:
            verdict = {"ok": False, "label": "", "problems": exc.messages}
        else:
            verdict = _vial_verdict(pk, barcode=post.get("barcode", ""), typed=typed)
        return render(request, "infusions/partials/vial_item.html", {"verdict": verdict, "post": post})
    user = request.user
    overrides = overrides_from_post(post)
    try:
        if action == "vitals":
            entry = services.record_vitals(
                infusion_id=pk,
                user=user,
                values={field: post.get(field) for field in VITALS_FIELDS},
                taken_at=typed_local_time(post.get("taken_at"), "taken_at"),
            )
            notice = "Vital signs recorded." if not entry.alerts else ""
        elif action == "start":
            services.start_infusion(
                infusion_id=pk,
                user=user,
                checklist={
                    code: post.get(code) == "on"
                    for code in {**services.CHECKLIST_ITEMS, **services.GLUCOSE_METHOD_ITEM}
                },
                lot_numbers=[lot for lot in post.get("lot_numbers", "").replace(",", "\n").splitlines()],
                vials=_typed_vials(post),
                barcodes=[code for code in post.getlist("barcodes") if code.strip()],
                started_at=typed_local_time(post.get("started_at"), "started_at"),
                rate_ml_per_h=_decimal(post.get("rate_ml_per_h"), "rate_ml_per_h"),
                overrides=overrides,
            )
            notice = "Infusion started."
        elif action == "rate":
            services.change_rate(
                infusion_id=pk,
                user=user,
                rate_ml_per_h=_decimal(post.get("rate_ml_per_h"), "rate_ml_per_h") or Decimal("0"),
                overrides=overrides,
            )
            notice = "Rate changed: take a set of vital signs before each increase."
        elif action == "pause":
            services.pause_infusion(infusion_id=pk, user=user)
            notice = "Infusion paused."
        elif action == "resume":
            services.resume_infusion(
                infusion_id=pk,
                user=user,
                rate_ml_per_h=_decimal(post.get("rate_ml_per_h"), "rate_ml_per_h"),
                overrides=overrides,
            )
            notice = "Infusion resumed."
        elif action == "reaction":
            grade = post.get("ctcae_grade", "").strip()
            services.record_reaction(
                infusion_id=pk,
                user=user,
                reaction=post.get("reaction", ""),
                # "²" is a digit to str.isdigit() but not to int(): anything but 0-9 is no grade (refused beside it).
                ctcae_grade=int(grade) if grade.isascii() and grade.isdigit() and len(grade) < 3 else 0,
                action_taken=post.get("action_taken", ""),
            )
            notice = "Reaction recorded."
        elif action == "complete":
            services.complete_infusion(
                infusion_id=pk,
                user=user,
                volume_infused_ml=_decimal(post.get("volume_infused_ml"), "volume_infused_ml"),
                overrides=overrides,
            )
            notice = "Infusion completed. Observation vitals are still due."
        elif action == "stop":
            services.stop_infusion(infusion_id=pk, user=user, reason=post.get("reason", ""))
            notice = "Infusion stopped."
        elif action == "fluid":
            entry = services.record_fluid_entry(
                infusion_id=pk,
                user=user,
                kind=post.get("kind", ""),
                volume_ml=post.get("volume_ml", ""),
                recorded_at=typed_local_time(post.get("recorded_at"), "recorded_at"),
                description=post.get("description", ""),
            )
            notice = f"{entry.get_kind_display().split(' (')[0]} of {entry.volume_ml} mL recorded on the fluid balance."
        else:
            raise Http404("Unknown bedside action.")
    except SafetyStopped as exc:
        infusion = Infusion.objects.select_related("order").get(pk=pk)
        rows = safety.stopped_rows(exc, user=user, order=infusion.order)
        return _bedside_response(request, pk, errors=error_messages(exc), refused=(action, rows))
    except (ValidationError, Conflict) as exc:
        top, beside = _split_errors(exc, action)
        return _bedside_response(request, pk, errors=top, failed=(action, beside))
    return _bedside_response(request, pk, notice=notice)


# --- The site's catalogue values (pharmacy) ------------------------------------------------------------------


def _require_catalogue_permission(request: HttpRequest) -> None:
    if not has_permission(request.user, "infusions.change_product"):
        raise PermissionDenied("Only pharmacy records the site's catalogue values.")


def catalogue(request: HttpRequest) -> HttpResponse:
    """Each product with the values its label leaves unknown, and a form to record the site's values."""
    _require_catalogue_permission(request)
    return _catalogue_page(request, bound=None)


@require_POST
def catalogue_record(request: HttpRequest, pk: int) -> HttpResponse:
    _require_catalogue_permission(request)
    product = get_object_or_404(Product, pk=pk)
    form = SiteValuesForm(product, request.POST)
    if form.is_valid():
        try:
            services.record_site_values(
                product_id=product.pk, user=request.user, values=form.values(), source=form.cleaned_data["source"]
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(
                request,
                f"Site values recorded for {product.name}. New orders use them; orders already drafted keep their "
                "working until a hematologist recalculates them.",
            )
            return redirect(f"{reverse('product-catalogue')}#product-{product.pk}")
    return _catalogue_page(request, bound=form, status=400)


def _catalogue_page(
    request: HttpRequest,
    *,
    bound: SiteValuesForm | None,
    status: int = 200,
    gtin_post: tuple[int, Any, dict[str, list[str]]] | None = None,
) -> HttpResponse:
    products = Product.objects.annotate(drafts=Count("orders", filter=Q(orders__status="draft"))).order_by(
        "-on_formulary", "discontinued", "name"
    )
    entries = []
    for product in products:
        form = bound if bound is not None and bound.product.pk == product.pk else SiteValuesForm(product)
        entries.append(
            {
                "product": product,
                "form": form,
                "unknown": [SITE_FIELD_LABELS[name] for name in unknown_fields(product)],
                "rate_plan_missing": bool(safety.product_safety(product).missing_rate_values),
                "site_values": [
                    {"label": SITE_FIELD_LABELS.get(name, name), **entry}
                    for name, entry in (product.site_values or {}).items()
                    if name != "gtins"
                ],
                "gtins_recorded": (product.site_values or {}).get("gtins"),
                "gtin_post": gtin_post if gtin_post and gtin_post[0] == product.pk else None,
                "drafts": product.drafts,
            }
        )
    return render(request, "infusions/catalogue.html", {"entries": entries}, status=status)


def _gtin_typed(value: str) -> str:
    """A GTIN as typed, or read from a vial's scanned GS1 code (a scanner in the field sends the whole code)."""
    value = value.strip()
    if value.startswith("]") or GS in value or value.startswith("(01)") or len(value) > 14:
        try:
            return parse_vial_scan(value).gtin
        except ScanError:
            return value
    return value


@require_POST
def catalogue_gtins(request: HttpRequest, pk: int) -> HttpResponse:
    """Pharmacy adds a vial's GTIN (typed or scanned) with its size, or removes GTINs, with the source; the list
    is replaced through the same service as the API and kept in the product's history."""
    _require_catalogue_permission(request)
    product = get_object_or_404(Product, pk=pk)
    removed = set(request.POST.getlist("remove"))
    gtins = [entry for entry in product.gtins or [] if entry["gtin"] not in removed]
    added = _gtin_typed(request.POST.get("gtin", ""))
    if added:
        gtins.append({"gtin": added, "vial_size_g": request.POST.get("vial_size_g", ""), "demo": False})
    elif not removed:
        return _catalogue_page(
            request, bound=None, status=400, gtin_post=(product.pk, request.POST, {"gtin": ["Type or scan a GTIN."]})
        )
    try:
        services.record_gtins(
            product_id=product.pk, user=request.user, gtins=gtins, source=request.POST.get("source", "")
        )
    except ValidationError as exc:
        errors = {field: messages for field, messages in exc.message_dict.items()}
        if "gtins" in errors:
            errors["gtin"] = errors.pop("gtins")
        return _catalogue_page(request, bound=None, status=400, gtin_post=(product.pk, request.POST, errors))
    messages.success(request, f"GTINs of {product.name} recorded; the previous list is kept in its history.")
    return redirect(f"{reverse('product-catalogue')}#product-{product.pk}-gtins")
