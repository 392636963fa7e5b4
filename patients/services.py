"""Every change to a patient goes through here (docs/architecture.md, habit 2), whether from a page, the API or the
admin."""

from __future__ import annotations

from dataclasses import fields
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, SafetyStopped
from core.history import attribute_change
from core.roles import roles_of
from core.stops import OVERRIDE_REASON_MAX_LENGTH, Actor, Settlement, Stage, Stop, settle
from patients import lab_rules, rules
from patients.models import CURRENT_LAB, LabResult, Patient, ReportedIvigReaction, WeightMeasurement
from patients.signals import lab_results_changed

PATIENT_FIELDS = (
    "mrn",
    "given_name",
    "family_name",
    "birth_date",
    "sex",
    "unit",
    "height_cm",
    "serum_iga_mg_dl",
    "iga_measured_on",
    "cardiac_dysfunction",
    "renal_impairment",
    "pregnant",
    "expected_delivery_date",
    "pregnancy_review_on",
    "pregnancy_ended_on",
    "thrombosis_risk",
    "thrombosis_risk_details",
    # docs/clinical-rules.md §A13: the at-risk factors one by one, the acute ones with the date they were assessed.
    "diabetes",
    "volume_depletion",
    "sepsis",
    "paraproteinemia",
    "nephrotoxic_drugs",
    "immobilization",
    "hypercoagulable_state",
    "previous_thrombosis",
    "estrogens",
    "central_venous_catheter",
    "hyperviscosity",
    "cardiovascular_disease",
    "acute_factors_assessed_on",
    "on_insulin",
    "hereditary_fructose_intolerance",
    "anti_iga_antibodies",
    "anti_iga_antibodies_on",
    "allergies",
    "previous_infusion_reactions",
)


PREGNANCY_FIELDS = ("pregnant", "expected_delivery_date", "pregnancy_review_on", "pregnancy_ended_on")


def _validate_pregnancy(patient: Patient, data: dict[str, Any]) -> None:
    """A13's pregnancy record, judged when it is written (an unrelated edit does not re-judge a review date that
    has since passed)."""
    if not any(field in data for field in PREGNANCY_FIELDS):
        return
    errors = rules.pregnancy_errors(
        pregnant=patient.pregnant,
        expected_delivery=patient.expected_delivery_date,
        review_on=patient.pregnancy_review_on,
        ended_on=patient.pregnancy_ended_on,
        today=timezone.localdate(),
    )
    if errors:
        raise ValidationError(errors)


# The dates of the patient's record that describe something that happened to them (not a date expected ahead).
RECORD_DATES = ("iga_measured_on", "anti_iga_antibodies_on", "acute_factors_assessed_on", "pregnancy_ended_on")


def _validate_dates_after_birth(patient: Patient) -> None:
    errors: dict[str, list[str]] = {}
    for field in RECORD_DATES:
        day = getattr(patient, field)
        problem = rules.before_birth_problem(day, patient.birth_date) if day and patient.birth_date else None
        if problem:
            errors[field] = [problem]
    if errors:
        raise ValidationError(errors)


def _validate_iga_pair(patient: Patient) -> None:
    if patient.iga_measured_on is not None and patient.serum_iga_mg_dl is None:
        raise ValidationError({"serum_iga_mg_dl": ["Enter the IgA result for the date given."]})


def _checked_measured_at(measured_at: datetime | None) -> datetime:
    now = timezone.now()
    measured_at = measured_at or now
    if measured_at > now:
        raise ValidationError({"weight_measured_at": ["A weight cannot be measured in the future."]})
    return measured_at


@transaction.atomic
def create_patient(
    *,
    data: dict[str, Any],
    user: Any,
    weight_kg: Decimal | None = None,
    weight_measured_at: datetime | None = None,
    overrides: dict[str, str] | None = None,
) -> Patient:
    """Create a patient, with a first weighing when ``weight_kg`` is given. An implausible BMI (§A9) refuses it
    with SafetyStopped unless ``overrides`` carries a reason; nothing is saved on a refusal."""
    patient = Patient(**{field: data[field] for field in PATIENT_FIELDS if field in data})
    patient.full_clean()
    _validate_dates_after_birth(patient)
    _validate_iga_pair(patient)
    _validate_pregnancy(patient, data)
    measured_at = _checked_measured_at(weight_measured_at) if weight_kg is not None else None
    weight = _new_weight(patient, weight_kg, measured_at, user) if weight_kg is not None else None
    settlement = _settle_body_size(
        patient,
        weight,
        height_sent=patient.height_cm is not None,
        previous=None,
        overrides=overrides,
        user=user,
    )
    _confirm(patient, weight, settlement, height_changed=True)
    attribute_change(patient, user)
    patient.save()
    if weight is not None:
        weight.patient = patient
        _save_weight(weight, user)
    return patient


