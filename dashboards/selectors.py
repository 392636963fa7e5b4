"""The dashboards' queries: each list is one query however many rows (annotations and subqueries, never a
query per row), so the pages stay fast at hospital scale."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict, cast

from django.core.cache import cache
from django.db.models import (
    Case,
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import OrderBy
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from infusions.dosing import REGIMENS
from infusions.models import Infusion, InfusionStatus, Order, OrderStatus, VitalSignsEntry
from monitoring.models import (
    CURRENT_RESULT,
    FOLLOW_UP_LABELS,
    CheckStatus,
    LabCheck,
    Notification,
    NotificationKind,
    OrderResponse,
    PlateletCheck,
    PlateletResult,
)

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

# [D] An "active course" is verified, in progress, or completed or cancelled (partly given) with its first infusion
# within this many days: A12's window, so the 14 and 28 day follow-ups and a loss of response are seen.
ACTIVE_COURSE_DAYS = 35

CATEGORIES = ("complete_response", "response", "no_response", "pending")


@dataclass(frozen=True)
class CourseFilters:
    mine: bool = False
    category: str = ""
    overdue: bool = False
    date_from: date | None = None
    date_to: date | None = None
    search: str = ""
    sort: str = "priority"
    loss: bool = False


class CourseAnnotations(TypedDict):
    """What ``active_courses`` adds to each order."""

    category: str
    latest_count: int | None
    best_count: int | None
    time_to_response: Decimal | None
    awaiting_decision: bool
    next_check_due: datetime | None
    next_check_label: str | None
    has_overdue: bool
    first_started_at: datetime | None
    loss_of_response: str
    loss_rank: int
    bleeding_unassessed: bool


if TYPE_CHECKING:  # WithAnnotations with a TypedDict exists only for the type checker
    CourseQuerySet: TypeAlias = QuerySet[WithAnnotations[Order, CourseAnnotations]]

SORTS: dict[str, list[str | OrderBy]] = {
    # A12: a loss of response comes first (confirmed before unconfirmed), then a repeat dose to decide.
    "priority": ["-loss_rank", "-awaiting_decision", "-has_overdue", "next_check_due", "-first_infusion_on", "pk"],
    "loss": ["-loss_rank", "pk"],
    "first_infusion": ["-first_infusion_on", "pk"],
    "patient": ["patient__family_name", "patient__given_name", "pk"],
    "next_check": [F("next_check_due").asc(nulls_last=True), "pk"],
    "latest_count": [F("latest_count").asc(nulls_last=True), "pk"],
}


def active_courses(
    user: Any, filters: CourseFilters, today: date | None = None, units: Q | None = None
) -> CourseQuerySet:
    """The active courses matching ``filters``, in the units ``units`` selects on the order's unit (all when None;
    core.units.UnitChoice.q)."""
    today = today or timezone.localdate()
    open_checks = PlateletCheck.objects.filter(
        order=OuterRef("pk"), status__in=[CheckStatus.SCHEDULED, CheckStatus.DUE, CheckStatus.OVERDUE]
    )
    first_start = Infusion.objects.filter(order=OuterRef("pk"), started_at__isnull=False).order_by("day_number")
    response = OrderResponse.objects.filter(order=OuterRef("pk"))
    orders = (
        Order.objects.filter(
            Q(status__in=[OrderStatus.VERIFIED, OrderStatus.IN_PROGRESS])
            | Q(status=OrderStatus.COMPLETED, first_infusion_on__gte=today - timedelta(days=ACTIVE_COURSE_DAYS))
            | Q(
                status=OrderStatus.CANCELLED,
                first_infusion_on__gte=today - timedelta(days=ACTIVE_COURSE_DAYS),
                pk__in=Infusion.objects.filter(started_at__isnull=False).values("order_id"),
            )
            # A longer course's window runs past 35 days from its first day: it stays while results still count.
            | Q(
                status__in=[OrderStatus.COMPLETED, OrderStatus.CANCELLED],
                response__window_closes_at__gte=timezone.now(),
            )
        )
        .select_related("patient", "product", "created_by", "unit")
        .annotate(
            category=Coalesce(Subquery(response.values("category")[:1]), Value("pending")),
            latest_count=Subquery(response.values("latest_platelet_count")[:1]),
            best_count=Subquery(response.values("best_platelet_count")[:1]),
            time_to_response=Subquery(response.values("time_to_response_hours")[:1]),
            awaiting_decision=Coalesce(Subquery(response.values("repeat_dose_recommended")[:1]), Value(False)),
            next_check_due=Subquery(open_checks.order_by("due_at").values("due_at")[:1]),
            next_check_label=Subquery(open_checks.order_by("due_at").values("label")[:1]),
            has_overdue=Exists(open_checks.filter(status=CheckStatus.OVERDUE)),
            first_started_at=Subquery(first_start.values("started_at")[:1]),
            loss_of_response=Coalesce(Subquery(response.values("loss_of_response")[:1]), Value("none")),
            loss_rank=Case(
                When(loss_of_response="confirmed", then=Value(2)),
                When(loss_of_response="unconfirmed", then=Value(1)),
                default=Value(0),
            ),
            bleeding_unassessed=Coalesce(Subquery(response.values("bleeding_unassessed")[:1]), Value(False)),
        )
    )
    if units is not None:
        orders = orders.filter(units)
    if filters.mine:
        orders = orders.filter(created_by=user)
    if filters.category in CATEGORIES:
        orders = orders.filter(category=filters.category)
    if filters.overdue:
        orders = orders.filter(has_overdue=True)
    if filters.loss:
        orders = orders.filter(loss_rank__gt=0)
    if filters.date_from:
        orders = orders.filter(first_infusion_on__gte=filters.date_from)
    if filters.date_to:
        orders = orders.filter(first_infusion_on__lte=filters.date_to)
    if filters.search.strip():
        term = filters.search.strip()
        orders = orders.filter(
            Q(patient__mrn__icontains=term)
            | Q(patient__family_name__icontains=term)
            | Q(patient__given_name__icontains=term)
        )
    return orders.order_by(*SORTS.get(filters.sort, SORTS["priority"]))


def category_counts(courses: CourseQuerySet) -> dict[str, int]:
    rows = courses.order_by().values("category").annotate(n=Count("pk"))
    counts = dict.fromkeys(CATEGORIES, 0)
    counts.update({row["category"]: row["n"] for row in rows})
    return counts


# --- Nurse worklist ----------------------------------------------------------------------------------------


def todays_infusions(today: date | None = None, units: Q | None = None) -> QuerySet[Infusion]:
    """Today's days and those still running, in the units ``units`` selects on the day's own unit (all when None):
    a day moved to another unit is on that unit's worklist."""
    today = today or timezone.localdate()
    return (
        Infusion.objects.filter(
            Q(scheduled_for=today) | Q(status__in=[InfusionStatus.IN_PROGRESS, InfusionStatus.PAUSED])
        )
        .filter(units or Q())
        .exclude(order__status=OrderStatus.CANCELLED)
        .select_related("order__patient", "order__product", "unit")
        .annotate(
            last_vitals_at=Subquery(
                VitalSignsEntry.objects.filter(infusion=OuterRef("pk")).order_by("-taken_at").values("taken_at")[:1]
            ),
            status_rank=Case(
                When(status=InfusionStatus.IN_PROGRESS, then=0),
                When(status=InfusionStatus.PAUSED, then=1),
                When(status=InfusionStatus.SCHEDULED, then=2),
                default=3,
                output_field=IntegerField(),
            ),
        )
        .order_by("status_rank", "scheduled_for", "pk")
    )


