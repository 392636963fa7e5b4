"""A hospital-sized synthetic dataset for the dashboards' benchmark (``benchmarks/dashboards.py``).

Run from the project folder on a migrated database (``DATABASE_URL``; the script re-runs itself under
``.venv/bin/python`` when started with another interpreter and sets Django up itself)::

    python benchmarks/synthetic_dataset.py [--scale 1.0 | --patients N] [--seed 1] [--batch-size 5000]
        [--history-days 365] [--append]

or from Python, with Django set up: ``build(scale=0.1)``.

Every row is made in memory first, then written with ``bulk_create`` in batches inside ONE transaction: a failed
run leaves nothing behind, so it can simply be run again. The clinical numbers are not made up: each order's
working comes from the real dosing engine (``infusions.dosing.calculate_dose`` through
``infusions.services.working_fields``), each result's category from ``monitoring.response_rules.classify`` and each
order's response from ``monitoring.response_rules.assess_response``; vital-sign alerts from
``infusions.vitals_rules.evaluate_vitals``. What the services would also have written and this builder does not:
simple_history's Historical* rows, and reminders (notifications) of checks that were already resulted; no
Delivery rows are made, so nothing built here is ever emailed. The same seed on an empty database gives the same
rows (relative to the clock at the run).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from operator import attrgetter
from pathlib import Path
from typing import Any, TextIO, TypeVar

if __name__ == "__main__":  # run as a script: the virtualenv and Django first, then the models can be imported
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import harness

    harness.ensure_venv(__file__)
    harness.setup_django()

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models, transaction
from django.utils import timezone

from dashboards.selectors import ACTIVE_COURSE_DAYS
from infusions import dosing, vitals_rules
from infusions import services as infusion_services
from infusions.models import (
    Infusion,
    InfusionStatus,
    Order,
    OrderStatus,
    Product,
    RateSegment,
    Reaction,
    VialLot,
    VitalSignsEntry,
)
from monitoring import response_rules as rules
from monitoring import services as monitoring_services
from monitoring.models import (
    CHECK_OFFSETS_HOURS,
    CheckStatus,
    Notification,
    NotificationKind,
    OrderResponse,
    PlateletCheck,
    PlateletResult,
)
from patients.models import Patient, WeightMeasurement

_M = TypeVar("_M", bound=models.Model)


class DatasetError(Exception):
    """The dataset cannot be built as asked (bad arguments, a database that is not empty, a missing catalogue)."""


# --- Sizes at --scale 1.0 ---------------------------------------------------------------------------------

PATIENTS_AT_FULL_SCALE = 10_000
ORDERS_PER_PATIENT = 2
VITALS_AT_FULL_SCALE = 1_000_000
MRN_PREFIX = "SYN-"

# First infusions are spread over the last year (--history-days) and the next few days, so about 21/368 of the
# orders fall in the hematologist dashboard's "active course" window: ~1,150 active courses at full scale, ~115 at
# a tenth.
HISTORY_DAYS = 365
FUTURE_DAYS = 3

# Shares (of orders unless said otherwise).
UPCOMING_DRAFT_SHARE = 0.3  # of orders starting today or later: still awaiting verification (pharmacy queue)
CANCELLED_SHARE = 0.03  # of past orders; half cancelled as drafts, half after verification (before day 1)
EMERGENCY_SHARE = 0.03
IGA_DEFICIENT_SHARE = 0.01  # of patients; they get the IgA-depleted product (docs/clinical-rules.md §A4)
REACTION_SHARE = 0.01  # of given infusions: a grade-1 reaction that did not stop the infusion
HL7_SHARE = 0.7  # of results: from the laboratory rather than typed in
REPEAT_ACCEPT_SHARE = 0.5  # of repeat-dose decisions: accepted (the patient's second order is the repeat)
DECISION_AFTER = timedelta(days=2)  # a non-response flag older than this has been decided; newer ones wait
# Most scheduled counts come back; the 7-day one (often an outpatient) is missed most.
RESULT_SHARE = {"24h": 0.95, "48h": 0.92, "72h": 0.92, "7d": 0.85}
OVERDUE_AFTER = timedelta(hours=settings.IVIG_CHECK_OVERDUE_AFTER_HOURS)  # as the sweep would set it

STAFF = {"nurse": 4, "hematologist": 3, "pharmacist": 2}

GIVEN_NAMES = {
    "female": ("Ada", "Bea", "Clara", "Dina", "Eva", "Flora", "Greta", "Hana", "Ines", "Jana", "Kira", "Lena"),
    "male": ("Aron", "Ben", "Carl", "Dan", "Emil", "Felix", "Gus", "Hugo", "Ivan", "Jon", "Karl", "Leo"),
}
FAMILY_NAMES = (
    "Abbott", "Baker", "Carter", "Dalton", "Ellis", "Fisher", "Grant", "Harper", "Irving", "Jensen", "Keller",
    "Larsen", "Morgan", "Nolan", "Osborne", "Porter", "Quinn", "Reyes", "Sutton", "Turner", "Upton", "Vance",
    "Walsh", "Young",
)  # fmt: skip


@dataclass(frozen=True)
class Archetype:
    """A kind of patient. Doses are worked out once per archetype, weight, regimen and product, then reused."""

    sex: str
    height_cm: Decimal
    weight_kg: Decimal
    min_age: int
    max_age: int
    share: int
    pregnant: bool = False
    cardiac_dysfunction: bool = False
    renal_impairment: bool = False
    thrombosis_risk: bool = False


ARCHETYPES = (
    Archetype("female", Decimal("165"), Decimal("60"), 19, 63, 14),
    Archetype("female", Decimal("160"), Decimal("74"), 19, 63, 12),
    Archetype("female", Decimal("168"), Decimal("98"), 19, 63, 8),
    Archetype("female", Decimal("150"), Decimal("50"), 19, 63, 4),  # below 152.4 cm: actual weight (A2)
    Archetype("female", Decimal("166"), Decimal("72"), 20, 40, 2, pregnant=True),
    Archetype("female", Decimal("158"), Decimal("64"), 67, 89, 8),  # over 65: at risk (A4)
    Archetype("male", Decimal("178"), Decimal("82"), 19, 63, 14),
    Archetype("male", Decimal("172"), Decimal("70"), 19, 63, 10),
    Archetype("male", Decimal("185"), Decimal("118"), 19, 63, 8),
    Archetype("male", Decimal("170"), Decimal("78"), 67, 89, 6, cardiac_dysfunction=True),
    Archetype("male", Decimal("175"), Decimal("90"), 45, 63, 4, renal_impairment=True, thrombosis_risk=True),
    Archetype("male", Decimal("140"), Decimal("34"), 9, 15, 6),
    Archetype("female", Decimal("118"), Decimal("22"), 4, 7, 4),
)
WEIGHT_STEPS_KG = (Decimal("-3"), Decimal("0"), Decimal("3"))

ADULT_REGIMENS = (("one_dose_1g_per_kg", 55), ("two_days_1g_per_kg", 25), ("five_days_0_4g_per_kg", 12))
CHILD_REGIMENS = (("one_dose_0_8g_per_kg", 70), ("one_dose_1g_per_kg", 30))
REPEAT_REGIMEN = "repeat_1g_per_kg"
PRODUCT_SHARES = (
    ("Gamunex-C", 35),
    ("Privigen", 25),
    ("Kiovig", 15),
    ("Panzyga", 10),
    ("Gammagard Liquid", 10),
    ("Flebogamma 10 % DIF", 5),
)
DEFAULT_START_RATE_ML_PER_H = Decimal("60.0")  # for a product whose catalogue entry has no rate plan
CANCEL_REASONS = (
    "Platelets recovered before the infusion.",
    "Patient transferred to another hospital.",
    "Duplicate order.",
    "Corticosteroids chosen instead.",
)
DECLINE_REASON = "Platelets stable without bleeding; observe and recount in a week."

# Vital signs: (temperature °C, heart rate, systolic, diastolic, respiratory rate, SpO2). Alerts are computed by
# the real rules for each (baseline, set) pair; the sets are chosen so that none is "high" (a high alert would
# also owe a notification to the prescriber, which this builder does not make).
BASELINE_VITALS = (
    ("36.6", 72, 122, 76, 16, 98),
    ("36.9", 80, 130, 82, 16, 97),
    ("36.4", 66, 114, 70, 14, 99),
    ("37.0", 86, 136, 84, 18, 97),
)
OBSERVED_VITALS = (
    (("36.7", 74, 124, 78, 16, 98), 26),
    (("36.8", 78, 120, 76, 16, 97), 22),
    (("36.9", 82, 128, 80, 17, 98), 20),
    (("37.1", 84, 132, 82, 18, 97), 14),
    (("36.6", 70, 118, 74, 15, 99), 10),
    (("38.2", 96, 126, 78, 18, 97), 5),  # fever: a warning
    (("37.4", 104, 130, 80, 19, 96), 3),  # tachycardia: a warning
)


def _vitals(values: tuple[str, int, int, int, int, int]) -> vitals_rules.VitalSigns:
    temperature, heart, systolic, diastolic, respiratory, spo2 = values
    return vitals_rules.VitalSigns(Decimal(temperature), heart, systolic, diastolic, respiratory, spo2)


# --- Progress bar ------------------------------------------------------------------------------------------


class ProgressBar:
    """``vitals        [##########----------]   512,000/1,000,000    14.2 s`` on stderr: redrawn in place on a
    terminal, one line every few seconds otherwise (a log file would fill with carriage returns)."""

    WIDTH = 20

    def __init__(self, stream: TextIO, label: str, total: int) -> None:
        self.stream = stream
        self.label = label
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self._drawn_at = 0.0 if self.tty else self.started  # not a terminal: the first line after 5 s

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._drawn_at >= (0.1 if self.tty else 5.0):
            self._drawn_at = now
            self.stream.write(("\r" if self.tty else "") + self._line() + ("" if self.tty else "\n"))
            self.stream.flush()

    def finish(self) -> float:
        elapsed = time.monotonic() - self.started
        self.stream.write(("\r" if self.tty else "") + self._line() + "\n")
        self.stream.flush()
        return elapsed

    def _line(self) -> str:
        filled = self.WIDTH * self.done // self.total if self.total else self.WIDTH
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        elapsed = time.monotonic() - self.started
        return f"{self.label:<13} [{bar}] {self.done:>9,}/{self.total:,}  {elapsed:6.1f} s"


# --- The plan: every row, in memory, before anything is written --------------------------------------------


@dataclass
class GivenInfusion:
    """An infusion that started: it gets vital signs from 10 minutes before its start (the baseline) to an hour
    after its end, or until now while it runs."""

    infusion: Infusion
    first_at: datetime
    last_at: datetime
    baseline: int
    nurse_id: int
    vitals: int = 0


@dataclass
class Course:
    """One order as planned, with what the second order of the patient may depend on."""

    order: Order
    response: OrderResponse | None = None
    decided_at: datetime | None = None  # when a non-response flag was answered, if it was
    accepted: bool = False


@dataclass
class Plan:
    patients: list[Patient] = field(default_factory=list)
    weights: list[WeightMeasurement] = field(default_factory=list)
    first_orders: list[Order] = field(default_factory=list)
    second_orders: list[Order] = field(default_factory=list)
    infusions: list[Infusion] = field(default_factory=list)
    segments: list[RateSegment] = field(default_factory=list)
    vial_lots: list[VialLot] = field(default_factory=list)
    reactions: list[Reaction] = field(default_factory=list)
    given: list[GivenInfusion] = field(default_factory=list)
    checks: list[PlateletCheck] = field(default_factory=list)
    results: list[PlateletResult] = field(default_factory=list)
    responses: list[OrderResponse] = field(default_factory=list)
    # Notifications need the ids of their check or order in their dedupe key: made after those are written.
    reminders: list[tuple[PlateletCheck, str, datetime]] = field(default_factory=list)
    # (order, best count, when the flag went up, when it was answered or None)
    non_response_flags: list[tuple[Order, int | None, datetime, datetime | None]] = field(default_factory=list)
    active_courses: int = 0


@dataclass(frozen=True)
class Staff:
    nurses: list[Any]
    hematologists: list[Any]
    pharmacists: list[Any]


class Planner:
    """Draws the dataset with one seeded random generator; the clock (``now``) decides each row's state the way
    the services would have left it: an infusion whose start has passed has started, one whose end has passed is
    completed, a check whose due time has passed is due, overdue or resulted, and so on."""

    def __init__(
        self,
        *,
        rng: random.Random,
        now: datetime,
        staff: Staff,
        products: dict[str, Product],
        first_mrn: int,
        history_days: int = HISTORY_DAYS,
    ) -> None:
        self.rng = rng
        self.now = now
        self.today = timezone.localdate(now)
        self.zone = timezone.get_current_timezone()
        self.staff = staff
        self.first_mrn = first_mrn
        self.history_days = history_days
        self.config = infusion_services.dosing_config()
        self.products = products
        self.product_names = [name for name, _ in PRODUCT_SHARES if name in products]
        self.product_weights = [share for name, share in PRODUCT_SHARES if name in products]
        depleted = [p for p in products.values() if p.iga_depleted]
        self.iga_depleted_product = depleted[0] if depleted else None
        self.working_cache: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.baselines = [_vitals(values) for values in BASELINE_VITALS]
        self.observed = [_vitals(values) for values, _ in OBSERVED_VITALS]
        self.observed_weights = [share for _, share in OBSERVED_VITALS]
        self.alerts = self._alert_table()
        self.checklist_items = dict.fromkeys(infusion_services.CHECKLIST_ITEMS, True)
        self.plan = Plan()

    # -- small helpers

    def _alert_table(self) -> dict[tuple[int, int | None], tuple[list[dict[str, str]], str]]:
        """(baseline index, observed index or None for the baseline itself) -> (alerts JSON, highest severity),
        worked out by the real rules, as record_vitals stores them."""
        table: dict[tuple[int, int | None], tuple[list[dict[str, str]], str]] = {}
        for b, baseline in enumerate(self.baselines):
            pairs: list[tuple[int | None, vitals_rules.VitalSigns, vitals_rules.VitalSigns | None]] = [
                (None, baseline, None)
            ]
            pairs += [(o, observed, baseline) for o, observed in enumerate(self.observed)]
            for o, current, against in pairs:
                raised = vitals_rules.evaluate_vitals(current, against)
                severity = vitals_rules.highest_severity(raised)
                if severity == vitals_rules.Severity.HIGH:
                    # A high alert owes the prescriber a notification; keep the synthetic sets below that.
                    raise DatasetError(f"synthetic vital signs {OBSERVED_VITALS[o or 0][0]} raise a high alert")
                table[(b, o)] = (vitals_rules.alert_records(raised), severity)
        return table

    def at(self, day: date, minutes: int) -> datetime:
        return timezone.make_aware(datetime.combine(day, clock_time()) + timedelta(minutes=minutes), self.zone)

    def minutes(self, low: int, high: int) -> timedelta:
        return timedelta(minutes=self.rng.randint(low, high))

    def past(self, moment: datetime) -> datetime:
        """Never later than now: nothing is recorded in the future."""
        return min(moment, self.now)

    def pick(self, choices: Sequence[tuple[str, int]]) -> str:
        return self.rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]

    # -- patients

    def plan_patients(self, count: int, progress: ProgressBar) -> None:
        archetype_weights = [a.share for a in ARCHETYPES]
        for n in range(count):
            index = self.rng.choices(range(len(ARCHETYPES)), weights=archetype_weights)[0]
            self._plan_patient(self.first_mrn + n, index)
            progress.advance()

    def _plan_patient(self, number: int, archetype_index: int) -> None:
        rng = self.rng
        archetype = ARCHETYPES[archetype_index]
        age = rng.randint(archetype.min_age, archetype.max_age)
        birth_date = self.today - timedelta(days=age * 365 + age // 4 + rng.randint(0, 364))
        iga = Decimal("3.00") if rng.random() < IGA_DEFICIENT_SHARE else Decimal(rng.randint(70, 350))
        # Two first-infusion dates; the earlier one is the patient's first order.
        draws = (rng.randint(-FUTURE_DAYS, self.history_days - 1) for _ in range(ORDERS_PER_PATIENT))
        offsets = sorted(draws, reverse=True)
        first_day = self.today - timedelta(days=offsets[0])
        registered = self.at(first_day, 0) - timedelta(days=rng.randint(2, 30))
        patient = Patient(
            mrn=f"{MRN_PREFIX}{number:07d}",
            given_name=rng.choice(GIVEN_NAMES[archetype.sex]),
            family_name=rng.choice(FAMILY_NAMES),
            birth_date=birth_date,
            sex=archetype.sex,
            height_cm=archetype.height_cm,
            serum_iga_mg_dl=iga,
            iga_measured_on=min(registered.date(), self.today),
            pregnant=archetype.pregnant,
            cardiac_dysfunction=archetype.cardiac_dysfunction,
            renal_impairment=archetype.renal_impairment,
            thrombosis_risk=archetype.thrombosis_risk,
            created_at=self.past(registered),
            updated_at=self.past(registered),
        )
        self.plan.patients.append(patient)
        weight_kg = archetype.weight_kg + rng.choice(WEIGHT_STEPS_KG)
        context = (patient, archetype_index, weight_kg)
        first = self._plan_course(context, first_day, may_repeat=True)
        self.plan.first_orders.append(first.order)
        if first.accepted and first.decided_at is not None and first.response is not None:
            # The accepted repeat dose is the patient's second order: decide_repeat_dose drafts it at the decision,
            # with the latest count as its baseline; it is given from the next day.
            second_day = timezone.localtime(first.decided_at, self.zone).date() + timedelta(days=1)
            second = self._plan_course(
                context,
                second_day,
                regimen=REPEAT_REGIMEN,
                previous=first.order,
                baseline=first.response.latest_platelet_count,
                created=first.decided_at,
            )
            first.response.repeat_order = second.order
        else:
            second = self._plan_course(context, self.today - timedelta(days=offsets[1]))
        self.plan.second_orders.append(second.order)

    # -- orders and their infusions

    def _working(self, patient: Patient, archetype_index: int, weight_kg: Decimal, order: Order) -> dict[str, Any]:
        """The frozen working from the real dosing engine, cached: only the age band (under 18, over 65) of the
        age enters the calculation, except in the paediatric-regimen-for-an-adult warning, which quotes it."""
        age = patient.age_on(order.first_infusion_on)
        exact_age = age if order.regimen == "one_dose_0_8g_per_kg" and age >= self.config.adult_age_years else None
        iga_deficient = patient.iga_deficient  # the laboratory cut-off of the settings, as services use
        key = (
            archetype_index,
            weight_kg,
            order.regimen,
            order.product.pk,
            age < self.config.adult_age_years,
            age > self.config.at_risk_age_over_years,
            exact_age,
            iga_deficient,
            order.emergency,
        )
        cached = self.working_cache.get(key)
        if cached is None:
            facts = dosing.PatientFacts(
                sex=patient.sex,
                age_years=age,
                height_cm=patient.height_cm,
                actual_weight_kg=weight_kg,
                pregnant=patient.pregnant,
                cardiac_dysfunction=patient.cardiac_dysfunction,
                renal_impairment=patient.renal_impairment,
                thrombosis_risk=patient.thrombosis_risk,
                iga_deficient=iga_deficient,
            )
            calculation = dosing.calculate_dose(
                facts, order.product.facts(), order.regimen, self.config, emergency=order.emergency
            )
            # working_fields reads only weight_kg from the measurement; the real one is set per order below.
            cached = infusion_services.working_fields(calculation, WeightMeasurement(weight_kg=weight_kg), facts)
            self.working_cache[key] = cached
        return {**cached, "age_years": age}

    def _plan_course(
        self,
        context: tuple[Patient, int, Decimal],
        first_infusion_on: date,
        *,
        may_repeat: bool = False,
        regimen: str | None = None,
        previous: Order | None = None,
        baseline: int | None = None,
        created: datetime | None = None,
    ) -> Course:
        rng = self.rng
        patient, archetype_index, weight_kg = context
        age = patient.age_on(first_infusion_on)
        if regimen is None:
            regimen = self.pick(CHILD_REGIMENS if age < self.config.adult_age_years else ADULT_REGIMENS)
        if patient.iga_deficient and self.iga_depleted_product is not None:
            product = self.iga_depleted_product
        else:
            product = self.products[rng.choices(self.product_names, weights=self.product_weights)[0]]
        day_one = self.at(first_infusion_on, 8 * 60 + rng.randint(0, 300))
        upcoming = first_infusion_on >= self.today
        if upcoming and rng.random() < UPCOMING_DRAFT_SHARE:
            fate = "draft"
        elif not upcoming and rng.random() < CANCELLED_SHARE:
            fate = rng.choice(("cancelled_draft", "cancelled_verified"))
        else:
            fate = "verified"
        if created is not None:
            pass  # a repeat order, drafted when the repeat dose was accepted
        elif fate == "draft":
            created = self.now - self.minutes(5, 12 * 60)
        else:
            created = day_one - self.minutes(6 * 60, 72 * 60)
            if created > self.now:
                created = self.now - self.minutes(10, 12 * 60)
        prescriber = rng.choice(self.staff.hematologists)
        weight = WeightMeasurement(
            patient=patient,
            weight_kg=weight_kg,
            measured_at=created - self.minutes(60, 48 * 60),
            recorded_by=rng.choice(self.staff.nurses),
            created_at=created - self.minutes(0, 59),
        )
        self.plan.weights.append(weight)
        order = Order(
            patient=patient,
            regimen=regimen,
            product=product,
            baseline_platelet_count=baseline if baseline is not None else rng.randint(3, 29),
            first_infusion_on=first_infusion_on,
            emergency=rng.random() < EMERGENCY_SHARE,
            previous_order=previous,
            notes="Repeat dose for non-response." if previous is not None else "",
            status=OrderStatus.DRAFT,
            created_by=prescriber,
            created_at=created,
            updated_at=created,
        )
        for name, value in self._working(patient, archetype_index, weight_kg, order).items():
            setattr(order, name, value)
        order.weight_measurement = weight
        order.calculated_at = created
        course = Course(order=order)
        if fate == "draft":
            return course
        if fate.startswith("cancelled"):
            self._cancel(order, fate == "cancelled_verified", day_one)
            return course
        order.status = OrderStatus.VERIFIED
        order.verified_by = rng.choice(self.staff.pharmacists)
        order.verified_at = self.past(created + self.minutes(15, 240))
        order.updated_at = order.verified_at
        day_one_end = self._plan_infusions(order, day_one)
        if day_one_end is not None:
            self._plan_checks(course, day_one, day_one_end, may_repeat)
        # What the hematologist dashboard lists (dashboards.selectors.active_courses), for the summary.
        recent = first_infusion_on >= self.today - timedelta(days=ACTIVE_COURSE_DAYS)
        if order.status in (OrderStatus.VERIFIED, OrderStatus.IN_PROGRESS) or (
            order.status == OrderStatus.COMPLETED and recent
        ):
            self.plan.active_courses += 1
        return course

    def _cancel(self, order: Order, verified: bool, day_one: datetime) -> None:
        rng = self.rng
        order.status = OrderStatus.CANCELLED
        order.cancel_reason = rng.choice(CANCEL_REASONS)
        order.cancelled_by = order.created_by
        order.cancelled_at = self.past(min(order.created_at + self.minutes(60, 300), day_one - timedelta(minutes=30)))
        order.updated_at = order.cancelled_at
        if not verified:
            return
        order.verified_by = rng.choice(self.staff.pharmacists)
        order.verified_at = order.created_at + (order.cancelled_at - order.created_at) / 2
        # cancel_order stops the days not yet given, with the reason (the contract has no "cancelled" infusion).
        for day in range(1, order.days + 1):
            self.plan.infusions.append(
                Infusion(
                    order=order,
                    day_number=day,
                    scheduled_for=order.first_infusion_on + timedelta(days=day - 1),
                    status=InfusionStatus.STOPPED,
                    dose_g=order.rounded_dose_per_day_g,
                    volume_ml=order.volume_per_day_ml,
                    stop_reason=f"Order cancelled: {order.cancel_reason}",
                    stopped_at=order.cancelled_at,
                    created_at=order.verified_at,
                    updated_at=order.cancelled_at,
                )
            )

    def _start_rate(self, order: Order) -> Decimal:
        if order.rate_plan and order.rate_plan.get("steps"):
            return Decimal(str(order.rate_plan["steps"][0]["rate_ml_per_h"])).quantize(Decimal("0.1"))
        return DEFAULT_START_RATE_ML_PER_H

    def _plan_infusions(self, order: Order, day_one: datetime) -> datetime | None:
        """One infusion per course day; returns when day 1 ended, if it has."""
        rng = self.rng
        previous_done = True
        started_any = False
        all_done = True
        day_one_end = None
        rate = self._start_rate(order)
        for day in range(1, order.days + 1):
            scheduled_for = order.first_infusion_on + timedelta(days=day - 1)
            start = day_one if day == 1 else self.at(scheduled_for, 8 * 60 + rng.randint(0, 300))
            end = start + self.minutes(150, 330)
            infusion = Infusion(
                order=order,
                day_number=day,
                scheduled_for=scheduled_for,
                dose_g=order.rounded_dose_per_day_g,
                volume_ml=order.volume_per_day_ml,
                created_at=order.verified_at,
                updated_at=order.verified_at,
            )
            self.plan.infusions.append(infusion)
            if not previous_done or start > self.now:
                previous_done = False
                all_done = False
                continue
            started_any = True
            nurse = rng.choice(self.staff.nurses)
            infusion.started_at = start
            infusion.started_by = nurse
            infusion.checklist = {
                **self.checklist_items,
                "confirmed_by": nurse.get_username(),
                "confirmed_at": start.isoformat(),
            }
            running = end > self.now
            infusion.status = InfusionStatus.IN_PROGRESS if running else InfusionStatus.COMPLETED
            infusion.updated_at = start if running else end
            if running:
                infusion.current_rate_ml_per_h = rate
                previous_done = False
                all_done = False
            else:
                infusion.completed_at = end
                infusion.completed_by = nurse
                infusion.volume_infused_ml = order.volume_per_day_ml
                if day == 1:
                    day_one_end = end
            self.plan.segments.append(
                RateSegment(
                    infusion=infusion,
                    rate_ml_per_h=rate,
                    started_at=start,
                    ended_at=None if running else end,
                    reason=RateSegment.Reason.START,
                    recorded_by=nurse,
                    created_at=start,
                )
            )
            self.plan.vial_lots.append(
                VialLot(
                    infusion=infusion,
                    lot_number=f"LOT-{rng.randint(100000, 999999)}",
                    expiry_date=scheduled_for + timedelta(days=rng.randint(90, 720)),
                    recorded_by=nurse,
                    created_at=start,
                )
            )
            if not running and rng.random() < REACTION_SHARE:
                noted = start + self.minutes(30, 120)
                self.plan.reactions.append(
                    Reaction(
                        infusion=infusion,
                        reaction=rng.choice(("headache", "chills", "flushing", "fever")),
                        ctcae_grade=1,
                        action_taken="Rate halved; paracetamol given.",
                        noted_at=noted,
                        rate_at_reaction_ml_per_h=rate,
                        recorded_by=nurse,
                        created_at=noted,
                    )
                )
            self.plan.given.append(
                GivenInfusion(
                    infusion=infusion,
                    first_at=start - timedelta(minutes=10),
                    last_at=self.past(end + timedelta(minutes=60)),
                    baseline=rng.randrange(len(BASELINE_VITALS)),
                    nurse_id=nurse.pk,
                )
            )
        # The bedside services' rule, worked in memory: completed once no day is left, in progress once one started.
        if all_done:
            order.status = OrderStatus.COMPLETED
        elif started_any:
            order.status = OrderStatus.IN_PROGRESS
        return day_one_end

    # -- checks, results, the response

    def _count(self, profile: str, label: str, baseline: int) -> int:
        r = self.rng.randint
        if profile == "complete":
            count = {"24h": baseline + r(10, 60), "48h": r(60, 150), "72h": r(100, 250), "7d": r(120, 400)}[label]
        elif profile == "partial":
            floor = max(2 * baseline, 30)
            count = {"24h": baseline + r(5, 20), "48h": floor + r(0, 30), "72h": floor + r(5, 50), "7d": r(40, 95)}[
                label
            ]
        elif profile == "lost":
            count = {"24h": r(40, 90), "48h": r(100, 160), "72h": r(60, 99), "7d": r(10, 29)}[label]
        else:
            count = baseline + r(-2, 12)
        return max(0, min(count, 2000))

    def _plan_checks(self, course: Course, day_one_start: datetime, day_one_end: datetime, may_repeat: bool) -> None:
        rng = self.rng
        order = course.order
        profile = self.pick((("complete", 50), ("partial", 20), ("none", 22), ("lost", 8)))
        bleeding_share = 0.08 if profile == "none" else 0.01
        nurses = self.staff.nurses
        results: list[PlateletResult] = []
        for label, hours in CHECK_OFFSETS_HOURS.items():
            due = day_one_end + timedelta(hours=hours)
            check = PlateletCheck(order=order, label=label, due_at=due, created_at=day_one_end, updated_at=day_one_end)
            self.plan.checks.append(check)
            if due > self.now:
                continue  # scheduled
            if rng.random() < RESULT_SHARE[str(label)]:
                collected = due - self.minutes(0, 45)
                resulted = self.past(collected + self.minutes(30, 180))
                count = self._count(profile, str(label), order.baseline_platelet_count)
                bleeding = rng.random() < bleeding_share
                category = rules.classify(count, order.baseline_platelet_count, bleeding)
                hl7 = rng.random() < HL7_SHARE
                result = PlateletResult(
                    order=order,
                    platelet_check=check,
                    platelet_count=count,
                    collected_at=collected,
                    bleeding=bleeding,
                    category=category,
                    source=PlateletResult.Source.HL7 if hl7 else PlateletResult.Source.MANUAL,
                    entered_by=None if hl7 else rng.choice(nurses),
                    created_at=resulted,
                )
                results.append(result)
                monitoring_services.close_check_with_result(
                    check,
                    platelet_count=count,
                    collected_at=collected,
                    bleeding=bleeding,
                    category=category,
                    at=resulted,
                )
                check.updated_at = resulted
                # The sweep reminded the nurses if the count was not in when it fell due.
                check.due_reminded_at = due + timedelta(minutes=1) if resulted > due + timedelta(minutes=1) else None
            else:
                # No result: the sweep has made it due, then overdue, reminding each time (run_sweep).
                check.due_reminded_at = self.past(due + timedelta(minutes=1))
                self.plan.reminders.append((check, NotificationKind.PLATELET_CHECK_DUE, check.due_reminded_at))
                # run_sweep's rule at this builder's clock.
                if self.now - due >= OVERDUE_AFTER:
                    check.status = CheckStatus.OVERDUE
                    check.overdue_reminded_at = self.past(due + OVERDUE_AFTER + timedelta(minutes=1))
                    check.updated_at = check.overdue_reminded_at
                    self.plan.reminders.append(
                        (check, NotificationKind.PLATELET_CHECK_OVERDUE, check.overdue_reminded_at)
                    )
                else:
                    check.status = CheckStatus.DUE
                    check.updated_at = check.due_reminded_at
        self.plan.results.extend(results)
        self._plan_response(course, day_one_start, day_one_end, results, may_repeat)

    def _plan_response(
        self, course: Course, started: datetime, ended: datetime, results: list[PlateletResult], may_repeat: bool
    ) -> None:
        order = course.order
        inputs = [monitoring_services.reading_of(r) for r in results]
        assessed_at = max((r.created_at for r in results), default=ended)

        def assess(decided: bool) -> rules.ResponseAssessment:
            return rules.assess_response(
                baseline_count=order.baseline_platelet_count,
                results=inputs,
                first_infusion_started_at=started,
                first_infusion_completed_at=ended,
                repeat_decision_made=decided,
                assessed_at=assessed_at,
            )

        assessment = assess(False)
        response = OrderResponse(order=order, assessed_at=assessed_at)
        if assessment.repeat_dose_recommended:
            # The flag went up when the first result at 72 h or later was entered (reassess_response).
            late = [r for r in results if str(r.platelet_check.label) in ("72h", "7d")]  # type: ignore[union-attr]
            flagged_at = min(r.created_at for r in late) if late else assessed_at
            best = assessment.best_platelet_count
            if self.now - flagged_at >= DECISION_AFTER:
                decided_at = flagged_at + self.minutes(30, 24 * 60)
                course.decided_at = decided_at
                # Only a first order's repeat can become the patient's second order; the others are declined.
                course.accepted = may_repeat and self.rng.random() < REPEAT_ACCEPT_SHARE
                response.repeat_decision = "accept" if course.accepted else "decline"
                response.repeat_decision_reason = "" if course.accepted else DECLINE_REASON
                response.repeat_decided_by = order.created_by
                response.repeat_decided_at = decided_at
                assessment = assess(True)
            self.plan.non_response_flags.append((order, best, flagged_at, course.decided_at))
        latest = max(results, key=lambda r: r.collected_at, default=None)
        monitoring_services.apply_assessment(
            response, assessment, latest_count=latest.platelet_count if latest else None
        )
        self.plan.responses.append(response)
        course.response = response

    # -- vital signs, made while writing (a million model instances would not fit comfortably in memory)

    def allot_vitals(self, total: int) -> None:
        """Share ``total`` sets over the given infusions as evenly as possible (each gets at least its baseline
        when there are enough)."""
        given = self.plan.given
        if not given:
            return
        share, extra = divmod(total, len(given))
        for n, item in enumerate(given):
            item.vitals = share + (1 if n < extra else 0)

    def vitals_rows(self) -> Iterator[VitalSignsEntry]:
        rng = self.rng
        pattern_range = range(len(self.observed))
        for item in self.plan.given:
            if item.vitals == 0:
                continue
            step = (item.last_at - item.first_at) / max(item.vitals - 1, 1)
            infusion_id = item.infusion.pk
            patterns = rng.choices(pattern_range, weights=self.observed_weights, k=item.vitals - 1)
            for n in range(item.vitals):
                observed = None if n == 0 else patterns[n - 1]
                values = self.baselines[item.baseline] if observed is None else self.observed[observed]
                alerts, severity = self.alerts[(item.baseline, observed)]
                taken = item.first_at + step * n
                yield VitalSignsEntry(
                    infusion_id=infusion_id,
                    taken_at=taken,
                    temperature_c=values.temperature_c,
                    heart_rate_bpm=values.heart_rate_bpm,
                    systolic_bp_mmhg=values.systolic_bp_mmhg,
                    diastolic_bp_mmhg=values.diastolic_bp_mmhg,
                    respiratory_rate_per_min=values.respiratory_rate_per_min,
                    spo2_percent=values.spo2_percent,
                    alerts=alerts,
                    highest_severity=severity,
                    recorded_by_id=item.nurse_id,
                    created_at=self.past(taken + timedelta(minutes=1)),
                )

    # -- notifications, once checks and orders have ids

    def notifications(self) -> Iterator[Notification]:
        nurses = self.staff.nurses
        for check, kind, created in self.plan.reminders:
            recipients = nurses if kind == NotificationKind.PLATELET_CHECK_DUE else [*nurses, check.order.created_by]
            # The sweep's own wording (a private helper, used so the inbox reads exactly as in production).
            message = monitoring_services.reminder_message(check, kind)
            for recipient in {r.pk: r for r in recipients}.values():
                yield Notification(
                    recipient=recipient,
                    kind=kind,
                    message=message,
                    order=check.order,
                    platelet_check=check,
                    dedupe_key=f"{kind}:check{check.pk}:user{recipient.pk}",
                    created_at=created,
                )
        for order, best, flagged_at, decided_at in self.plan.non_response_flags:
            yield Notification(
                recipient=order.created_by,
                kind=NotificationKind.NON_RESPONSE,
                message=monitoring_services.non_response_message(order, best),
                order=order,
                dedupe_key=f"non_response:order{order.pk}:user{order.created_by.pk}",
                created_at=flagged_at,
                read_at=decided_at,
            )


# --- Writing ------------------------------------------------------------------------------------------------

# Models whose auto_now / auto_now_add timestamps are set by the plan instead (a year of history written "now"
# would put every order's creation at the same instant).
TIMESTAMPED_MODELS: tuple[type[models.Model], ...] = (
    Patient,
    WeightMeasurement,
    Order,
    Infusion,
    RateSegment,
    VialLot,
    Reaction,
    VitalSignsEntry,
    PlateletCheck,
    PlateletResult,
    Notification,
)


@contextmanager
def planned_timestamps() -> Iterator[None]:
    """Switch auto_now/auto_now_add off while bulk-writing, and back on afterwards, even on failure. Only this
    process is affected, and only for the duration of the build."""
    switched: list[tuple[models.DateTimeField, bool, bool]] = []
    for model in TIMESTAMPED_MODELS:
        for model_field in model._meta.concrete_fields:
            if isinstance(model_field, models.DateTimeField) and (model_field.auto_now or model_field.auto_now_add):
                switched.append((model_field, model_field.auto_now, model_field.auto_now_add))
                model_field.auto_now = model_field.auto_now_add = False
    try:
        yield
    finally:
        for model_field, auto_now, auto_now_add in switched:
            model_field.auto_now, model_field.auto_now_add = auto_now, auto_now_add


def chunks(
    rows: Iterable[_M], size: int, depends_on: Callable[[_M], models.Model | None] | None = None
) -> Iterator[list[_M]]:
    """Batches of ``size`` rows; a row that points at a row of the current batch (a repeat order at the order it
    repeats) starts a new batch, since a row gets its id only once its batch is written."""
    batch: list[_M] = []
    in_batch: set[int] = set()
    for row in rows:
        target = depends_on(row) if depends_on is not None else None
        if len(batch) >= size or (target is not None and id(target) in in_batch):
            yield batch
            batch, in_batch = [], set()
        batch.append(row)
        in_batch.add(id(row))
    if batch:
        yield batch


def build(
    *,
    scale: float = 1.0,
    seed: int = 1,
    batch_size: int = 5000,
    history_days: int = HISTORY_DAYS,
    append: bool = False,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> dict[str, int]:
    """Build the dataset at ``scale`` (1.0 = 10,000 patients) on the current database, in one transaction; print
    the counts to ``stdout`` and progress bars to ``stderr`` (the process's own by default), and return the counts.

    Raises DatasetError for arguments out of range, and on a database that already holds patients or orders
    unless ``append``.
    """
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    if not 0 < scale <= 10:
        raise DatasetError("--scale must be above 0 and at most 10")
    if batch_size < 1:
        raise DatasetError("--batch-size must be at least 1")
    if not ACTIVE_COURSE_DAYS <= history_days <= 3650:
        raise DatasetError(f"--history-days must be between {ACTIVE_COURSE_DAYS} and 3650")
    if not append and (Patient.objects.exists() or Order.objects.exists()):
        raise DatasetError(
            f"The database already holds {Patient.objects.count():,} patients and {Order.objects.count():,} "
            "orders: refusing to mix synthetic data into it. Use an empty database, or pass --append."
        )
    patients = max(1, round(PATIENTS_AT_FULL_SCALE * scale))
    vitals = round(VITALS_AT_FULL_SCALE * scale)
    started = time.monotonic()
    # One transaction: a failure (or Ctrl-C) leaves the database as it was, so the build can be re-run.
    with transaction.atomic(), planned_timestamps():
        counts = _build(patients, vitals, seed, batch_size, history_days, stderr)
    elapsed = time.monotonic() - started
    stdout.write(f"Synthetic dataset built in {elapsed:.1f} s (scale {scale:g}):\n")
    for name, count in counts.items():
        stdout.write(f"  {name:<24} {count:>10,}\n")
    stdout.flush()
    return counts


def _build(patients: int, vitals: int, seed: int, batch_size: int, history_days: int, stderr: TextIO) -> dict[str, int]:
    staff, users_created = _staff()
    products = {p.name: p for p in Product.objects.all() if p.orderable and p.vial_sizes()}
    if not any(name in products for name, _ in PRODUCT_SHARES):
        raise DatasetError("None of the usual products is in the catalogue with vial sizes: run migrate first.")
    first_mrn = Patient.objects.filter(mrn__startswith=MRN_PREFIX).count() + 1
    # Seeded by the seed and where this run starts, so that an --append run draws new patients.
    rng = random.Random(f"ivig-synthetic:{seed}:{first_mrn}")
    planner = Planner(
        rng=rng,
        now=timezone.now(),
        staff=staff,
        products=products,
        first_mrn=first_mrn,
        history_days=history_days,
    )

    progress = ProgressBar(stderr, "planning", patients)
    planner.plan_patients(patients, progress)
    progress.finish()
    plan = planner.plan
    planner.allot_vitals(vitals)

    # Rows are written in the order they would have been created, as a year of real use lays them out on disk
    # (a table's physical order follows time, which the planner's correlation statistics and the heap pages
    # an index scan touches both depend on), and ids then grow with time as they would.
    by_time: Callable[[Any], datetime] = attrgetter("created_at")
    orders = sorted([*plan.first_orders, *plan.second_orders], key=by_time)
    plan.given.sort(key=attrgetter("first_at"))
    _write(stderr, "patients", [sorted(plan.patients, key=by_time)], batch_size)
    _write(stderr, "weights", [sorted(plan.weights, key=by_time)], batch_size)
    _write(stderr, "orders", [orders], batch_size, depends_on=attrgetter("previous_order"))
    _write(stderr, "infusions", [sorted(plan.infusions, key=lambda i: (i.order.pk, i.day_number))], batch_size)
    bedside = [sorted(rows, key=by_time) for rows in (plan.segments, plan.vial_lots, plan.reactions)]
    _write(stderr, "bedside", bedside, batch_size)
    _write(stderr, "vitals", [planner.vitals_rows()], batch_size, total=sum(g.vitals for g in plan.given))
    _write(stderr, "checks", [sorted(plan.checks, key=lambda c: (c.created_at, c.order.pk, c.due_at))], batch_size)
    _write(stderr, "results", [sorted(plan.results, key=by_time)], batch_size)
    _write(stderr, "responses", [sorted(plan.responses, key=lambda r: r.order.pk)], batch_size)
    notifications = sorted(planner.notifications(), key=by_time)
    _write(stderr, "notifications", [notifications], batch_size)
    return {
        "staff users created": users_created,
        "patients": len(plan.patients),
        "weights": len(plan.weights),
        "orders": len(orders),
        "  draft": sum(o.status == OrderStatus.DRAFT for o in orders),
        "  verified": sum(o.status == OrderStatus.VERIFIED for o in orders),
        "  in progress": sum(o.status == OrderStatus.IN_PROGRESS for o in orders),
        "  completed": sum(o.status == OrderStatus.COMPLETED for o in orders),
        "  cancelled": sum(o.status == OrderStatus.CANCELLED for o in orders),
        "active courses": plan.active_courses,
        "infusions": len(plan.infusions),
        "rate segments": len(plan.segments),
        "vial lots": len(plan.vial_lots),
        "reactions": len(plan.reactions),
        "vital signs": sum(g.vitals for g in plan.given),
        "platelet checks": len(plan.checks),
        "platelet results": len(plan.results),
        "order responses": len(plan.responses),
        "notifications": len(notifications),
        "dose calculations": len(planner.working_cache),
    }


def _write(
    stderr: TextIO,
    label: str,
    groups: Sequence[Iterable[models.Model]],
    batch_size: int,
    total: int | None = None,
    depends_on: Callable[[Any], models.Model | None] | None = None,
) -> None:
    """Write each group in turn (a later group may point at rows of an earlier one), one model per group,
    in batches, behind one progress bar."""
    if total is None:
        total = sum(len(group) for group in groups)  # type: ignore[arg-type]  # lists when no total is given
    progress = ProgressBar(stderr, label, total)
    for group in groups:
        for batch in chunks(group, batch_size, depends_on):
            type(batch[0]).objects.bulk_create(batch, batch_size=batch_size)
            progress.advance(len(batch))
    progress.finish()


def _staff() -> tuple[Staff, int]:
    """A few users per role, created if missing (no usable password: benchmarks sign them in directly)."""
    user_model = get_user_model()
    created_count = 0
    by_role: dict[str, list[Any]] = {}
    for role, count in STAFF.items():
        try:
            group = Group.objects.get(name=role)
        except Group.DoesNotExist as exc:
            raise DatasetError(f"The role group {role!r} is missing: run migrate first.") from exc
        by_role[role] = []
        for n in range(1, count + 1):
            user, created = user_model.objects.get_or_create(
                username=f"synth-{role}-{n}",
                defaults={"first_name": "Synthetic", "last_name": f"{role.title()} {n}"},
            )
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
                created_count += 1
            user.groups.add(group)
            by_role[role].append(user)
    staff = Staff(nurses=by_role["nurse"], hematologists=by_role["hematologist"], pharmacists=by_role["pharmacist"])
    return staff, created_count


# --- Command line ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Build a synthetic hospital-sized dataset for the dashboards' benchmark: at --scale 1.0, 10,000 "
            "patients, 20,000 orders (2 per patient) with their infusions, 4 platelet checks per order whose first "
            "infusion has ended (about 77,000), results for most past checks with the response they give, and "
            "1,000,000 sets of vital signs. Doses, result categories, responses and vital-sign alerts are worked "
            "out by the real rules. BENCHMARK DATA, NOT CLINICAL RECORDS: rows are bulk-written, so no "
            "simple_history Historical* rows are made, reminders are made only for checks still open, and no "
            "notification is ever delivered. Refuses to run on a database that holds patients or orders unless "
            "--append is given. The database is the project's (DATABASE_URL)."
        )
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--scale", type=float, default=1.0, help="1.0 = 10,000 patients (default 1.0)")
    size.add_argument(
        "--patients", type=int, help="patients to build (the same as --scale PATIENTS/10000: 100 vitals each)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--batch-size", type=int, default=5000, help="rows per INSERT (default 5000)")
    parser.add_argument(
        "--history-days",
        type=int,
        default=HISTORY_DAYS,
        help=f"spread first infusions over this many past days (default {HISTORY_DAYS}); with --scale 0.1 "
        "and --history-days 36 the day's work (infusions today, orders to verify, active courses) is that of "
        "--scale 1.0, with a tenth of the history",
    )
    parser.add_argument("--append", action="store_true", help="add to a database that already holds patients or orders")
    args = parser.parse_args(argv)
    if args.patients is not None:
        if args.patients < 1:
            parser.error("--patients must be at least 1")
        args.scale = args.patients / PATIENTS_AT_FULL_SCALE
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        build(
            scale=args.scale,
            seed=args.seed,
            batch_size=args.batch_size,
            history_days=args.history_days,
            append=args.append,
        )
    except DatasetError as exc:
        print(f"synthetic dataset: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