@transaction.atomic
def update_patient(
    *,
    patient_id: int,
    data: dict[str, Any],
    user: Any,
    weight_kg: Decimal | None = None,
    weight_measured_at: datetime | None = None,
    overrides: dict[str, str] | None = None,
) -> Patient:
    """Change a patient; a ``weight_kg`` different from the current one is a new weighing. A new weight or height
    that trips weight_change or implausible_body_size (§A9) refuses the whole change with SafetyStopped unless
    ``overrides`` carries a reason."""
    patient = Patient.objects.select_for_update().get(pk=patient_id)
    height_before = patient.height_cm
    for field in PATIENT_FIELDS:
        if field in data:
            setattr(patient, field, data[field])
    patient.full_clean()
    _validate_dates_after_birth(patient)
    _validate_iga_pair(patient)
    _validate_pregnancy(patient, data)
    height_changed = patient.height_cm != height_before
    weight = None
    if weight_kg is not None:
        measured_at = _checked_measured_at(weight_measured_at)
        current = patient.current_weight
        # The API sends the current weight back on every PATCH; only a different value is a new weighing.
        if current is None or current.weight_kg != Decimal(weight_kg) or weight_measured_at is not None:
            weight = _new_weight(patient, weight_kg, measured_at, user)
    settlement = _settle_body_size(
        patient,
        weight,
        height_sent=height_changed,
        previous=_previous_weight(patient, weight.measured_at if weight else None),
        overrides=overrides,
        user=user,
    )
    _confirm(patient, weight, settlement, height_changed=height_changed)
    attribute_change(patient, user)
    patient.save()
    if weight is not None:
        _save_weight(weight, user)
    return patient


def record_weight(
    *,
    patient_id: int,
    weight_kg: Decimal,
    user: Any,
    measured_at: datetime | None = None,
    overrides: dict[str, str] | None = None,
) -> WeightMeasurement:
    """A new weighing; one that trips weight_change or implausible_body_size (§A9) is refused with SafetyStopped
    unless ``overrides`` carries a reason, which is kept with the weight."""
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient_id)
        weight = _new_weight(patient, weight_kg, _checked_measured_at(measured_at), user)
        settlement = _settle_body_size(
            patient,
            weight,
            height_sent=False,
            previous=_previous_weight(patient, weight.measured_at),
            overrides=overrides,
            user=user,
        )
        _confirm(patient, weight, settlement, height_changed=False)
        _save_weight(weight, user)
        return weight


def _new_weight(patient: Patient, weight_kg: Decimal, measured_at: datetime | None, user: Any) -> WeightMeasurement:
    """A validated, unsaved weighing (saved only once the body-size stops are settled)."""
    weight = WeightMeasurement(
        patient=patient,
        weight_kg=Decimal(weight_kg),
        measured_at=measured_at or timezone.now(),
        recorded_by=user if getattr(user, "is_authenticated", False) else None,
    )
    try:
        weight.full_clean(exclude=["patient", "recorded_by"])
    except ValidationError as exc:
        raise ValidationError({"weight_kg": exc.message_dict.get("weight_kg", exc.messages)}) from exc
    return weight


def _save_weight(weight: WeightMeasurement, user: Any) -> None:
    attribute_change(weight, user)
    weight.save()


# --- Body size (docs/clinical-rules.md §A9 "Recording body size") ----------------------------------------------


def body_size_config() -> rules.BodySizeConfig:
    """The hospital's numbers: IVIG_BODY_SIZE in settings overrides any default of BodySizeConfig."""
    names = {field.name for field in fields(rules.BodySizeConfig)}
    chosen = {name: value for name, value in getattr(settings, "IVIG_BODY_SIZE", {}).items() if name in names}
    return rules.BodySizeConfig(**chosen)


def _previous_weight(patient: Patient, measured_at: datetime | None) -> WeightMeasurement | None:
    """The weighing a new one is compared with: the latest measured at or before it."""
    if measured_at is None or patient.pk is None:
        return None
    return patient.weights.filter(measured_at__lte=measured_at).order_by("-measured_at", "-pk").first()


