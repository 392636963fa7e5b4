"""Safety stops in the services (docs/clinical-rules.md §A8-A10): gather the facts each stage's rules need, settle
the stops with the request's overrides, refuse or record.

Every stage has one function returning its stops (``creation_stops``, ``verification_stops``, ``start_stops``,
``rate_change_stops``, ``resume_stops``, ``completion_stops``); the transitions call ``enforce`` with them and
``record`` after the change, and the dry runs call the same functions, so a page shows a stop before the tap
exactly as the action would raise it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from core.errors import SafetyStopped
from core.history import attribute_change
from core.roles import roles_of
from core.stops import (
    OVERRIDE_REASON_MAX_LENGTH,
    Actor,
    Kind,
    Overrider,
    Settlement,
    Stage,
    Stop,
    is_late_documentation,
    may_override,
    settle,
)
from infusions import dosing, safety_rules, vitals_rules
from infusions.models import (
    Infusion,
    InfusionStatus,
    Order,
    OrderStatus,
    OutsideDose,
    Product,
    RateSegment,
    Reaction,
    SafetyRecord,
    SafetyRecordKind,
)
from infusions.safety_rules import AntiIgaAntibodies, BedsideRate, PreviousCourse, ProductSafety, SevereReaction
from infusions.signals import safety_deviation_documented
from patients import selectors as patient_selectors
from patients.models import CoTherapy, CoTherapyKind, Patient, ReportedIvigReaction
from patients.rules import RENAL_FACTORS, RISK_FACTORS, THROMBOSIS_FACTORS

logger = logging.getLogger(__name__)

OPEN_STATUSES = (OrderStatus.DRAFT, OrderStatus.VERIFIED, OrderStatus.IN_PROGRESS)
BEDSIDE_STAGES = (Stage.START, Stage.RATE, Stage.RESUME, Stage.COMPLETE)


def safety_config() -> safety_rules.SafetyConfig:
    """The hospital's numbers: IVIG_SAFETY in settings overrides any default of SafetyConfig."""
    names = {field.name for field in fields(safety_rules.SafetyConfig)}
    chosen = {name: value for name, value in getattr(settings, "IVIG_SAFETY", {}).items() if name in names}
    return safety_rules.SafetyConfig(**chosen)


# --- Settling and recording ---------------------------------------------------------------------------------


def actor_of(user: Any, order: Order | None, *, creating: bool = False) -> Actor:
    """The user as the rules see them; ``creating``: they are writing the order now, so they are its prescriber."""
    return Actor(
        roles=frozenset(str(role) for role in roles_of(user)),
        created_the_order=creating or (order is not None and order.created_by_id == user.pk),
        superuser=bool(getattr(user, "is_superuser", False)),
    )


def settled_overrides(order: Order | None) -> dict[str, str]:
    """Order-level overrides given earlier (code -> fingerprint): they carry to verification and every start while
    their facts hold (A8). A bedside override covers its one event only, so it is not among them."""
    if order is None or order.pk is None:
        return {}
    rows = SafetyRecord.objects.filter(order=order, kind=SafetyRecordKind.OVERRIDE).filter(
        Q(infusion__isnull=True) | Q(code__in=safety_rules.ORDER_STOP_CODES)
    )
    return dict(rows.order_by("at", "pk").values_list("code", "fingerprint"))


