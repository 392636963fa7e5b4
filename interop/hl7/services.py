"""HL7 v2 platelet results in: one service for the MLLP listener, the HTTP endpoint and the admin's
"Re-process" action.

Every message is stored raw with its outcome and the exact ACK sent. Idempotency is the unique MSH-10: the row
is inserted first and a resend hits the constraint (no check-then-act), then gets the stored ACK back and changes
nothing. The clinical part of a message runs in a savepoint: one bad OBX and none of its results stay. Results
go through ``monitoring.services.record_platelet_result``, so a lab result drives the response exactly as a
typed one does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Min
from django.utils import timezone

from core.errors import Conflict
from core.history import attribute_change, history_skipped
from infusions.models import Order, OrderStatus
from interop.hl7 import parse
from interop.hl7.parse import HL7Error, Observation
from interop.models import HL7Message, HL7MessageResult, LocalObservationCode
from monitoring import services as monitoring_services
from monitoring.models import CheckStatus, PlateletCheck, PlateletResult
from monitoring.services import OPEN_CHECK_STATUSES
from patients import services as patient_services
from patients.models import Patient

logger = logging.getLogger(__name__)

Outcome = HL7Message.Outcome


@dataclass(frozen=True)
class Ack:
    code: str  # AA, AE or AR (MSA-1)
    text: str  # the whole ACK message, segments ending in CR
    message_id: int | None  # the stored HL7Message
    duplicate: bool = False  # a resend: the stored ACK, nothing changed


@dataclass(frozen=True)
class Applied:
    """What one OBX did."""

    obx_index: int
    kind: str  # check | adhoc | preliminary | not_obtained | unchanged | lab
    summary: str


# --- Entry points ------------------------------------------------------------------------------------------


ACK_SEVERITY = {parse.ACCEPT: 0, parse.ERROR: 1, parse.REJECT: 2}
PROCESSING_ID_REFUSED = 202  # HL7 table 0357


def receive(raw: str, transport: str, user: Any = None) -> Ack:
    """One message, or a batch file (FHS/BHS ... BTS/FTS) processed message by message, each on its own (one
    message's error never undoes another's result), answered with a batch of their ACKs. The code returned is the
    worst of them."""
    if not parse.is_batch(raw):
        return receive_message(raw, transport, user)
    batch = parse.split_batch(raw)
    if not batch.messages:
        # Nothing to acknowledge message by message: the file is stored and refused as a whole (AR).
        return receive_message(raw, transport, user)
    acks = [receive_message(message, transport, user) for message in batch.messages]
    now = timezone.now()
    control_id = f"IVIGB{now:%Y%m%d%H%M%S%f}"
    text = parse.build_batch_ack(batch, [ack.text for ack in acks], control_id=control_id, now=now)
    worst = max((ack.code for ack in acks), key=ACK_SEVERITY.__getitem__, default=parse.ACCEPT)
    return Ack(code=worst, text=text, message_id=None)


def receive_message(raw: str, transport: str, user: Any = None) -> Ack:
    """Store, process and acknowledge one message. Never raises for what the sender sent: AR when it cannot be
    processed at all, AE for an application error (the message then waits in the admin's error queue)."""
    now = timezone.now()
    try:
        message = parse.read_message(raw)
        header = parse.read_header(message)
    except HL7Error as error:
        return _store_unprocessable(raw, transport, user, error, now)
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():  # a savepoint: the duplicate's IntegrityError leaves the rest usable
                    row = _new_row(raw, transport, user, now, header=header, control_id=header.control_id or None)
            except IntegrityError:
                return _resend(header, raw, transport, user, now)
            return _process(row, message, header, user, now)
    except Exception as exc:  # a bug or the database: keep the message for the admin and answer AE
        logger.exception("HL7 message %s could not be processed", header.control_id)
        return _store_internal_error(raw, transport, user, header, exc, now)


def reprocess_message(message_id: int, user: Any = None) -> Ack:
    """Run a stored message in error through the same processing again, after the patient or order has been
    fixed (the admin's "Re-process" action). The row keeps its history; its ACK becomes the new one, which a
    later resend of the message receives."""
    now = timezone.now()
    with transaction.atomic():
        row = HL7Message.objects.select_for_update().get(pk=message_id)
        if row.outcome != Outcome.ERROR:
            raise Conflict(
                f"HL7 message #{row.pk} was {row.get_outcome_display().lower()}: only messages in error are "
                "re-processed."
            )
        row.reprocessed_count += 1  # the row is locked; saved with the outcome, as one history entry
        try:
            message = parse.read_message(row.raw)
            header = parse.read_header(message)
        except HL7Error as error:
            return _finish(row, None, [], error, user, now)
        return _process(row, message, header, user, now)


# --- Processing --------------------------------------------------------------------------------------------


def _process(row: HL7Message, message: Any, header: parse.Header, user: Any, now: datetime) -> Ack:
    applied: list[Applied] = []
    error: HL7Error | None = None
    other_obx = 0
    try:
        parse.validate_header(header, processing_id=settings.IVIG_HL7_PROCESSING_ID)
        parse.check_structure(message)
        row.patient_mrn = parse.read_patient_mrn(message)[:64]
        observations = parse.read_observations(
            message,
            local_codes=local_codes(header.sending_facility),
            zone=ZoneInfo(settings.TIME_ZONE),
            now=now,
            facility=header.sending_facility,
        )
        other_obx = observations.other_obx
        with transaction.atomic():  # a savepoint: an error in any OBX leaves none of the message's results
            applied = _apply(row, observations.platelets, user)
            applied += _apply_labs(row, observations.labs, user)
    except HL7Error as caught:
        error, applied, other_obx = caught, [], 0
    return _finish(row, header, applied, error, user, now, other_obx=other_obx)


def local_codes(facility: str) -> dict[str, str]:
    """The sending facility's local codes and what each names (the admin's mapping); the older setting
    ``IVIG_HL7_LOCAL_PLATELET_CODES`` still names platelet codes of any facility."""
    mapped = dict.fromkeys(settings.IVIG_HL7_LOCAL_PLATELET_CODES, parse.PLATELET_COUNT)
    rows = LocalObservationCode.objects.filter(sending_facility=facility).values_list("code", "test")
    return mapped | dict(rows)


def _patient_of(row: HL7Message) -> Patient:
    patient = Patient.objects.filter(mrn=row.patient_mrn).first()
    if patient is None:
        raise HL7Error(
            f"No patient with MRN {row.patient_mrn}: register or correct the patient, then re-process this message "
            "in the admin.",
            condition=204,
            location="PID^1^3",
        )
    return patient


def _apply(row: HL7Message, observations: list[Observation], user: Any) -> list[Applied]:
    if not observations:
        return []
    patient = _patient_of(row)
    return [_apply_one(row, patient, observation, user) for observation in observations]


def _apply_labs(row: HL7Message, labs: tuple[parse.LabObservation, ...], user: Any) -> list[Applied]:
    """Creatinine, hemoglobin and ABO/Rh values (docs/clinical-rules.md §A13) through the patients' service, as typed
    ones are: converted by the unit sent; an unknown unit or an implausible value is AE with the reason, and the
    message waits in the queue like any other error. A resend records nothing more; C replaces the laboratory's
    earlier value of the same sample (kept, superseded)."""
    if not labs:
        return []
    patient = _patient_of(row)
    applied = []
    for lab in labs:
        if lab.status not in (parse.FINAL, parse.CORRECTED):
            # P: a preliminary value is not kept; X/D/W: nothing to record (a withdrawal is a person's decision).
            applied.append(
                Applied(lab.obx_index, "lab", f"OBX {lab.obx_index}: {lab.test} status {lab.status} not recorded")
            )
            continue
        assert lab.collected_at is not None
        try:
            result, recorded = patient_services.record_laboratory_value(
                patient_id=patient.pk,
                user=user,
                test=lab.test,
                value=lab.value_text,
                unit=lab.unit_text,
                collected_at=lab.collected_at,
                correction=lab.status == parse.CORRECTED,
            )
        except ValidationError as exc:
            field = next(iter(exc.message_dict), "value")
            where = {"unit": 6, "collected_at": 14}.get(field, 5)
            raise HL7Error(
                f"OBX {lab.obx_index} ({lab.test}): {_validation_text(exc)}",
                condition=102,
                location=f"{lab.location}^{where}",
            ) from exc
        shown = result.blood_group or f"{result.value_si} {'µmol/L' if lab.test == 'creatinine' else 'g/L'}"
        applied.append(
            Applied(
                lab.obx_index,
                "lab",
                f"{lab.test.replace('_', ' ')} {shown} {'recorded' if recorded else 'already recorded'}",
            )
        )
    return applied


def _apply_one(row: HL7Message, patient: Patient, obs: Observation, user: Any) -> Applied:
    if obs.status == parse.CANNOT_OBTAIN:
        # Table 0085 X: "results cannot be obtained for this observation" - nothing to record, acknowledged.
        return Applied(obs.obx_index, "not_obtained", f"OBX {obs.obx_index}: result cannot be obtained (X)")
    if obs.status in (parse.DELETED, parse.WRONG):
        raise _withdrawal_refused(patient, obs)
    # parse sets the value, the count and the collection time together for every recorded status.
    assert obs.platelet_count is not None and obs.collected_at is not None and obs.value_10e9_per_l is not None
    previous = _same_observation(patient, obs)
    target_check: PlateletCheck | None = None
    target_order: Order | None = None
    if previous is not None and not previous.platelet_result.preliminary:
        if _is_unchanged(previous.platelet_result, obs):
            return Applied(
                obs.obx_index, "unchanged", f"OBX {obs.obx_index}: already recorded as result #{previous.pk}"
            )
        if previous.platelet_result.platelet_check_id is None:
            raise HL7Error(
                f"OBX {obs.obx_index} changes ad hoc result #{previous.platelet_result_id} of order "
                f"#{previous.platelet_result.order_id}, which cannot be superseded automatically (only a check's "
                "result can): ask a nurse or hematologist to review it.",
                location=obs.location,
            )
    other_sample: PlateletResult | None = None
    if previous is not None and previous.platelet_result.platelet_check_id is not None:
        # The same observation of the same sample again (P then F, F then C): it belongs to the same check, and
        # record_platelet_result supersedes the earlier final result, which stays in the history.
        target_check = previous.platelet_result.platelet_check
    else:
        same_sample, other_sample = _check_of_same_sample(patient, obs)
        target_check = same_sample or _nearest_open_check(patient, obs.collected_at)
        if target_check is None:
            target_order = _active_order(patient, obs.collected_at)
    try:
        result = monitoring_services.record_platelet_result(
            check_id=target_check.pk if target_check else None,
            order_id=target_order.pk if target_order else None,
            platelet_count=obs.platelet_count,
            collected_at=obs.collected_at,
            # docs/clinical-rules.md §A12: "bleeding" is new WHO grade >= 2 bleeding assessed at the bedside. A
            # laboratory cannot know it and HL7 carries no such assessment: a lab result leaves bleeding not assessed
            # (classified as without bleeding, marked until staff record the WHO grade).
            bleeding=None,
            user=user,
            source=PlateletResult.Source.HL7,
            preliminary=obs.status == parse.PRELIMINARY,
        )
    except ValidationError as exc:
        raise HL7Error(f"OBX {obs.obx_index}: {_validation_text(exc)}", location=obs.location) from exc
    except Conflict as exc:
        raise HL7Error(f"OBX {obs.obx_index}: {exc.detail}", location=obs.location) from exc
    HL7MessageResult.objects.create(
        message=row,
        platelet_result=result,
        obx_index=obs.obx_index,
        observation_code=obs.code[:64],
        observation_sub_id=obs.sub_id[:20],
        specimen_id=obs.specimen_id[:200],
        result_status=obs.status,
        value_original=obs.value_original,
        unit_original=obs.unit_original,
        value_10e9_per_l=obs.value_10e9_per_l,
        reference_range=obs.reference_range,
        abnormal_flag=obs.abnormal_flag,
    )
    where = (
        f"{target_check.get_label_display()} check of order #{target_check.order_id}"
        if target_check
        else f"ad hoc, order #{result.order_id}"
    )
    if other_sample is not None:
        where += (
            f"; sample {obs.specimen_id} is another sample than result #{other_sample.pk} collected at the same "
            "time, recorded beside it (not as a correction)"
        )
    kind = "preliminary" if result.preliminary else ("check" if target_check else "adhoc")
    label = " (preliminary)" if result.preliminary else ""
    return Applied(obs.obx_index, kind, f"OBX {obs.obx_index}: {obs.platelet_count} x10*9/L{label}, {where}")


def _same_observation(patient: Patient, obs: Observation) -> HL7MessageResult | None:
    """The latest result of this observation (same sample, code and sub-ID) that this patient already has from
    HL7. Without a sample identifier nothing is "the same observation"."""
    if not obs.specimen_id:
        return None
    return (
        HL7MessageResult.objects.filter(
            specimen_id=obs.specimen_id,
            observation_code=obs.code,
            observation_sub_id=obs.sub_id,
            platelet_result__order__patient=patient,
        )
        .select_related("platelet_result__platelet_check")
        .order_by("-pk")
        .first()
    )


def _is_unchanged(result: PlateletResult, obs: Observation) -> bool:
    """The lab sent a final result we already hold, identical (a resend under a new MSH-10)."""
    return (
        obs.status == parse.FINAL
        and result.superseded_by_id is None
        and result.platelet_count == obs.platelet_count
        and result.collected_at == obs.collected_at
    )


def _check_of_same_sample(patient: Patient, obs: Observation) -> tuple[PlateletCheck | None, PlateletResult | None]:
    """A check that already holds a current result collected at this very time - typed from the phone, or sent
    by the lab without a sample identifier: the same sample, so the lab's result corrects that check rather
    than counting the sample twice. A result the laboratory sent for another sample (another OBR-3) at the same
    time is not the same sample: it is returned second, so the new result stands beside it, and the ACK says so."""
    assert obs.collected_at is not None
    results = (
        PlateletResult.objects.filter(
            order__patient=patient,
            collected_at=obs.collected_at,
            platelet_check__isnull=False,
            superseded_by__isnull=True,
            preliminary=False,
        )
        .exclude(platelet_check__status=CheckStatus.CANCELLED)
        .select_related("platelet_check")
        .prefetch_related("hl7_sources")
        .order_by("-pk")
    )
    other_sample = None
    for result in results:
        samples = {source.specimen_id for source in result.hl7_sources.all() if source.specimen_id}
        if obs.specimen_id and samples and obs.specimen_id not in samples:
            other_sample = other_sample or result
            continue
        return result.platelet_check, None
    return None, other_sample


def _nearest_open_check(patient: Patient, collected_at: datetime) -> PlateletCheck | None:
    """The patient's open check due nearest the collection time, within the window either side (ties: the
    earlier check). The candidates are locked, so two messages at once cannot both close the same check."""
    window = timedelta(hours=settings.IVIG_HL7_MATCH_WINDOW_HOURS)
    candidates = list(
        PlateletCheck.objects.select_for_update(of=("self",))
        .filter(
            order__patient=patient,
            status__in=OPEN_CHECK_STATUSES,
            due_at__gte=collected_at - window,
            due_at__lte=collected_at + window,
        )
        .order_by("due_at", "pk")
    )
    return min(candidates, key=lambda check: abs(check.due_at - collected_at), default=None)


def _active_order(patient: Patient, collected_at: datetime) -> Order:
    """The patient's most recent order under way at the collection time: in progress, completed, or cancelled after
    an infusion was given (a partly given course is followed like an ended one, docs/clinical-rules.md §A12), its
    first infusion started before the sample was taken (never a draft or a merely verified order)."""
    order = (
        Order.objects.filter(
            patient=patient, status__in=[OrderStatus.IN_PROGRESS, OrderStatus.COMPLETED, OrderStatus.CANCELLED]
        )
        .annotate(first_started_at=Min("infusions__started_at"))
        .filter(first_started_at__lte=collected_at)
        .order_by("-first_started_at", "-pk")
        .first()
    )
    if order is None:
        raise HL7Error(
            f"Patient {patient.mrn} has no IVIG order under way at {collected_at:%Y-%m-%d %H:%M} UTC (in progress "
            "or completed, first infusion started before the sample): fix the order, then re-process this message "
            "in the admin.",
            condition=204,
            location="PID^1^3",
        )
    return order


def _withdrawal_refused(patient: Patient, obs: Observation) -> HL7Error:
    """OBX-11 D (delete) / W (wrong): withdrawing a result that already drove the response would have to reopen
    its check and re-assess the order, which no monitoring service does; a silent partial withdrawal is unsafe.
    So: AE with the reason, and the message waits in the admin queue for a person to act on."""
    previous = _same_observation(patient, obs)
    which = (
        f"result #{previous.platelet_result_id} of order #{previous.platelet_result.order_id}"
        if previous
        else "a result we cannot identify (no earlier HL7 result of this sample and code)"
    )
    return HL7Error(
        f"OBX {obs.obx_index}: status {obs.status} withdraws {which}; withdrawals are not applied automatically. "
        "Ask a hematologist to review the result.",
        location=f"{obs.location}^11",
    )


def _validation_text(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return " ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
    return " ".join(exc.messages)


# --- Outcome and ACK ---------------------------------------------------------------------------------------


def _finish(
    row: HL7Message,
    header: parse.Header | None,
    applied: list[Applied],
    error: HL7Error | None,
    user: Any,
    now: datetime,
    other_obx: int = 0,
) -> Ack:
    if error is not None:
        outcome, ack_code, text = Outcome.ERROR, error.ack_code, error.text
    else:
        kinds = {item.kind for item in applied}
        outcome = (
            Outcome.ACCEPTED_CHECK
            if "check" in kinds
            else Outcome.ACCEPTED_ADHOC
            if "adhoc" in kinds
            else Outcome.PRELIMINARY
            if "preliminary" in kinds
            else Outcome.ACCEPTED_LAB
            if "lab" in kinds
            else Outcome.IGNORED
        )
        ack_code = parse.ACCEPT
        parts = [item.summary for item in applied]
        if not applied:
            parts.append("no platelet count in this message")
        if other_obx:
            parts.append(f"{other_obx} other observation(s) not used")
        text = "; ".join(parts)
    ack_control_id = f"IVIG{row.pk}" + (f"R{row.reprocessed_count}" if row.reprocessed_count else "")
    if error is not None and error.condition == PROCESSING_ID_REFUSED:
        # A training or debugging message does not reserve its MSH-10: the production message that reuses the
        # number (test and live systems keep separate counters) is recorded, not refused as a duplicate.
        row.control_id = None
    row.outcome = outcome
    row.ack_code = ack_code
    row.ack_text = parse.build_ack(
        ack_code=ack_code, header=header, ack_control_id=ack_control_id, text=text, error=error, now=now
    )
    row.error = error.text if error else ""
    row.processed_at = timezone.now()  # received_at is when it arrived: the difference is its processing time
    attribute_change(row, _user_or_none(user))
    row.save()
    return Ack(code=ack_code, text=row.ack_text, message_id=row.pk)


def _resend(header: parse.Header, raw: str, transport: str, user: Any, now: datetime) -> Ack:
    stored = HL7Message.objects.get(control_id=header.control_id)
    if parse.comparable(stored.raw) == parse.comparable(raw):
        return Ack(code=stored.ack_code, text=stored.ack_text, message_id=stored.pk, duplicate=True)
    # The same MSH-10 on a different message: answering with the earlier ACK would tell the lab that this one
    # was recorded. Keep it (without the control ID, which belongs to the first) and say why.
    error = HL7Error(
        f"MSH-10 {header.control_id} was already used by HL7 message #{stored.pk} with different content: give "
        "each message its own control ID.",
        condition=205,
        location="MSH^1^10",
    )
    row = _new_row(raw, transport, user, now, header=header)
    return _finish(row, header, [], error, user, now)


def _store_unprocessable(raw: str, transport: str, user: Any, error: HL7Error, now: datetime) -> Ack:
    try:
        with transaction.atomic():
            row = _new_row(raw, transport, user, now, header=None)
            return _finish(row, None, [], error, user, now)
    except Exception:  # the database is failing: still answer, without a stored row
        logger.exception("an unprocessable HL7 message could not be stored")
        text = parse.build_ack(
            ack_code=error.ack_code, header=None, ack_control_id="IVIG0", text=error.text, error=error, now=now
        )
        return Ack(code=error.ack_code, text=text, message_id=None)


def _store_internal_error(
    raw: str, transport: str, user: Any, header: parse.Header, exc: Exception, now: datetime
) -> Ack:
    error = HL7Error(f"Internal error while processing the message ({type(exc).__name__}); it is kept for review.")
    try:
        with transaction.atomic():
            row = _new_row(raw, transport, user, now, header=header, control_id=header.control_id or None)
            return _finish(row, header, [], error, user, now)
    except Exception:  # the database itself is failing: answer AE without a stored row; the lab will resend
        logger.exception("HL7 message %s could not be stored", header.control_id)
        text = parse.build_ack(
            ack_code=parse.ERROR, header=header, ack_control_id="IVIG0", text=error.text, error=error, now=now
        )
        return Ack(code=parse.ERROR, text=text, message_id=None)


def _new_row(
    raw: str,
    transport: str,
    user: Any,
    now: datetime,
    *,
    header: parse.Header | None,
    control_id: str | None = None,
) -> HL7Message:
    row = HL7Message(
        control_id=control_id,
        raw=raw,
        received_at=now,
        transport=transport,
        received_by=_user_or_none(user),
        message_type=(header.message_type if header else "")[:40],
        sending_application=(header.sending_application if header else "")[:200],
        sending_facility=(header.sending_facility if header else "")[:200],
        outcome=Outcome.ERROR,
        ack_code=parse.ERROR,
        processed_at=now,
    )
    with history_skipped(row):
        row.save()
    return row


def _user_or_none(user: Any) -> Any:
    return user if getattr(user, "is_authenticated", False) else None