def body_size_stops(
    patient: Patient,
    weight: WeightMeasurement | None,
    *,
    height_sent: bool,
    previous: WeightMeasurement | None,
) -> list[Stop]:
    """The §A9 stops a new weight (``weight``, unsaved) or a changed height (``height_sent``) raises."""
    config = body_size_config()
    stops: list[Stop] = []
    at = weight.measured_at if weight is not None else timezone.now()
    age = patient.age_on(timezone.localdate(at))
    if weight is not None and previous is not None:
        stops += rules.weight_change(
            weight.weight_kg,
            previous.weight_kg,
            previous_within_90_days=rules.previous_within_window(previous.measured_at, weight.measured_at, config),
            age_years=age,
            previous_on=timezone.localdate(previous.measured_at),
            config=config,
        )
    bmi_weight = weight if weight is not None else (patient.current_weight if height_sent and patient.pk else None)
    if bmi_weight is not None and patient.height_cm is not None and (weight is not None or height_sent):
        sent = frozenset({"weight_kg"} if weight is not None else set()) | frozenset(
            {"height_cm"} if height_sent else set()
        )
        stops += rules.implausible_body_size(bmi_weight.weight_kg, patient.height_cm, age, sent=sent, config=config)
    return stops


def _settle_body_size(
    patient: Patient,
    weight: WeightMeasurement | None,
    *,
    height_sent: bool,
    previous: WeightMeasurement | None,
    overrides: dict[str, str] | None,
    user: Any,
) -> Settlement:
    """Refuse (SafetyStopped, nothing saved) or return the overrides to keep. The body-size stops are overridden
    by the user recording (A9: "any"), so no role is refused here."""
    given = overrides or {}
    too_long = [code for code, reason in given.items() if len(reason.strip()) > OVERRIDE_REASON_MAX_LENGTH]
    if too_long:
        raise ValidationError(
            {"overrides": [f"A reason has at most {OVERRIDE_REASON_MAX_LENGTH} characters ({', '.join(too_long)})."]}
        )
    stops = body_size_stops(patient, weight, height_sent=height_sent, previous=previous)
    actor = Actor(
        roles=frozenset(str(role) for role in roles_of(user)),
        superuser=bool(getattr(user, "is_superuser", False)),
    )
    settlement = settle(stops, overrides=given, actor=actor, stage=Stage.CREATE)
    if settlement.forbidden:
        raise SafetyStopped(settlement.stops, forbidden=True)
    if settlement.blocked:
        raise SafetyStopped(settlement.stops, blank_reasons=settlement.blank_reasons)
    return settlement


def _confirm(
    patient: Patient, weight: WeightMeasurement | None, settlement: Settlement, *, height_changed: bool
) -> None:
    """Keep each reason with the value its stop names: the weighing, or the patient's height."""
    on_weight = [(stop, reason) for stop, reason in settlement.overridden if stop.field == "weight_kg"]
    on_height = [reason for stop, reason in settlement.overridden if stop.field == "height_cm"]
    if weight is not None and on_weight:
        weight.confirmation_code = ", ".join(stop.code for stop, _reason in on_weight)
        reasons = {reason for _stop, reason in on_weight}
        weight.confirmation_reason = (
            on_weight[0][1] if len(reasons) == 1 else "\n".join(f"{stop.code}: {reason}" for stop, reason in on_weight)
        )
    if height_changed:
        patient.height_confirmation_reason = on_height[0] if on_height else ""


@transaction.atomic
def record_reported_ivig_reaction(
    *,
    patient_id: int,
    user: Any,
    occurred_on: date | None,
    product: str,
    ctcae_grade: int | None,
    anaphylaxis: bool,
    where: str,
    details: str = "",
) -> ReportedIvigReaction:
    """Add a reaction to IVIG given elsewhere to the patient's structured history (docs/clinical-rules.md §A9
    previous_severe_reaction). A severe one (CTCAE grade >= 3 or anaphylaxis) raises that stop at the next
    verification and start of day 1 of any open course."""
    errors: dict[str, list[str]] = {}
    if occurred_on is None:
        errors["occurred_on"] = ["Give the date of the reaction."]
    elif occurred_on > timezone.localdate():
        errors["occurred_on"] = ["A reaction cannot be dated in the future."]
    if ctcae_grade is not None and not 1 <= ctcae_grade <= 5:
        errors["ctcae_grade"] = ["A CTCAE grade is 1 to 5."]
    if ctcae_grade is None and not anaphylaxis:
        errors["ctcae_grade"] = ["Give the CTCAE grade, or record the reaction as anaphylaxis."]
    if not (product or "").strip():
        errors["product"] = ["Name the IVIG product, as reported (or 'unknown')."]
    if not (where or "").strip():
        errors["where"] = ["Say where it was given (hospital, unit)."]
    patient = Patient.objects.select_for_update().get(pk=patient_id)
    if occurred_on is not None and (problem := rules.before_birth_problem(occurred_on, patient.birth_date)):
        errors["occurred_on"] = [problem]
    if errors or occurred_on is None:
        raise ValidationError(errors)
    report = ReportedIvigReaction(
        patient=patient,
        occurred_on=occurred_on,
        product=product.strip(),
        ctcae_grade=ctcae_grade,
        anaphylaxis=anaphylaxis,
        where=where.strip(),
        details=(details or "").strip(),
        recorded_by=user,
    )
    report.full_clean(exclude=["patient", "recorded_by"])
    attribute_change(report, user)
    report.save()
    return report