def checks_needing_results(now: Any = None, units: Q | None = None) -> QuerySet[PlateletCheck]:
    """The platelet checks due now; ``units`` selects on the course's unit and the patient's current unit."""
    now = now or timezone.now()
    return (
        PlateletCheck.objects.filter(status__in=[CheckStatus.DUE, CheckStatus.OVERDUE])
        .filter(units or Q())
        # The follow-up checks at 14 and 28 days are the hematologist's (A12), not the ward's.
        .exclude(label__in=FOLLOW_UP_LABELS)
        .select_related("order__patient")
        .order_by("-status", "due_at", "pk")
    )


def lab_checks_needing_results(units: Q | None = None) -> QuerySet[LabCheck]:
    """The creatinine and hemoglobin samples courses owe now (§A13 "After the course"), overdue first; ``units``
    selects on the course's unit and the patient's current unit."""
    return (
        LabCheck.objects.filter(status__in=[CheckStatus.DUE, CheckStatus.OVERDUE])
        .filter(units or Q())
        .select_related("order__patient")
        .order_by("-status", "due_at", "pk")
    )


LAB_SAFETY_KINDS = (NotificationKind.RENAL_DECLINE, NotificationKind.HEMOLYSIS_SUSPECTED)


def lab_safety_alerts(now: Any = None, days: int = 14) -> QuerySet[Notification]:
    """Renal declines and suspected haemolysis of the last two weeks (§A13), each notified once per course to its
    ordering hematologist and shown to every hematologist here, with the course's hold."""
    now = now or timezone.now()
    return (
        Notification.objects.filter(kind__in=LAB_SAFETY_KINDS, created_at__gte=now - timedelta(days=days))
        .select_related("order__patient")
        .order_by("-created_at", "-pk")
    )