def dry_run(
    stops: list[Stop],
    *,
    order: Order | None,
    user: Any,
    stage: Stage,
    overrides: dict[str, str] | None = None,
    settled_before: dict[str, str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """What the action would meet, without doing it: the stops that would refuse it and the warnings it would show
    (docs/api.md "Dry runs"). A stop awaiting the verifier's reason is shown among the warnings. A list passes the
    order's ``settled_before`` overrides it has already read (``verification_facts``)."""
    settlement = settle(
        stops,
        overrides=overrides or {},
        actor=actor_of(user, order),
        stage=stage,
        settled_before=settled_overrides(order) if settled_before is None else settled_before,
    )
    awaiting = [
        {**stop.as_dict(), "message": f"Verifier's reason needed: {stop.message}"}
        for stop in settlement.awaiting_verifier
    ]
    carried = [{**stop.as_dict(), "kind": "overridden"} for stop in settlement.carried]
    return {
        "stops": [stop.as_dict() for stop in settlement.stops],
        "warnings": [stop.as_dict() for stop in settlement.warnings] + awaiting + carried,
    }


def stop_rows(stops: list[dict[str, Any]], *, user: Any, order: Order | None) -> list[dict[str, Any]]:
    """Stops as a page shows them: each says whether this user may give the override reason (docs/clinical-rules.md
    §A8 "Before the tap")."""
    actor = actor_of(user, order)
    return [
        {**stop, "may_override": stop["kind"] == "override" and may_override(actor, Overrider(stop["role"]))}
        for stop in stops
    ]


def stopped_rows(exc: SafetyStopped, *, user: Any, order: Order | None) -> list[dict[str, Any]]:
    return stop_rows([stop.as_dict() for stop in exc.stops], user=user, order=order)


@dataclass(frozen=True)
class Outcome:
    """What ``enforce`` decided: the settlement to record, or the documented deviations of a late entry."""

    settlement: Settlement
    late: bool = False
    deviations: tuple[tuple[Stop, str], ...] = ()  # a late entry's stops, each with the reason given, if any


def enforce(
    stops: list[Stop],
    *,
    order: Order | None,
    user: Any,
    stage: Stage,
    overrides: dict[str, str] | None,
    at: datetime | None = None,
) -> Outcome:
    """Refuse (raise SafetyStopped) or let the event go ahead. An event recorded late is never refused by a clinical
    stop: what it would have met becomes documented deviations (A8). Version 1's refusals are not clinical judgement
    but the order of events and the data an event needs (an unverified order, an earlier day still open, the
    checklist, the baseline): they refuse a late entry as any other."""
    actor = actor_of(user, order, creating=stage is Stage.CREATE and order is None)
    earlier = settled_overrides(order)
    if stage in BEDSIDE_STAGES and at is not None:
        late_after = timedelta(minutes=safety_config().late_documentation_minutes)
        if is_late_documentation(at, timezone.now(), after=late_after):
            always = [stop for stop in stops if stop.code in safety_rules.REFUSED_EVEN_WHEN_LATE]
            _refuse_if_blocked(settle(always, overrides={}, actor=actor, stage=stage))
            settlement = settle(stops, overrides=overrides or {}, actor=actor, stage=stage, settled_before=earlier)
            # Whatever reason the nurse gave for a stop is kept with its deviation.
            reasons = {code: reason.strip()[:OVERRIDE_REASON_MAX_LENGTH] for code, reason in (overrides or {}).items()}
            deviations = tuple((stop, reasons.get(stop.code, "")) for stop in _unsettled(settlement))
            return Outcome(settlement=Settlement(warnings=settlement.warnings), late=True, deviations=deviations)
    settlement = settle(stops, overrides=overrides or {}, actor=actor, stage=stage, settled_before=earlier)
    _refuse_if_blocked(settlement)
    return Outcome(settlement=settlement)


def _unsettled(settlement: Settlement) -> tuple[Stop, ...]:
    """Everything that would have refused or needed a reason, for a late entry's documented deviations."""
    return settlement.stops + tuple(stop for stop, _reason in settlement.overridden)


def _refuse_if_blocked(settlement: Settlement) -> None:
    """403 when a reason came from a role that may not give it; else refused with every stop the request raises."""
    if settlement.forbidden:
        raise SafetyStopped(settlement.stops, forbidden=True)
    if settlement.blocked:
        raise SafetyStopped(settlement.stops, blank_reasons=settlement.blank_reasons)


def record(
    outcome: Outcome, *, order: Order, user: Any, stage: Stage, at: datetime, infusion: Infusion | None = None
) -> list[SafetyRecord]:
    """Store what went ahead: each override with its reason and role, each warning, each documented deviation;
    a documented deviation is announced (monitoring notifies the ordering hematologist)."""
    actor = actor_of(user, order)
    rows: list[SafetyRecord] = []

    def add(stop: Stop, kind: str, *, reason: str = "", role: str = "", row_stage: str = str(stage)) -> None:
        rows.append(
            SafetyRecord(
                order=order,
                infusion=infusion,
                code=stop.code,
                kind=kind,
                stage=row_stage,
                message=stop.message,
                reason=reason,
                role=role,
                fingerprint=stop.fingerprint,
                at=at,
                recorded_by=user,
            )
        )

    for stop, reason in outcome.settlement.overridden:
        add(stop, SafetyRecordKind.OVERRIDE, reason=reason, role=_role_given_in(actor, stop))
    for stop in outcome.settlement.warnings + outcome.settlement.awaiting_verifier:
        add(stop, SafetyRecordKind.WARNING)
    for stop, reason in outcome.deviations:
        add(stop, SafetyRecordKind.DOCUMENTED_DEVIATION, reason=reason, row_stage=str(Stage.DOCUMENTED_LATE))
    for row in rows:
        attribute_change(row, user)
        row.save()
    deviations = [row for row in rows if row.kind == SafetyRecordKind.DOCUMENTED_DEVIATION]
    if deviations:
        safety_deviation_documented.send(sender=SafetyRecord, order=order, records=deviations)
    return rows


def _role_given_in(actor: Actor, stop: Stop) -> str:
    wanted = str(stop.overrider)
    if wanted in actor.roles:
        return wanted
    if stop.overrider is not None and str(stop.overrider) == "verifier":
        return "pharmacist" if "pharmacist" in actor.roles else "hematologist"
    return next(iter(sorted(actor.roles)), "superuser" if actor.superuser else "")


def record_hold_continued(order: Order, *, user: Any, reason: str, at: datetime) -> None:
    """A hematologist's "continue" after a hold answers previous_severe_reaction for the course's remaining days:
    stored as that stop's order-level override, bound to the reactions known now."""
    stops = safety_rules.previous_severe_reaction(reactions=severe_reactions(order.patient))
    for stop in stops:
        row = SafetyRecord(
            order=order,
            code=stop.code,
            kind=SafetyRecordKind.OVERRIDE,
            stage="hold_review",
            message=stop.message,
            reason=reason,
            role="hematologist",
            fingerprint=stop.fingerprint,
            at=at,
            recorded_by=user,
        )
        attribute_change(row, user)
        row.save()


# --- Facts ------------------------------------------------------------------------------------------------


def product_safety(product: Product) -> ProductSafety:
    missing = []
    if not product.initial_rate_mg_per_kg_min:
        missing.append("initial rate")
    if not product.itp_max_rate_mg_per_kg_min:
        missing.append("ITP maximum")
    if not product.reconstituted and not product.concentration_percent:
        missing.append("concentration")
    return ProductSafety(
        name=product.name,
        itp_min_age_years=product.itp_min_age_years,
        contains_sorbitol=product.contains_sorbitol,
        contains_maltose=product.contains_maltose,
        contains_glucose=product.contains_glucose,
        missing_rate_values=tuple(missing),
        needs_prepared_concentration=product.reconstituted,
        step_interval_known=bool(product.step_up_interval_min),
    )


SEVERE_REACTION = Q(ctcae_grade__gte=3) | Q(reaction="anaphylaxis")
SEVERE_REPORT = Q(ctcae_grade__gte=3) | Q(anaphylaxis=True)


def severe_reactions(patient: Patient) -> list[SevereReaction]:
    """Reactions of CTCAE grade >= 3 or anaphylaxis to any IVIG: this system's and those reported from elsewhere."""
    return severe_reactions_of_patients([patient.pk]).get(patient.pk, [])


def severe_reactions_of_patients(patient_ids: list[int]) -> dict[int, list[SevereReaction]]:
    """``severe_reactions`` for many patients in two queries (the verification queue)."""
    found: dict[int, list[SevereReaction]] = {}
    reactions = (
        Reaction.objects.filter(infusion__order__patient_id__in=patient_ids)
        .filter(SEVERE_REACTION)
        .select_related("infusion__order__product")
    )
    for reaction in reactions:
        found.setdefault(reaction.infusion.order.patient_id, []).append(
            SevereReaction(
                key=f"reaction{reaction.pk}",
                on=timezone.localtime(reaction.noted_at).date(),
                product=reaction.infusion.order.product.name,
                ctcae_grade=reaction.ctcae_grade,
                anaphylaxis=reaction.reaction == "anaphylaxis",
            )
        )
    for report in ReportedIvigReaction.objects.filter(patient_id__in=patient_ids).filter(SEVERE_REPORT):
        found.setdefault(report.patient_id, []).append(
            SevereReaction(
                key=f"history{report.pk}",
                on=report.occurred_on,
                product=report.product,
                ctcae_grade=report.ctcae_grade,
                anaphylaxis=report.anaphylaxis,
            )
        )
    return found


def previous_course(previous: Order | None, *, any_infusion_given: bool | None = None) -> PreviousCourse | None:
    if previous is None:
        return None
    # The response lives in monitoring; read through the relation, never by importing it (monitoring sits above).
    response = getattr(previous, "response", None)
    flag = bool(response and (response.repeat_dose_recommended or response.repeat_decision == "accept"))
    if any_infusion_given is None:
        any_infusion_given = previous.infusions.filter(started_at__isnull=False).exists()
    return PreviousCourse(
        order_id=previous.pk,
        status=previous.status,
        any_infusion_given=any_infusion_given,
        non_response_flag=flag,
        is_repeat=previous.regimen == "repeat_1g_per_kg",
    )


def _iga_fingerprint(patient: Patient, product: Product) -> str:
    # At the field's two places, as the database returns it: a patient object whose IgA was set in Python (2, not
    # 2.00) must give the same fingerprint, or an override given at creation is asked again at verification.
    iga = patient.serum_iga_mg_dl
    shown = None if iga is None else Decimal(iga).quantize(Decimal("0.01"))
    return f"iga{shown}:product{product.pk}"


def _patient_stops(patient: Patient, product: Product, *, age_years: int, stage: Stage) -> list[Stop]:
    safety = product_safety(product)
    stops = safety_rules.iga_conflict(
        iga_deficient=patient.iga_deficient,
        anti_iga_antibodies=AntiIgaAntibodies(patient.anti_iga_antibodies),
        product_iga_depleted=product.iga_depleted,
        product_name=product.name,
        age_years=age_years,
        fingerprint=_iga_fingerprint(patient, product),
    )
    stops += safety_rules.fructose_intolerance(
        product=safety, hereditary_fructose_intolerance=patient.hereditary_fructose_intolerance
    )
    if not patient.hereditary_fructose_intolerance:
        stops += safety_rules.sorbitol_under_2(product=safety, age_years=age_years, config=safety_config())
    if stage is Stage.CREATE:
        stops += safety_rules.label_age(product=safety, age_years=age_years)
        stops += safety_rules.glucose_load(product=safety, diabetes=patient.diabetes)
    if stage in (Stage.CREATE, Stage.START):
        stops += safety_rules.maltose_interference(product=safety)
    return stops


# --- Order stages (A9) --------------------------------------------------------------------------------------


def creation_stops(
    data: dict[str, Any],
    calculation: dosing.DoseCalculation,
    weight: Any,
    age_years: int,
    *,
    now: datetime,
    order: Order | None = None,
    other_side: Sequence[tuple[str, Decimal]] = (),
) -> list[Stop]:
    """The stops of a new order (or of an order being recalculated: ``order``), from the form's or the API's values
    and the worked-out dose, as of ``now``."""
    config = safety_config()
    today = timezone.localdate(now)
    patient: Patient = data["patient"]
    product: Product = data["product"]
    emergency = bool(data.get("emergency"))
    replaces: Order | None = data.get("replaces")
    first_on = data.get("first_infusion_on") or today
    open_orders = Order.objects.filter(patient=patient, status__in=OPEN_STATUSES)
    if order is not None:
        open_orders = open_orders.exclude(pk=order.pk)
    other_open = list(open_orders.values_list("pk", flat=True))
    previous = previous_course(data.get("previous_order"))
    dw = calculation.dosing_weight
    stops = safety_rules.active_course(other_open_orders=other_open, replaces=replaces.pk if replaces else None)
    stops += safety_rules.first_infusion_date(
        first_infusion_on=first_on, today=today, emergency=emergency, stage=Stage.CREATE, config=config
    )
    # An emergency order's estimated weight replaces weight_missing and weight_stale (§A9 "Emergency orders").
    if weight is not None:
        stops += safety_rules.weight_stale(
            weight_measured_on=timezone.localtime(weight.measured_at).date(),
            first_infusion_on=first_on,
            stage=Stage.CREATE,
            config=config,
        )
    stops += safety_rules.dosing_weight_override_range(
        override_kg=data.get("dosing_weight_override_kg"),
        actual_kg=weight.weight_kg if weight is not None else data["estimated_weight_kg"],
        ideal_kg=dw.ideal_body_weight_kg,
    )
    stops += safety_rules.repeat_not_indicated(regimen=data["regimen"], previous=previous)
    stops += safety_rules.repeat_chain(regimen=data["regimen"], previous=previous)
    stops += safety_rules.previous_severe_reaction(reactions=severe_reactions(patient))
    stops += safety_rules.high_dose(rounded_dose_per_day_g=calculation.rounded_dose_per_day_g, config=config)
    stops += safety_rules.near_policy_threshold(
        rounded_dose_per_day_g=calculation.rounded_dose_per_day_g, other_side=other_side
    )
    outside_starts = [dose["started_at"] for dose in data.get("doses_given_elsewhere") or []]
    stops += safety_rules.baseline_count_age(
        count=data["baseline_platelet_count"],
        collected_at=data.get("baseline_collected_at"),
        # A course begun elsewhere: the baseline is the count before the first outside dose.
        reference=min([now, *outside_starts]),
        config=config,
    )
    stops += _patient_stops(patient, product, age_years=age_years, stage=Stage.CREATE)
    return stops


def remaining_days_stops(
    data: dict[str, Any], calculation: dosing.DoseCalculation, weight: Any, *, now: datetime
) -> list[Stop]:
    """The stops of an emergency course's remaining days recalculated on the measured weight (§A9): the weight's age
    and the prescriber's dosing-weight override. The course's other stops meet it again at the re-verification and
    at the next start."""
    config = safety_config()
    stops = safety_rules.weight_stale(
        weight_measured_on=timezone.localtime(weight.measured_at).date(),
        first_infusion_on=timezone.localdate(now),
        stage=Stage.CREATE,
        config=config,
    )
    stops += safety_rules.dosing_weight_override_range(
        override_kg=data.get("dosing_weight_override_kg"),
        actual_kg=weight.weight_kg,
        ideal_kg=calculation.dosing_weight.ideal_body_weight_kg,
    )
    return stops


# The creation stops that depend on the product: what a product change mid-course meets (§A9 "Courses that change").
PRODUCT_STOP_CODES = (
    "iga_conflict",
    "fructose_intolerance",
    "sorbitol_under_2",
    "label_age",
    "glucose_load",
    "maltose_interference",
)


def reverification_stops(order: Order, *, now: datetime) -> list[Stop]:
    """Verifying again the remaining days of a course whose product changed: the product's stops against the record
    as it is now, the rate plan's completeness and the dose (the dates and the baseline belong to the course)."""
    patient = order.patient
    stops = safety_rules.high_dose(rounded_dose_per_day_g=order.rounded_dose_per_day_g, config=safety_config())
    stops += _rate_plan_incomplete(order)
    stops += _patient_stops(
        patient, order.product, age_years=patient.age_on(timezone.localdate(now)), stage=Stage.VERIFY
    )
    return stops


def first_outside_start(order: Order) -> datetime | None:
    """When the course began elsewhere, if it did (read from the prefetched doses where the queue has them)."""
    return min((dose.started_at for dose in order.outside_doses.all()), default=None)


@dataclass(frozen=True)
class VerificationFacts:
    """What verification reads beyond the order's own row, gathered for many orders at once (the queue)."""

    severe_reactions: list[SevereReaction]
    previous: PreviousCourse | None
    settled_before: dict[str, str]


def verification_facts(orders: list[Order]) -> dict[int, VerificationFacts]:
    """The facts of every order in a list in a fixed number of queries, whatever its length: the patients' severe
    reactions (two), the previous courses' started infusions (one) and the orders' overrides given earlier (one).
    The orders come with patient, product, weight_measurement and previous_order (and its response) joined."""
    reactions = severe_reactions_of_patients(sorted({order.patient_id for order in orders}))
    previous_ids = {order.previous_order_id for order in orders if order.previous_order_id}
    given = (
        set(
            Infusion.objects.filter(order_id__in=previous_ids, started_at__isnull=False).values_list(
                "order_id", flat=True
            )
        )
        if previous_ids
        else set()
    )
    settled: dict[int, dict[str, str]] = {}
    rows = SafetyRecord.objects.filter(
        order__in=[order.pk for order in orders], infusion__isnull=True, kind=SafetyRecordKind.OVERRIDE
    )
    for order_id, code, fingerprint in rows.order_by("at", "pk").values_list("order_id", "code", "fingerprint"):
        settled.setdefault(order_id, {})[code] = fingerprint
    return {
        order.pk: VerificationFacts(
            severe_reactions=reactions.get(order.patient_id, []),
            previous=previous_course(order.previous_order, any_infusion_given=order.previous_order_id in given),
            settled_before=settled.get(order.pk, {}),
        )
        for order in orders
    }


def verification_stops(order: Order, *, now: datetime, facts: VerificationFacts | None = None) -> list[Stop]:
    """Verification looks at the patient again: the record as it is now, not as it was at the draft."""
    config = safety_config()
    patient = order.patient
    stops = safety_rules.iga_result_missing(iga_known=patient.serum_iga_mg_dl is not None, emergency=order.emergency)
    # An emergency course whose remaining days went on the measured weight is verified again mid-course: its first
    # infusion date is behind it, and the weight is judged on the day of the next start.
    remaining_days = order.estimated_weight_kg is not None and order.weight_measurement is not None
    if not remaining_days:
        stops += safety_rules.first_infusion_date(
            first_infusion_on=order.first_infusion_on,
            today=timezone.localdate(now),
            emergency=order.emergency,
            stage=Stage.VERIFY,
            config=config,
        )
    if order.weight_measurement is not None:
        stops += safety_rules.weight_stale(
            weight_measured_on=timezone.localtime(order.weight_measurement.measured_at).date(),
            first_infusion_on=timezone.localdate(now) if remaining_days else order.first_infusion_on,
            stage=Stage.VERIFY,
            config=config,
        )
    previous = facts.previous if facts is not None else previous_course(order.previous_order)
    stops += safety_rules.repeat_not_indicated(regimen=order.regimen, previous=previous)
    reactions = facts.severe_reactions if facts is not None else severe_reactions(patient)
    stops += safety_rules.previous_severe_reaction(reactions=reactions)
    stops += safety_rules.high_dose(rounded_dose_per_day_g=order.rounded_dose_per_day_g, config=config)
    outside_start = first_outside_start(order)
    stops += safety_rules.baseline_count_age(
        count=order.baseline_platelet_count,
        collected_at=order.baseline_collected_at,
        reference=min(now, outside_start) if outside_start is not None else now,
        config=config,
    )
    stops += _rate_plan_incomplete(order)
    stops += _patient_stops(
        patient, order.product, age_years=patient.age_on(order.first_infusion_on), stage=Stage.VERIFY
    )
    stops += _pre_course_lab_stops(order, config)
    return stops


# docs/clinical-rules.md §A13: eGFR below 60 is a renal risk factor, judged on the latest creatinine when the order
# is written and again at verification (record_changed applies the safer plan); fixed for the course after that, in
# the order's record_flags under this key.
LOW_EGFR = Decimal(60)
EGFR_FLAG = "egfr_below_60"


def low_egfr(patient: Patient) -> tuple[str, ...]:
    latest = patient_selectors.latest_labs(patient).get("creatinine")
    if latest is None or latest.egfr is None or latest.egfr.value is None or latest.egfr.value >= LOW_EGFR:
        return ()
    return (f"eGFR {latest.egfr.value} (below 60)",)


def renal_risk_factors(order: Order) -> tuple[str, ...]:
    """§A13's renal risk factors for the course, in clinician wording: those recorded on the patient, age over 65
    at the first infusion (the boxed warning's renal predisposition), and eGFR below 60 as fixed at verification
    (judged on the latest creatinine before it)."""
    patient = order.patient
    found = tuple(label for code, label in RISK_FACTORS if code in RENAL_FACTORS and getattr(patient, code))
    over = dosing.DEFAULT_CONFIG.at_risk_age_over_years
    if patient.age_on(order.first_infusion_on) > over:
        found += (f"age over {over}",)
    flags = order.record_flags or {}
    if EGFR_FLAG in flags:
        found += ("eGFR below 60 at verification",) if flags[EGFR_FLAG] else ()
    else:
        found += low_egfr(patient)
    return found


def _pre_course_lab_stops(order: Order, config: safety_rules.SafetyConfig) -> list[Stop]:
    """A9/A13 at verification: a recent creatinine (7 days with a renal risk factor, else 90), a hemoglobin within
    72 h for a high-dose course or a group other than O, and the ABO group for a high-dose course. Read from the
    patient's laboratory results (prefetched by the verification queue)."""
    patient = order.patient
    current = [lab for lab in patient.lab_results.all() if lab.current]
    latest = {lab.test: lab for lab in sorted(current, key=lambda lab: (lab.collected_at, lab.pk))}
    creatinine, hemoglobin, group = latest.get("creatinine"), latest.get("hemoglobin"), latest.get("blood_group")
    course_g_per_kg = dosing.REGIMENS[order.regimen].course_g_per_kg
    renal = renal_risk_factors(order)
    first_day_starts = timezone.make_aware(datetime.combine(order.first_infusion_on, time.min))
    blood_group = group.blood_group if group is not None else None
    return [
        *safety_rules.renal_labs_missing(
            latest_creatinine_on=timezone.localtime(creatinine.collected_at).date() if creatinine else None,
            first_infusion_on=order.first_infusion_on,
            renal_risk_factors=renal,
            emergency=order.emergency,
            config=config,
        ),
        *safety_rules.hemolysis_labs_missing(
            course_g_per_kg=course_g_per_kg,
            blood_group=blood_group,
            latest_hemoglobin_at=hemoglobin.collected_at if hemoglobin else None,
            first_infusion_starts_from=first_day_starts,
            emergency=order.emergency,
            config=config,
        ),
        *safety_rules.blood_group_missing(course_g_per_kg=course_g_per_kg, blood_group=blood_group, config=config),
    ]


def _rate_plan_incomplete(order: Order) -> list[Stop]:
    """The order's rate plan: refused while incomplete (rate_plan_incomplete), a warning when it steps up on the
    site default interval (step_interval_default)."""
    product = product_safety(order.product)
    stops = safety_rules.rate_plan_incomplete(
        product=product,
        prepared_concentration_percent=order.prepared_concentration_percent,
        order_has_rate_plan=bool(order.rate_plan),
    )
    default = dosing.DosingConfig().default_step_up_interval_min
    return stops + safety_rules.step_interval_default(product=product, default_minutes=default)


# --- The v2 upgrade (A8 "Upgrade") --------------------------------------------------------------------------


def verified_before_upgrade(order: Order) -> bool:
    """An order verified under v1: verified before ``IVIG_SAFETY_STOPS_SINCE`` (the moment the hospital switched the
    v2 safety stops on; unset means every order is a v2 order)."""
    since: datetime | None = getattr(settings, "IVIG_SAFETY_STOPS_SINCE", None)
    return since is not None and order.verified_at is not None and order.verified_at < since


def _caused_only_by_data_v1_did_not_collect(order: Order, stop: Stop) -> bool:
    """The start stops a v1 order can meet only because v1 did not ask for the data: the prepared concentration and
    the stored rate plan of an order whose product's catalogue values are now complete (v1 verified an order without
    a rate plan), and the IgA conflict asked again because the anti-IgA antibody status is unknown, when the order
    carries v1's IgA override reason."""
    if stop.code == "rate_plan_incomplete":
        return not product_safety(order.product).missing_rate_values
    if stop.code == "iga_conflict":
        return stop.kind is Kind.OVERRIDE and bool(order.iga_override_reason.strip())
    return False


def as_v1_order(order: Order, stops: list[Stop]) -> list[Stop]:
    """A8 "Upgrade": an order verified under v1 meets v2 rules at its next start, but a stop caused only by data v1
    did not collect is a warning for it."""
    if not verified_before_upgrade(order):
        return stops
    return [
        Stop(
            stop.code,
            Kind.WARNING,
            f"Verified before the v2 safety rules, so a warning for this order: {stop.message}",
            fingerprint=stop.fingerprint,
        )
        if stop.kind is not Kind.WARNING and _caused_only_by_data_v1_did_not_collect(order, stop)
        else stop
        for stop in stops
    ]


# The start stops that do not depend on the moment of the start: what a course's next day would meet now.
STANDING_START_CODES = (
    "rate_plan_incomplete",
    "iga_conflict",
    "fructose_intolerance",
    "course_on_hold",
    "product_changed_unverified",
)


def standing_start_stops(order: Order, *, on: date) -> list[Stop]:
    """The start stops of STANDING_START_CODES for a day of ``order`` given on ``on`` (as v1 order where it is one)."""
    patient = order.patient
    stops = safety_rules.course_on_hold(hold_reason=_hold_reason(order))
    stops += safety_rules.product_changed_unverified(
        awaiting_reverification=order.awaiting_reverification, product_name=order.product.name
    )
    stops += _rate_plan_incomplete(order)
    stops += [
        stop
        for stop in _patient_stops(patient, order.product, age_years=patient.age_on(on), stage=Stage.START)
        if stop.code in STANDING_START_CODES
    ]
    return as_v1_order(order, stops)


@dataclass(frozen=True)
class OpenOrderStop:
    """One line of the go-live report: an open order and a stop it would meet now."""

    order: Order
    stage: Stage
    stop: Stop


def open_order_stops(*, now: datetime) -> list[OpenOrderStop]:
    """Every open order that would meet a stop now (A8 "Upgrade": the go-live report): drafts and verified orders
    the verification stops, running courses the standing start stops of their next scheduled day; an order verified
    before the upgrade is judged as its next start will judge it (``as_v1_order``). Stops overridden earlier for the
    same facts are not listed; warnings are not stops."""
    found: list[OpenOrderStop] = []
    nobody = Actor(roles=frozenset())
    orders = (
        Order.objects.filter(status__in=OPEN_STATUSES)
        .select_related("patient", "product", "weight_measurement", "previous_order")
        .order_by("pk")
    )
    for order in orders:
        if order.status == OrderStatus.IN_PROGRESS:
            next_day = order.infusions.filter(status=InfusionStatus.SCHEDULED).order_by("day_number").first()
            if next_day is None:
                continue
            stage, stops = Stage.START, standing_start_stops(order, on=next_day.scheduled_for)
        else:
            stage, stops = Stage.VERIFY, as_v1_order(order, verification_stops(order, now=now))
        settlement = settle(stops, overrides={}, actor=nobody, stage=stage, settled_before=settled_overrides(order))
        found += [OpenOrderStop(order=order, stage=stage, stop=stop) for stop in settlement.refused]
    return found


# --- Bedside stages (A10) -----------------------------------------------------------------------------------


def bedside_rate(order: Order) -> BedsideRate | None:
    """The order's stored rate plan as the bedside stops read it. The label ceiling is the ITP maximum, or the
    label's own at-risk cap; a design cap (half the ITP maximum) is a hematologist's override."""
    plan = order.rate_plan
    if not plan:
        return None
    steps = tuple(Decimal(str(step["rate_ml_per_h"])) for step in plan["steps"])
    maximum = Decimal(str(plan["max_rate_ml_per_h"]))
    label_max = Decimal(str(plan.get("label_max_rate_ml_per_h", maximum)))
    design_cap = maximum if plan.get("at_risk_cap_source") == "design" else None
    if design_cap is None:
        label_max = min(label_max, maximum) if plan.get("at_risk_capped") else label_max
    return BedsideRate(
        steps_ml_per_h=steps,
        label_max_ml_per_h=label_max,
        design_cap_ml_per_h=design_cap,
        step_interval_min=int(plan["step_up_interval_min"]),
    )


def _hold_reason(order: Order) -> str | None:
    return order.hold_reason if order.on_hold else None


def _product_key(name: str) -> str:
    """A product name compared as reported: case, spaces and punctuation aside ("gamunex c" is Gamunex-C). A name
    that does not match is another product, so an unclear report counts as a switch (the cautious reading)."""
    return "".join(character for character in name.casefold() if character.isalnum())


@dataclass(frozen=True)
class EarlierDose:
    """The patient's latest IVIG before a start: here or elsewhere (§A9 "Courses that change")."""

    started_at: datetime
    ended_at: datetime | None
    product_name: str


def latest_dose_before(order: Order, start_at: datetime, *, exclude_infusion: int | None = None) -> EarlierDose | None:
    """The patient's last IVIG started before ``start_at``: an infusion given here (with the product it was given
    with) or a dose given elsewhere."""
    infusions = Infusion.objects.filter(order__patient_id=order.patient_id, started_at__lt=start_at)
    if exclude_infusion is not None:
        infusions = infusions.exclude(pk=exclude_infusion)
    earlier = infusions.select_related("order__product", "product").order_by("-started_at").first()
    outside = (
        OutsideDose.objects.filter(order__patient_id=order.patient_id, started_at__lt=start_at)
        .order_by("-started_at", "-pk")
        .first()
    )
    here = (
        EarlierDose(earlier.started_at, earlier.ended_at, earlier.given_product.name)
        if earlier is not None and earlier.started_at is not None
        else None
    )
    there = EarlierDose(outside.started_at, outside.ended_at, outside.product) if outside is not None else None
    if here is None or there is None:
        return here or there
    return here if here.started_at >= there.started_at else there


def _cautious_start(infusion: Infusion, start_at: datetime) -> str | None:
    """Why this start must begin at the initial rate (A10 start_above_initial hard). Doses given elsewhere count: a
    start after an outside dose of the same product is not a first-ever infusion; of another, a product switch."""
    order = infusion.order
    earlier = latest_dose_before(order, start_at, exclude_infusion=infusion.pk)
    if earlier is None:
        return "a first-ever infusion"
    if _product_key(earlier.product_name) != _product_key(order.product.name):
        return "a product switch"
    gap = start_at - (earlier.ended_at or earlier.started_at or start_at)
    if gap > timedelta(weeks=safety_config().first_ever_gap_weeks):
        return f"more than {safety_config().first_ever_gap_weeks} weeks since the last IVIG"
    if SafetyRecord.objects.filter(
        order=order, code="previous_severe_reaction", kind=SafetyRecordKind.OVERRIDE
    ).exists():
        return "the first infusion after a severe reaction"
    return None


def start_stops(
    infusion: Infusion,
    *,
    start_at: datetime,
    rate_ml_per_h: Decimal | None,
    missing_checklist: list[str],
    vials: Sequence[safety_rules.VialGiven] | None = None,
    lots_only: bool = False,
) -> list[Stop]:
    """``vials``: the start's vials, typed or scanned, or None when not judged (a dry run without them);
    ``lots_only``: a v1 client named lots and no vial (§A10)."""
    config = safety_config()
    order = infusion.order
    stops = safety_rules.order_not_verified(order_status=order.status)
    stops += safety_rules.product_changed_unverified(
        awaiting_reverification=order.awaiting_reverification, product_name=order.product.name
    )
    earlier_open = order.infusions.filter(
        day_number__lt=infusion.day_number,
        status__in=[InfusionStatus.SCHEDULED, InfusionStatus.IN_PROGRESS, InfusionStatus.PAUSED],
    ).exists()
    stops += safety_rules.earlier_day_open(earlier_day_open=earlier_open)
    stops += safety_rules.checklist_incomplete(missing_items=missing_checklist)
    stops += safety_rules.course_on_hold(hold_reason=_hold_reason(order))
    stops += safety_rules.before_scheduled_day(
        scheduled_for=infusion.scheduled_for, start_date=timezone.localtime(start_at).date()
    )
    previous_day = order.infusions.filter(day_number__lt=infusion.day_number).order_by("-day_number").first()
    previous_day_ended_at = previous_day.ended_at if previous_day else None
    if previous_day is None:
        # The previous day may have been given elsewhere (§A9 "Courses that change").
        outside = order.outside_doses.filter(started_at__lt=start_at).order_by("-started_at", "-pk").first()
        previous_day_ended_at = outside.ended_at if outside is not None else None
    g_per_kg = dosing.REGIMENS[order.regimen].g_per_kg_per_day
    stops += safety_rules.too_soon_after_previous_day(
        previous_day_ended_at=previous_day_ended_at,
        start_at=start_at,
        g_per_kg_per_day=g_per_kg,
        config=config,
    )
    baseline = infusion.vitals.filter(taken_at__lte=start_at).order_by("-taken_at", "-pk").first()
    stops += safety_rules.baseline_missing(has_baseline=baseline is not None)
    if baseline is not None:
        stops += safety_rules.baseline_stale(baseline_taken_at=baseline.taken_at, start_at=start_at, config=config)
        high = [a["code"] for a in baseline.alerts if a["severity"] == "high" and not a.get("low_for_age")]
        stops += safety_rules.baseline_high_alert(baseline_alert_codes=high)
    stops += _rate_plan_incomplete(order)
    plan = bedside_rate(order)
    if plan is not None and rate_ml_per_h is not None:
        stops += safety_rules.rate_above_limits(rate_ml_per_h=rate_ml_per_h, plan=plan)
        stops += safety_rules.start_above_initial(
            rate_ml_per_h=rate_ml_per_h, plan=plan, cautious_start=_cautious_start(infusion, start_at)
        )
    patient = order.patient
    stops += _patient_stops(
        patient, order.product, age_years=patient.age_on(timezone.localtime(start_at).date()), stage=Stage.START
    )
    stops += prehydration_stops(order, start_at=start_at, config=config)
    if infusion.day_number > 1 and order.on_estimated_weight:
        measured = patient.current_weight
        stops += safety_rules.emergency_weight_recalculation(
            on_estimated_weight=True,
            estimated_weight_kg=order.estimated_weight_kg,
            measured_weight_kg=measured.weight_kg if measured is not None else None,
            measured_on=timezone.localtime(measured.measured_at).date() if measured is not None else None,
            start_on=timezone.localtime(start_at).date(),
            config=config,
        )
    if infusion.day_number == 1:
        if order.weight_measurement is not None:
            stops += safety_rules.weight_stale(
                weight_measured_on=timezone.localtime(order.weight_measurement.measured_at).date(),
                first_infusion_on=timezone.localtime(start_at).date(),
                stage=Stage.START,
                config=config,
            )
        stops += safety_rules.previous_severe_reaction(reactions=severe_reactions(patient))
        stops += safety_rules.baseline_count_age(
            count=order.baseline_platelet_count,
            collected_at=order.baseline_collected_at,
            reference=start_at,
            config=config,
        )
    stops += safety_rules.vials_not_detailed(
        lots_only=lots_only, v1_compat=getattr(settings, "IVIG_V1_START_COMPAT", False)
    )
    if vials is not None:
        stops += safety_rules.vial_mismatch(
            vials=vials,
            # After a product change the order names the changed product, which the remaining days are given with.
            order_product_ids=frozenset({order.product_id}),
            order_product_name=order.product.name,
            planned_g=infusion.dose_g,
            planned_vials_g=planned_vials_g(order),
            on=timezone.localtime(start_at).date(),
        )
    return as_v1_order(order, stops)


def thrombosis_risk_factors(patient: Patient) -> tuple[str, ...]:
    """§A13's thrombosis risk factors recorded on the patient, in clinician wording (pregnancy while open and for 6
    weeks after it)."""
    flags = patient.risk_flags
    return tuple(label for code, label in RISK_FACTORS if code in THROMBOSIS_FACTORS and flags[code])


def prehydration_stops(order: Order, *, start_at: datetime, config: safety_rules.SafetyConfig) -> list[Stop]:
    """§A10 prehydration_not_given at every start: a renal or thrombosis risk factor without cardiac dysfunction, and
    no pre-hydration co-therapy (not entered in error) given or running within the window before the start
    (docs/clinical-rules.md §A13 "Fluid")."""
    patient = order.patient
    renal = renal_risk_factors(order)
    thrombosis = thrombosis_risk_factors(patient)
    if patient.cardiac_dysfunction or not (renal or thrombosis):
        return []
    window_opens = start_at - timedelta(hours=config.prehydration_window_hours)
    periods = [
        safety_rules.PrehydrationPeriod(given_from=given_from, given_until=given_until)
        for given_from, given_until in CoTherapy.objects.filter(
            patient=patient,
            kind=CoTherapyKind.PREHYDRATION,
            entered_in_error_at__isnull=True,
            given_from__lte=start_at,
        )
        .filter(Q(given_until__gte=window_opens) | Q(given_until__isnull=True, given_from__gte=window_opens))
        .values_list("given_from", "given_until")
    ]
    return safety_rules.prehydration_not_given(
        renal_risk_factors=renal,
        thrombosis_risk_factors=thrombosis,
        cardiac_dysfunction=patient.cardiac_dysfunction,
        prehydration_recorded=safety_rules.prehydration_covers_start(periods=periods, start_at=start_at, config=config),
    )


def planned_vials_g(order: Order) -> Decimal:
    """The grams of the day's planned vials (``vials_per_day``)."""
    return sum(
        (Decimal(str(v["size_g"])) * int(v["count"]) for v in order.vials_per_day or []),
        Decimal(0),
    )


def _open_segment(infusion: Infusion) -> RateSegment | None:
    return infusion.rate_segments.filter(ended_at__isnull=True).first()


def worsened_alerts(infusion: Infusion) -> list[str]:
    """Alerts of the latest set that are new or of a higher severity than at baseline (low-for-age warnings do not
    count). [D] The "10 % further beyond its threshold" reading of A10 needs the threshold of each alert, which
    the stored alert does not carry; a higher severity or a new code is what this compares."""
    sets = list(infusion.vitals.order_by("taken_at", "pk"))
    if not sets:
        return []
    start = infusion.started_at
    baseline = max((s for s in sets if start is None or s.taken_at <= start), key=lambda s: s.taken_at, default=None)
    latest = sets[-1]
    if latest is baseline:
        return []
    rank = {"warning": 1, "high": 2}
    before = {a["code"]: rank.get(a["severity"], 0) for a in (baseline.alerts if baseline else [])}
    return [
        a["code"]
        for a in latest.alerts
        if not a.get("low_for_age") and rank.get(a["severity"], 0) > before.get(a["code"], 0)
    ]


def rate_change_stops(infusion: Infusion, *, rate_ml_per_h: Decimal, at: datetime) -> list[Stop]:
    config = safety_config()
    plan = bedside_rate(infusion.order)
    current = infusion.current_rate_ml_per_h or Decimal("0")
    stops: list[Stop] = []
    if plan is not None:
        stops += safety_rules.rate_above_limits(rate_ml_per_h=rate_ml_per_h, plan=plan)
        stops += safety_rules.step_skips(current_ml_per_h=current, new_ml_per_h=rate_ml_per_h, plan=plan)
        segment = _open_segment(infusion)
        if segment is not None:
            stops += safety_rules.step_too_early(
                current_ml_per_h=current,
                new_ml_per_h=rate_ml_per_h,
                last_change_at=segment.started_at,
                at=at,
                plan=plan,
            )
    latest = infusion.vitals.filter(taken_at__lte=at).order_by("-taken_at", "-pk").first()
    stops += safety_rules.step_without_vitals(
        current_ml_per_h=current,
        new_ml_per_h=rate_ml_per_h,
        latest_vitals_at=latest.taken_at if latest else None,
        at=at,
        config=config,
    )
    stops += safety_rules.step_during_alert(
        current_ml_per_h=current, new_ml_per_h=rate_ml_per_h, worsened_alerts=worsened_alerts(infusion)
    )
    return stops


def half_rate_after_reaction(infusion: Infusion) -> Decimal | None:
    """Half the rate at which the latest reaction occurred, when it came after the last running segment began: the
    most a resume may restart at (A5)."""
    reaction = infusion.reactions.exclude(rate_at_reaction_ml_per_h=None).order_by("-noted_at", "-pk").first()
    last_running = infusion.rate_segments.filter(rate_ml_per_h__gt=0).order_by("-started_at", "-pk").first()
    if reaction is None or reaction.rate_at_reaction_ml_per_h is None:
        return None
    if last_running is not None and reaction.noted_at < last_running.started_at:
        return None
    return vitals_rules.restart_rate_ml_per_h(reaction.rate_at_reaction_ml_per_h)


def resume_stops(infusion: Infusion, *, rate_ml_per_h: Decimal) -> list[Stop]:
    plan = bedside_rate(infusion.order)
    stops: list[Stop] = []
    if plan is not None:
        stops += safety_rules.rate_above_limits(rate_ml_per_h=rate_ml_per_h, plan=plan)
    stops += safety_rules.resume_above_half(
        rate_ml_per_h=rate_ml_per_h, half_reaction_rate_ml_per_h=half_rate_after_reaction(infusion)
    )
    return stops


def completion_stops(infusion: Infusion, *, volume_infused_ml: Decimal) -> list[Stop]:
    return safety_rules.volume_mismatch(
        volume_infused_ml=volume_infused_ml, planned_ml=infusion.volume_ml, config=safety_config()
    )