# --- Laboratory values beside the platelet count (docs/clinical-rules.md §A13) -----------------------------------


def _lab_value(test: str, value: Any, unit: str) -> tuple[Decimal | None, str]:
    """The stored SI value (or blood group) of what was typed or sent, refused with the field at fault."""
    try:
        if test == LabResult.Test.BLOOD_GROUP:
            return None, lab_rules.blood_group(str(value or ""))
        try:
            text = str(value).strip().replace(",", ".")
            if not text.isascii():  # Decimal() reads "١٢" as 12: a value is typed with the digits 0-9
                raise ValueError(text)
            number = Decimal(text)
        except (InvalidOperation, ValueError) as exc:
            raise lab_rules.LabValueError("value", f"The {test} value must be a number.") from exc
        return lab_rules.to_si(lab_rules.LabTest(test), number, unit or ""), ""
    except lab_rules.LabValueError as exc:
        raise ValidationError({exc.field: [exc.message]}) from exc


def _day_of(moment: datetime) -> date:
    """The hospital's date of a moment; its own date at the first or last day a datetime holds (year 1 in a zone
    west of UTC has no local date)."""
    try:
        return timezone.localdate(moment)
    except OverflowError:
        return moment.date()


def _lab_time(collected_at: datetime | None, patient: Patient) -> datetime:
    if collected_at is None:
        raise ValidationError({"collected_at": ["Say when the sample was collected."]})
    if collected_at > timezone.now() + timedelta(seconds=5):
        raise ValidationError({"collected_at": ["A sample cannot be collected in the future."]})
    if problem := rules.before_birth_problem(_day_of(collected_at), patient.birth_date):
        raise ValidationError({"collected_at": [problem]})
    return collected_at


@transaction.atomic
def record_lab_result(
    *,
    patient_id: int,
    user: Any,
    test: str,
    value: Any,
    unit: str = "",
    collected_at: datetime | None,
    source: str = LabResult.Source.MANUAL,
) -> LabResult:
    """A creatinine, hemoglobin or blood group of the patient, converted by the unit sent (never by the test's
    code); refused with field errors for an unknown test or unit, an implausible value, or a time in the future."""
    result = _new_lab_result(
        patient_id=patient_id, user=user, test=test, value=value, unit=unit, collected_at=collected_at, source=source
    )
    _announce(result, user)
    return result


def _announce(result: LabResult, user: Any) -> None:
    # Monitoring answers the courses' lab checks and looks for a decline (§A13), in this transaction.
    lab_results_changed.send(
        sender=LabResult,
        patient_id=result.patient_id,
        test=result.test,
        collected_at=result.collected_at,
        user=user,
    )


def _new_lab_result(
    *,
    patient_id: int,
    user: Any,
    test: str,
    value: Any,
    unit: str,
    collected_at: datetime | None,
    source: str,
) -> LabResult:
    if test not in LabResult.Test.values:
        raise ValidationError({"test": ["Choose creatinine, hemoglobin or blood group."]})
    patient = Patient.objects.select_for_update().get(pk=patient_id)
    value_si, group = _lab_value(test, value, unit)
    result = LabResult(
        patient=patient,
        test=test,
        value_sent=str(value).strip()[:40],
        unit_sent="" if test == LabResult.Test.BLOOD_GROUP else (unit or "").strip()[:20],
        value_si=value_si,
        blood_group=group,
        collected_at=_lab_time(collected_at, patient),
        source=source,
        entered_by=user if getattr(user, "is_authenticated", False) else None,
    )
    attribute_change(result, user)
    result.save()
    return result