def results_needing_bleeding_grade(now: Any = None, days: int = 7, units: Q | None = None) -> QuerySet[PlateletResult]:
    """Counts of the last week whose bleeding nobody has assessed (every lab result arrives so, A12): the
    worklist asks the ward for the WHO grade. ``units`` selects on the course's unit and the patient's current
    unit."""
    now = now or timezone.now()
    return (
        PlateletResult.objects.filter(
            CURRENT_RESULT, bleeding_assessed=False, preliminary=False, collected_at__gte=now - timedelta(days=days)
        )
        .filter(units or Q())
        .select_related("order__patient", "platelet_check")
        .order_by("collected_at", "pk")
    )


def unread_notifications(user: Any, limit: int = 10) -> list[Notification]:
    return list(
        Notification.objects.filter(recipient=user, read_at__isnull=True).order_by("-created_at", "-pk")[:limit]
    )


# --- Pharmacy: grams ordered and grams saved ---------------------------------------------------------------

_GRAMS = DecimalField(max_digits=12, decimal_places=2)


MONTHLY_USE_CACHE_SECONDS = 300


def monthly_use_cached(months: int = 12) -> list[dict[str, Any]]:
    """The pharmacy's monthly grams change slowly and sum a year of orders: kept 5 minutes per process."""
    key = f"ivig-monthly-use:{months}:{timezone.localdate()}"
    # The cache is untyped; what it holds under this key is what monthly_use returned.
    return cast(list[dict[str, Any]], cache.get_or_set(key, lambda: monthly_use(months), MONTHLY_USE_CACHE_SECONDS))


def monthly_use(months: int = 12, today: date | None = None) -> list[dict[str, Any]]:
    """Per month of first infusion: grams ordered (rounded, what is dispensed), grams the dose worked out
    from the dosing weight before rounding, and grams the actual weight would have needed. The difference
    is what dosing weight saved, and what rounding saved (or added)."""
    today = today or timezone.localdate()
    start = (today.replace(day=1) - timedelta(days=31 * (months - 1))).replace(day=1)
    g_per_kg_day = Case(
        *[When(regimen=code, then=Value(regimen.g_per_kg_per_day)) for code, regimen in REGIMENS.items()],
        output_field=_GRAMS,
    )
    rows = (
        Order.objects.exclude(status__in=[OrderStatus.DRAFT, OrderStatus.CANCELLED])
        .filter(first_infusion_on__gte=start)
        .annotate(month=TruncMonth("first_infusion_on"))
        .values("month")
        .annotate(
            orders=Count("pk"),
            ordered_g=Sum("total_dose_g"),
            calculated_g=Sum("total_calculated_g"),
            actual_weight_g=Sum(
                ExpressionWrapper(F("actual_weight_kg") * g_per_kg_day * F("days"), output_field=_GRAMS)
            ),
        )
        .order_by("month")
    )
    result = []
    for row in rows:
        ordered = row["ordered_g"] or Decimal(0)
        calculated = row["calculated_g"] or Decimal(0)
        actual = row["actual_weight_g"] or Decimal(0)
        result.append(
            {
                **row,
                "saved_by_dosing_weight_g": actual - calculated,
                "saved_by_rounding_g": calculated - ordered,
                "saved_total_g": actual - ordered,
            }
        )
    return result


def orders_for_export() -> QuerySet[Order]:
    return Order.objects.select_related("patient", "product", "created_by", "verified_by").order_by(
        "-created_at", "-pk"
    )


def returned_to(user: Any) -> QuerySet[Order]:
    """The user's draft orders a verifier sent back with a reason (the hematologist's "returned to you"), oldest
    return first; recalculating or cancelling takes an order off the list."""
    return (
        Order.objects.filter(created_by=user, status=OrderStatus.DRAFT, returned_at__isnull=False)
        .select_related("patient", "product", "returned_by")
        .order_by("returned_at", "pk")
    )