def _current_lab(lab_id: int) -> LabResult:
    lab = LabResult.objects.select_for_update().get(pk=lab_id)
    if lab.superseded_by_id is not None:
        raise Conflict("This result was already corrected: correct the current result.")
    if lab.status == LabResult.Status.ENTERED_IN_ERROR:
        raise Conflict("This result was withdrawn as entered in error.")
    return lab


def _lab_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Give the reason (what was wrong)."]})
    return reason[:500]


@transaction.atomic
def correct_lab_result(*, lab_id: int, user: Any, value: Any, unit: str = "", reason: str) -> LabResult:
    """A correction: a new result supersedes the old one, which stays, with the reason (A13). Staff correct typed
    values; the laboratory corrects its own."""
    reason = _lab_reason(reason)
    old = _current_lab(lab_id)
    if old.source == LabResult.Source.HL7:
        raise Conflict("This value came from the laboratory: the laboratory corrects it by sending a correction.")
    value_si, group = _lab_value(old.test, value, unit)
    if (value_si, group) == (old.value_si, old.blood_group):
        raise ValidationError({"value": ["The correction changes nothing: give the right value."]})
    new = LabResult(
        patient=old.patient,
        test=old.test,
        value_sent=str(value).strip()[:40],
        unit_sent="" if old.test == LabResult.Test.BLOOD_GROUP else (unit or "").strip()[:20],
        value_si=value_si,
        blood_group=group,
        collected_at=old.collected_at,
        source=LabResult.Source.MANUAL,
        status=LabResult.Status.CORRECTED,
        change_reason=reason,
        entered_by=user,
    )
    attribute_change(new, user, reason=f"Correction: {reason}"[:100])
    new.save()
    old.superseded_by = new
    old.status = LabResult.Status.SUPERSEDED
    attribute_change(old, user, reason=f"Superseded: {reason}"[:100])
    old.save(update_fields=["superseded_by", "status"])
    _announce(new, user)
    return new


@transaction.atomic
def withdraw_lab_result(*, lab_id: int, user: Any, reason: str) -> LabResult:
    """A value entered in error (another patient's sample, a wrong test) is withdrawn with the reason, never
    deleted."""
    reason = _lab_reason(reason)
    lab = _current_lab(lab_id)
    lab.status = LabResult.Status.ENTERED_IN_ERROR
    lab.change_reason = reason
    attribute_change(lab, user, reason=f"Entered in error: {reason}"[:100])
    lab.save(update_fields=["status", "change_reason"])
    _announce(lab, user)
    return lab


@transaction.atomic
def record_laboratory_value(
    *,
    patient_id: int,
    user: Any,
    test: str,
    value: Any,
    unit: str,
    collected_at: datetime,
    correction: bool = False,
) -> tuple[LabResult, bool]:
    """A laboratory's value by its interface (HL7): the same conversion and refusals as a typed one. The same value
    of the same sample sent again records nothing (answers the stored one, False); a correction (OBX-11 ``C``)
    supersedes the laboratory's earlier value of that sample, which stays in the history."""
    value_si, group = _lab_value(test, value, unit)
    same_sample = LabResult.objects.select_for_update().filter(
        patient_id=patient_id, test=test, collected_at=collected_at, source=LabResult.Source.HL7
    )
    # The same value of the same sample again records nothing, a value staff withdrew included (it stays withdrawn).
    already = same_sample.filter(value_si=value_si, blood_group=group).order_by("-pk").first()
    if already is not None:
        return already, False
    earlier = same_sample.filter(CURRENT_LAB).order_by("-pk").first()
    new = _new_lab_result(
        patient_id=patient_id,
        user=user,
        test=test,
        value=value,
        unit=unit,
        collected_at=collected_at,
        source=LabResult.Source.HL7,
    )
    if earlier is not None:
        # One current value per sample: a correction (C), or a new final value for the same sample, replaces it.
        new.status = LabResult.Status.CORRECTED
        new.change_reason = "Laboratory correction" if correction else "Laboratory sent a new value for the sample"
        new.save(update_fields=["status", "change_reason"])
        earlier.superseded_by = new
        earlier.status = LabResult.Status.SUPERSEDED
        attribute_change(earlier, user, reason="Superseded: laboratory correction")
        earlier.save(update_fields=["superseded_by", "status"])
    _announce(new, user)
    return new, True
