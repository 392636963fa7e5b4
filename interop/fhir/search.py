"""The served resource types, their search parameters, read by id and search (with paging).

A resource type is served from one or more *sources*: a model whose rows each give one resource. Observation
has seven (platelet results, five vital signs per vital signs entry, body weights); the other types one each.
A search filters each source, sorts the union of the matching rows by the resource's main date (oldest first;
Patient by id) and loads only the rows of the requested page, one query per model: a search costs a handful
of queries whatever the number of rows.

Search semantics (FHIR R4 §3.1.1 "Search"): a repeated parameter ANDs its values, a comma inside one value ORs
alternatives; a malformed value is a 400. Handling is strict by default (§3.1.1.5.7): a parameter, modifier or
chain that is not supported is a 400 naming it, because a clinical search that silently dropped, say, a
``subject`` would return every patient's results as if they were one patient's. With ``Prefer: handling=lenient``
such parameters are ignored, and the Bundle's self link shows only the parameters applied.

Every resource carries ``meta.versionId`` and ``meta.lastUpdated`` from its record's history (interop/fhir/
versions.py), annotated on the queryset that loads the page, so that ``_lastUpdated`` filters in SQL too.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.db.models import CharField, F, OuterRef, Prefetch, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from infusions.models import Order, RateSegment, SafetyRecord, VitalSignsEntry
from interop.fhir import platelet_versions, versions
from interop.fhir import resources as fhir
from interop.models import HL7MessageResult
from monitoring.models import (
    CURRENT_RESULT,
    Notification,
    NotificationKind,
    OrderResponse,
    PlateletCheck,
    PlateletResult,
)
from patients import selectors as patient_selectors
from patients.models import LabResult, Patient, WeightMeasurement

DEFAULT_COUNT = 50
MAX_COUNT = 200
# Result parameters every FHIR server accepts; they change nothing here (JSON is the only format).
IGNORED_PARAMETERS = frozenset({"_format", "_pretty"})
PAGING_PARAMETERS = frozenset({"_count", "page"})
NOTHING = Q(pk__in=[])


class SearchError(Exception):
    """A malformed or unsupported search: HTTP 400 with an OperationOutcome."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# --- Parameter values --------------------------------------------------------------------------------------

_DATE_RE = re.compile(
    r"^(?P<prefix>eq|ne|gt|lt|ge|le|sa|eb|ap)?"
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d{1,9})?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
SUPPORTED_DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le")


@dataclass(frozen=True)
class DateValue:
    """A date search value: its prefix and the range [start, end) that its precision implies."""

    prefix: str
    start: datetime
    end: datetime


def parse_date(raw: str) -> DateValue:
    """``[prefix]YYYY[-MM[-DD[Thh:mm[:ss[.fff]][tz]]]]``. Without a time zone, the hospital's zone."""
    # An unencoded "+" of a time zone offset arrives as a space.
    match = _DATE_RE.match(raw.strip().replace(" ", "+"))
    if not match:
        raise SearchError(f"Malformed date {raw!r}: use [prefix]YYYY-MM-DD or YYYY-MM-DDThh:mm:ss+zz:zz.")
    parts = match.groupdict()
    prefix = parts["prefix"] or "eq"
    if prefix not in SUPPORTED_DATE_PREFIXES:
        raise SearchError(f"Date prefix {prefix!r} is not supported (use eq, ne, gt, ge, lt or le).", "not-supported")
    try:
        tzinfo = timezone.get_current_timezone()
        if parts["tz"]:
            tzinfo = datetime.fromisoformat(f"2000-01-01T00:00{parts['tz'].replace('Z', '+00:00')}").tzinfo
        year, month, day = int(parts["year"]), int(parts["month"] or 1), int(parts["day"] or 1)
        if parts["day"] is None:
            start = datetime(year, month, 1, tzinfo=tzinfo)
            end = (
                datetime(year + 1, 1, 1, tzinfo=tzinfo)
                if parts["month"] is None or month == 12
                else datetime(year, month + 1, 1, tzinfo=tzinfo)
            )
        elif parts["hour"] is None:
            start = datetime(year, month, day, tzinfo=tzinfo)
            end = start + timedelta(days=1)
        else:
            second = int(parts["second"] or 0)
            fraction = parts["fraction"] or ""
            micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
            start = datetime(year, month, day, int(parts["hour"]), int(parts["minute"]), second, micro, tzinfo=tzinfo)
            if fraction:
                step = timedelta(microseconds=1)
            elif parts["second"] is not None:
                step = timedelta(seconds=1)
            else:
                step = timedelta(minutes=1)
            end = start + step
        # Checked here so that matching can never overflow (9999-12-31 has no end, 0001-01-01 no local start).
        timezone.localtime(start).date() + timedelta(days=1)
        timezone.localtime(end) - timedelta(days=1)
    except (ValueError, OverflowError) as exc:
        raise SearchError(f"Malformed or out-of-range date {raw!r}: {exc}.") from None
    return DateValue(prefix, start, end)


def date_q(lookup: str, value: DateValue, *, as_date: bool = False) -> Q:
    """FHIR date matching for a point-in-time field: eq = inside the value's range, ge = from its start, gt =
    from its end, le = before its end, lt = before its start, ne = outside. ``as_date`` for a DateField."""
    start: Any = value.start
    end: Any = value.end
    if as_date:
        start = timezone.localtime(value.start).date()
        end = timezone.localtime(value.end - timedelta(microseconds=1)).date() + timedelta(days=1)
    inside = Q(**{f"{lookup}__gte": start, f"{lookup}__lt": end})
    return {
        "eq": inside,
        "ne": ~inside,
        "ge": Q(**{f"{lookup}__gte": start}),
        "gt": Q(**{f"{lookup}__gte": end}),
        "le": Q(**{f"{lookup}__lt": end}),
        "lt": Q(**{f"{lookup}__lt": start}),
    }[value.prefix]


def parse_reference(raw: str, resource_type: str = "Patient") -> int | None:
    """``123``, ``Patient/123`` or ``https://host/fhir/R4/Patient/123``; None when the id cannot exist here
    (so nothing matches). Another resource type is a 400."""
    value = raw.strip().rstrip("/")
    if "/" in value:
        parts = value.split("/")
        if parts[-2] != resource_type:
            raise SearchError(
                f"{raw!r} does not refer to a {resource_type}: give an id, {resource_type}/<id> or an absolute "
                f"{resource_type} URL."
            )
        value = parts[-1]
    return int(value) if value.isdigit() and len(value) < 18 else None


def parse_token(raw: str) -> tuple[str | None, str]:
    """``code``, ``system|code`` or ``|code`` (no system): (system or None when not given, code)."""
    if "|" in raw:
        system, code = raw.split("|", 1)
        return system, code
    return None, raw


# --- Sources and resource types ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Source:
    """One model serving one kind of resource."""

    kind: str
    model: type[models.Model]
    base: Callable[[], models.QuerySet]
    load: Callable[[Iterable[int]], dict[int, Any]]
    render: Callable[[Any], dict[str, Any]]
    make_id: Callable[[int], str]
    patient_field: str | None = None
    date_field: str | None = None
    statuses: dict[str, Q] = field(default_factory=dict)
    codes: frozenset[tuple[str, str]] = frozenset()
    category: str | None = None
    sort: tuple[str, ...] = ("pk",)

    def rows(self) -> models.QuerySet:
        """The rows searched, each annotated with its last change (for ``_lastUpdated``)."""
        return versions.with_last_changed(self.base())

    def compartment(self, patient_id: int) -> Q:
        """The rows in a patient's compartment (FHIR R4 compartmentdefinition-patient): the patient itself, or the
        rows whose subject is that patient."""
        return Q(**{self.patient_field: patient_id}) if self.patient_field else Q(pk=patient_id)

    def in_compartment(self, pk: int, patient_id: int | None) -> bool:
        return patient_id is None or self.base().filter(Q(pk=pk) & self.compartment(patient_id)).exists()

    def resource(self, obj: Any) -> dict[str, Any]:
        """The rendered resource with its version; ``obj`` comes from ``load``, which annotates the last change."""
        return versions.stamp(self.render(obj), getattr(obj, versions.CHANGED_AT, None))


@dataclass(frozen=True)
class Param:
    """A search parameter: its FHIR type, what the CapabilityStatement says of it, and how one value (one
    comma alternative) filters a source: a Q, or None when no row of that source can match."""

    type: str
    documentation: str
    apply: Callable[[Source, str], Q | None]
    definition: str | None = None


@dataclass(frozen=True)
class ResourceType:
    name: str
    sources: tuple[Source, ...]
    params: dict[str, Param]
    parse_id: Callable[[str], tuple[Source, int] | None]
    profile: str | None = None
    supported_profiles: tuple[str, ...] = ()


def _numeric_id(source: Source) -> Callable[[str], tuple[Source, int] | None]:
    def parse(resource_id: str) -> tuple[Source, int] | None:
        return (source, int(resource_id)) if resource_id.isdigit() and len(resource_id) < 18 else None

    return parse


def _load(queryset: Callable[[], models.QuerySet]) -> Callable[[Iterable[int]], dict[int, Any]]:
    def load(pks: Iterable[int]) -> dict[int, Any]:
        return {obj.pk: obj for obj in versions.with_last_changed(queryset()).filter(pk__in=list(pks))}

    return load


def _patient_param(source: Source, raw: str) -> Q | None:
    patient_id = parse_reference(raw)
    if source.patient_field is None:
        return None
    return Q(**{source.patient_field: patient_id}) if patient_id is not None else NOTHING


def _date_param(source: Source, raw: str) -> Q | None:
    if source.date_field is None:
        return None
    return date_q(source.date_field, parse_date(raw))


def _status_param(source: Source, raw: str) -> Q | None:
    _system, code = parse_token(raw)
    return source.statuses.get(code.strip())


def _code_param(source: Source, raw: str) -> Q | None:
    system, code = parse_token(raw)
    matches = any((system in (None, s)) and code.strip() == c for s, c in source.codes)
    return Q() if matches else None


def _category_param(source: Source, raw: str) -> Q | None:
    system, code = parse_token(raw)
    return Q() if system in (None, fhir.OBSERVATION_CATEGORY) and code.strip() == source.category else None


PATIENT_PARAM = Param("reference", "The patient: an id, Patient/<id> or an absolute Patient URL.", _patient_param)
# Every subject served is a patient, so ``subject`` is ``patient`` under its other name; a reference to another
# type (Group/1) is a 400, not a search that finds nothing.
SUBJECT_PARAM = Param(
    "reference",
    "The subject, always a patient here: an id, Patient/<id> or an absolute Patient URL (another type is refused).",
    _patient_param,
)


def _date(documentation: str) -> Param:
    return Param("date", documentation + " Prefixes eq (default), ne, gt, ge, lt, le.", _date_param)


def _status(documentation: str) -> Param:
    return Param("token", documentation, _status_param)


# Patient -------------------------------------------------------------------------------------------------


def _identifier_param(source: Source, raw: str) -> Q | None:
    """FHIR token matching against the MRN: ``value`` in any system, ``system|value`` in that system only,
    ``|value`` only an identifier without a system (none, unless the hospital configured an empty system),
    ``system|`` every identifier of that system."""
    system, value = parse_token(raw)
    if system is not None and system.strip() != fhir.mrn_system():
        return NOTHING
    return Q(mrn=value.strip()) if value.strip() else Q()


def _name_param(source: Source, raw: str) -> Q | None:
    value = raw.strip()
    return Q(family_name__istartswith=value) | Q(given_name__istartswith=value)


def _family_param(source: Source, raw: str) -> Q | None:
    return Q(family_name__istartswith=raw.strip())


def _gender_param(source: Source, raw: str) -> Q | None:
    _system, code = parse_token(raw)
    return Q(sex=code.strip())


def _birthdate_param(source: Source, raw: str) -> Q | None:
    return date_q("birth_date", parse_date(raw), as_date=True)


PATIENT_SOURCE = Source(
    kind="patient",
    model=Patient,
    base=lambda: Patient.objects.all(),
    load=_load(lambda: Patient.objects.all()),
    render=fhir.patient_resource,
    make_id=str,
)
PATIENT = ResourceType(
    name="Patient",
    sources=(PATIENT_SOURCE,),
    params={
        "identifier": Param(
            "token",
            "The MRN: `value`, or `system|value` with the hospital's MRN system (Patient.identifier.system).",
            _identifier_param,
        ),
        "name": Param("string", "Start of the family or given name, case-insensitive.", _name_param),
        "family": Param("string", "Start of the family name, case-insensitive.", _family_param),
        "gender": Param("token", "female | male.", _gender_param),
        "birthdate": Param("date", "The birth date. Prefixes eq (default), ne, gt, ge, lt, le.", _birthdate_param),
    },
    parse_id=_numeric_id(PATIENT_SOURCE),
)


def _statuses_from(mapping: dict[str, str], field_name: str = "status") -> dict[str, Q]:
    """Invert a model → FHIR status map into FHIR status → Q."""
    inverted: dict[str, list[str]] = defaultdict(list)
    for model_value, fhir_value in mapping.items():
        inverted[fhir_value].append(str(model_value))
    return {fhir_value: Q(**{f"{field_name}__in": values}) for fhir_value, values in inverted.items()}


# Observation ---------------------------------------------------------------------------------------------

_CURRENT_FINAL = Q(preliminary=False) & CURRENT_RESULT


def _platelets() -> models.QuerySet:
    # The laboratory's detail of HL7 results (accession, reference range, flag, facility): one query per page.
    hl7_sources = Prefetch(
        "hl7_sources",
        queryset=HL7MessageResult.objects.select_related("message").order_by("-pk"),
        to_attr="fhir_hl7_sources",
    )
    return PlateletResult.objects.select_related("order__patient", "platelet_check", "entered_by").prefetch_related(
        hl7_sources
    )


def _load_platelets(pks: Iterable[int]) -> dict[int, Any]:
    """The page's standing rows, each with the first row of its lineage, which names its Observation."""
    rows = {obj.pk: obj for obj in versions.with_last_changed(_platelets()).filter(pk__in=list(pks))}
    for head, first in platelet_versions.first_versions(rows).items():
        rows[head].fhir_first_version_id = first
    return rows


def _parse_platelet_id(pk: int) -> tuple[Source, int] | None:
    """``plt-<id>`` of any row of a lineage (its first row, or a later one a client held before the lineage was
    one Observation) → the row that stands for it; the read answers a later row's id with a redirect."""
    head = platelet_versions.head_of(pk)
    return (PLATELET_SOURCE, head) if head is not None else None


# One Observation per platelet result, whatever its corrections: the row that stands is searched and served; the
# rows it replaced are its earlier versions (interop/fhir/platelet_versions.py).
PLATELET_SOURCE = Source(
    kind="plt",
    model=PlateletResult,
    base=lambda: PlateletResult.objects.filter(superseded_by__isnull=True),
    load=_load_platelets,
    render=lambda result: fhir.platelet_observation(result, first_version_id=result.fhir_first_version_id),
    make_id=platelet_versions.observation_id,
    patient_field="order__patient",
    date_field="collected_at",
    statuses=_statuses_from(fhir.PLATELET_STATUS),
    codes=frozenset({(fhir.LOINC, fhir.PLATELET_LOINC)}),
    category="laboratory",
)


def _vitals() -> models.QuerySet:
    return VitalSignsEntry.objects.select_related("infusion__order__patient", "recorded_by")


def _vital_source(component: str) -> Source:
    codes = {(fhir.LOINC, code) for code, _display in fhir.VITAL_SIGNS[component]["codings"]}
    return Source(
        kind=f"vs-{component}",
        model=VitalSignsEntry,
        base=lambda: VitalSignsEntry.objects.all(),
        load=_load(_vitals),
        render=lambda entry: fhir.vital_sign_observation(entry, component),
        make_id=lambda pk: f"vs-{pk}-{component}",
        patient_field="infusion__order__patient",
        date_field="taken_at",
        statuses={"final": Q()},
        codes=frozenset(codes),
        category="vital-signs",
    )


VITAL_SOURCES = {component: _vital_source(component) for component in fhir.VITAL_SIGN_COMPONENTS}
WEIGHT_SOURCE = Source(
    kind="bw",
    model=WeightMeasurement,
    base=lambda: WeightMeasurement.objects.all(),
    load=_load(lambda: WeightMeasurement.objects.select_related("patient", "recorded_by")),
    render=fhir.body_weight_observation,
    make_id=lambda pk: f"bw-{pk}",
    patient_field="patient",
    date_field="measured_at",
    statuses={"final": Q()},
    codes=frozenset({(fhir.LOINC, fhir.BODY_WEIGHT_LOINC)}),
    category="vital-signs",
)


def _load_labs(pks: Iterable[int]) -> dict[int, Any]:
    """The laboratory rows of a page (every lab source shares this loader: one per model), each creatinine with the
    eGFR its derived Observation shows, worked out in one more query."""
    labs = list(versions.with_last_changed(LabResult.objects.select_related("patient")).filter(pk__in=list(pks)))
    egfrs = patient_selectors.egfr_of_results([lab for lab in labs if lab.test == LabResult.Test.CREATININE])
    for lab in labs:
        lab.fhir_egfr = egfrs.get(lab.pk)  # type: ignore[attr-defined]  # read by the eGFR render
    return {lab.pk: lab for lab in labs}


def _lab_source(test: str) -> Source:
    code = fhir.LAB_CODES[test][0]
    prefix = fhir.LAB_ID_PREFIX[test]
    return Source(
        kind=prefix,
        model=LabResult,
        base=lambda: LabResult.objects.filter(test=test),
        load=_load_labs,
        render=fhir.lab_observation,
        make_id=lambda pk: f"{prefix}-{pk}",
        patient_field="patient",
        date_field="collected_at",
        statuses={
            "entered-in-error": Q(superseded_by__isnull=False) | Q(status=LabResult.Status.ENTERED_IN_ERROR),
            "corrected": Q(superseded_by__isnull=True, status=LabResult.Status.CORRECTED),
            "final": Q(superseded_by__isnull=True, status=LabResult.Status.FINAL),
        },
        codes=frozenset({(fhir.LOINC, code)}),
        category="laboratory",
    )


# docs/clinical-rules.md §A13: creatinine, hemoglobin and ABO/Rh beside the platelet count, and the eGFR derived from
# each creatinine (one Observation per creatinine, with a dataAbsentReason where none is computed).
LAB_SOURCES = {test: _lab_source(test) for test in fhir.LAB_CODES}
EGFR_SOURCE = Source(
    kind="egfr",
    model=LabResult,
    base=lambda: LabResult.objects.filter(test=LabResult.Test.CREATININE, value_si__isnull=False),
    load=_load_labs,
    render=lambda lab: fhir.egfr_observation(lab, lab.fhir_egfr),
    make_id=lambda pk: f"egfr-{pk}",
    patient_field="patient",
    date_field="collected_at",
    statuses=LAB_SOURCES["creatinine"].statuses,
    # Not searchable by code: only an adult's eGFR carries LOINC 98979-8 (a child's bedside Schwartz value is named
    # in text), and which is which is worked out on reading, so a code search could not tell them apart.
    codes=frozenset(),
    category="laboratory",
)
_OBSERVATION_ID = re.compile(
    r"^(?:plt-(?P<plt>\d{1,17})|bw-(?P<bw>\d{1,17})|vs-(?P<vs>\d{1,17})-(?P<component>[a-z0-9-]+)"
    r"|(?P<lab>cr|hb|abo|egfr)-(?P<lab_pk>\d{1,17}))$"
)


def _parse_observation_id(resource_id: str) -> tuple[Source, int] | None:
    match = _OBSERVATION_ID.match(resource_id)
    if not match:
        return None
    if match["plt"]:
        return _parse_platelet_id(int(match["plt"]))
    if match["bw"]:
        return WEIGHT_SOURCE, int(match["bw"])
    if match["lab"] == "egfr":
        pk = int(match["lab_pk"])
        found = EGFR_SOURCE.base().filter(pk=pk).exists()
        return (EGFR_SOURCE, pk) if found else None
    if match["lab"]:
        test = next(t for t, prefix in fhir.LAB_ID_PREFIX.items() if prefix == match["lab"])
        pk = int(match["lab_pk"])
        # The prefix names the test: a creatinine read as hb-<id> is not found.
        return (LAB_SOURCES[test], pk) if LabResult.objects.filter(pk=pk, test=test).exists() else None
    source = VITAL_SOURCES.get(match["component"])
    return (source, int(match["vs"])) if source else None


OBSERVATION = ResourceType(
    name="Observation",
    sources=(PLATELET_SOURCE, *VITAL_SOURCES.values(), WEIGHT_SOURCE, *LAB_SOURCES.values(), EGFR_SOURCE),
    params={
        "patient": PATIENT_PARAM,
        "subject": SUBJECT_PARAM,
        "date": _date("Observation.effective (collection time, time taken, time weighed)."),
        "status": _status(
            "final | corrected | preliminary | entered-in-error (a platelet count's current version: withdrawn)."
        ),
        "code": Param(
            "token",
            "LOINC code, `code` or `http://loinc.org|code`: 777-3 platelets; 8310-5, 8867-4, 9279-1, 2708-6, "
            "59408-5, 85354-9 vital signs; 29463-7 body weight.",
            _code_param,
        ),
        "category": Param("token", "laboratory | vital-signs.", _category_param),
    },
    parse_id=_parse_observation_id,
    profile=fhir.PROFILE + "Observation",
    supported_profiles=tuple(
        fhir.PROFILE + name
        for name in ("vitalsigns", *(spec["profile"] for spec in fhir.VITAL_SIGNS.values()), "bodyweight")
    ),
)


# MedicationRequest ---------------------------------------------------------------------------------------


def _exported_safety_records(lookup: str, *, order_level: bool = False) -> Prefetch:
    """Overrides and documented deviations for the resources' notes, in one query per page."""
    records = SafetyRecord.objects.filter(kind__in=fhir.EXPORTED_SAFETY_KINDS).select_related("recorded_by")
    if order_level:
        records = records.filter(infusion__isnull=True)
    return Prefetch(lookup, queryset=records.order_by("at", "pk"), to_attr=fhir.EXPORTED_SAFETY_ATTR)


ORDER_SOURCE = Source(
    kind="order",
    model=Order,
    base=lambda: Order.objects.all(),
    load=_load(
        lambda: Order.objects.select_related("patient", "product", "created_by", "verified_by").prefetch_related(
            _exported_safety_records("safety_records", order_level=True)
        )
    ),
    render=fhir.medication_request,
    make_id=str,
    patient_field="patient",
    date_field="created_at",
    statuses=_statuses_from(fhir.MEDICATION_REQUEST_STATUS),
    sort=("created_at", "pk"),
)
_AUTHORED = _date("MedicationRequest.authoredOn (when the order was written).")
MEDICATION_REQUEST = ResourceType(
    name="MedicationRequest",
    sources=(ORDER_SOURCE,),
    params={
        "patient": PATIENT_PARAM,
        "subject": SUBJECT_PARAM,
        "date": _AUTHORED,
        "authoredon": _AUTHORED,
        "status": _status("draft | active (verified or in progress) | completed | cancelled."),
    },
    parse_id=_numeric_id(ORDER_SOURCE),
)


# MedicationAdministration --------------------------------------------------------------------------------

_ENDED_BY_STOP = Q(infusion__status="stopped", ended_at=F("infusion__stopped_at"))


def _segments() -> models.QuerySet:
    return (
        RateSegment.objects.filter(rate_ml_per_h__gt=0)
        .select_related("infusion__order__patient", "infusion__order__product", "infusion__product", "recorded_by")
        .prefetch_related("infusion__vial_lots", _exported_safety_records("infusion__safety_records"))
    )


SEGMENT_SOURCE = Source(
    kind="segment",
    model=RateSegment,
    base=lambda: RateSegment.objects.filter(rate_ml_per_h__gt=0),
    load=_load(_segments),
    render=fhir.medication_administration,
    make_id=str,
    patient_field="infusion__order__patient",
    date_field="started_at",
    statuses={
        "in-progress": Q(ended_at__isnull=True),
        "stopped": Q(ended_at__isnull=False) & _ENDED_BY_STOP,
        "completed": Q(ended_at__isnull=False) & ~_ENDED_BY_STOP,
    },
    sort=("started_at", "pk"),
)
_EFFECTIVE = _date("Start of MedicationAdministration.effectivePeriod (the rate segment's start).")
MEDICATION_ADMINISTRATION = ResourceType(
    name="MedicationAdministration",
    sources=(SEGMENT_SOURCE,),
    params={
        "patient": PATIENT_PARAM,
        "subject": SUBJECT_PARAM,
        "date": _EFFECTIVE,
        "effective-time": _EFFECTIVE,
        "status": _status("in-progress (the running segment) | completed | stopped (ended by stopping the infusion)."),
    },
    parse_id=_numeric_id(SEGMENT_SOURCE),
)


# Task ----------------------------------------------------------------------------------------------------


def _checks() -> models.QuerySet:
    current = PlateletResult.objects.filter(_CURRENT_FINAL).order_by("-collected_at", "-pk")
    return PlateletCheck.objects.select_related("order__patient").prefetch_related(
        Prefetch("results", queryset=current, to_attr="current_results")
    )


def _load_checks(pks: Iterable[int]) -> dict[int, Any]:
    """The page's checks, each with the Observation id of its current result (its lineage's first row)."""
    checks = {obj.pk: obj for obj in versions.with_last_changed(_checks()).filter(pk__in=list(pks))}
    current = {check.pk: check.current_results[0].pk for check in checks.values() if check.current_results}
    firsts = platelet_versions.first_versions(current.values())
    for check in checks.values():
        check.fhir_output_id = firsts[current[check.pk]] if check.pk in current else None
    return checks


def _render_task(check: PlateletCheck) -> dict[str, Any]:
    return fhir.platelet_task(check, check.fhir_output_id)  # type: ignore[attr-defined]  # set by _load_checks


CHECK_SOURCE = Source(
    kind="check",
    model=PlateletCheck,
    base=lambda: PlateletCheck.objects.all(),
    load=_load_checks,
    render=_render_task,
    make_id=str,
    patient_field="order__patient",
    date_field="due_at",
    statuses=_statuses_from(fhir.TASK_STATUS),
    sort=("due_at", "pk"),
)
TASK = ResourceType(
    name="Task",
    sources=(CHECK_SOURCE,),
    params={
        "patient": PATIENT_PARAM,
        "subject": SUBJECT_PARAM,
        "date": _date("The check's due time (Task.restriction.period.start)."),
        "status": _status("requested (scheduled) | ready (due or overdue) | completed (resulted) | cancelled."),
    },
    parse_id=_numeric_id(CHECK_SOURCE),
)


# Flag ----------------------------------------------------------------------------------------------------


def _flagged_responses() -> models.QuerySet:
    """Order responses that flag non-response: awaiting a decision, or decided. ``flagged_at`` is when the
    non-response was first flagged (its notification; the assessment time if there is none)."""
    first_flagged = (
        Notification.objects.filter(order=OuterRef("order"), kind=NotificationKind.NON_RESPONSE)
        .order_by("created_at")
        .values("created_at")[:1]
    )
    return OrderResponse.objects.filter(Q(repeat_dose_recommended=True) | ~Q(repeat_decision="")).annotate(
        flagged_at=Coalesce(Subquery(first_flagged), F("assessed_at"))
    )


FLAG_SOURCE = Source(
    kind="flag",
    model=OrderResponse,
    base=_flagged_responses,
    load=_load(lambda: _flagged_responses().select_related("order__patient", "repeat_decided_by")),
    render=lambda response: fhir.non_response_flag(response, response.flagged_at),
    make_id=str,
    patient_field="order__patient",
    date_field="flagged_at",
    statuses={"active": Q(repeat_decision=""), "inactive": ~Q(repeat_decision="")},
    sort=("flagged_at", "pk"),
)
FLAG = ResourceType(
    name="Flag",
    sources=(FLAG_SOURCE,),
    params={
        "patient": PATIENT_PARAM,
        "subject": SUBJECT_PARAM,
        "date": _date("Start of Flag.period (when non-response was first flagged)."),
        "status": _status("active (awaiting the decision) | inactive (decided)."),
    },
    parse_id=_numeric_id(FLAG_SOURCE),
)


RESOURCE_TYPES: dict[str, ResourceType] = {
    rtype.name: rtype for rtype in (PATIENT, OBSERVATION, MEDICATION_REQUEST, MEDICATION_ADMINISTRATION, TASK, FLAG)
}


# --- Read and search ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    resource: dict[str, Any]
    changed_at: datetime | None  # for ETag and Last-Modified


def read(rtype: ResourceType, resource_id: str, *, patient_id: int | None = None) -> Found | None:
    """The resource, or None when it is unknown or, for a token of one patient (``patient_id``), outside that
    patient's compartment: such a token cannot tell another patient's resource from none."""
    parsed = rtype.parse_id(resource_id)
    if parsed is None:
        return None
    source, pk = parsed
    if not source.in_compartment(pk, patient_id):
        return None
    obj = source.load([pk]).get(pk)  # each loader applies its source's restrictions (e.g. no pauses)
    if obj is None:
        return None
    return Found(source.resource(obj), getattr(obj, versions.CHANGED_AT, None))


class HistoryNotKept(Exception):
    """The resource exists but its earlier versions are not served (only platelet counts keep theirs)."""


def history(rtype: ResourceType, resource_id: str, *, patient_id: int | None = None) -> list[Found] | None:
    """Every version of a resource, oldest first, the last being what a read serves; None when it is unknown.
    Only a platelet count's Observation has versions to show (its corrections, interop/fhir/platelet_versions.py):
    the other resources are served from records whose earlier states are not rendered, so HistoryNotKept."""
    parsed = rtype.parse_id(resource_id)
    if parsed is None:
        return None
    source, pk = parsed
    if not source.in_compartment(pk, patient_id):
        return None
    if source is not PLATELET_SOURCE:
        raise HistoryNotKept(f"{rtype.name}/{resource_id}")
    head = source.load([pk]).get(pk)
    if head is None:
        return None
    lineage = platelet_versions.lineages([pk])[pk]
    return [
        Found(
            versions.stamp(fhir.platelet_observation(version.result, first_version_id=lineage[0]), version.changed_at),
            version.changed_at,
        )
        for version in platelet_versions.versions_of(head, lineage)
    ]


def _id_param(rtype: ResourceType) -> Param:
    def apply(source: Source, raw: str) -> Q | None:
        parsed = rtype.parse_id(raw.strip())
        return Q(pk=parsed[1]) if parsed is not None and parsed[0] is source else None

    return Param("token", "The resource id.", apply)


def _last_updated_param(source: Source, raw: str) -> Q | None:
    return date_q(versions.CHANGED_AT, parse_date(raw))


LAST_UPDATED_PARAM = Param(
    "date",
    "meta.lastUpdated, the record's latest change. Prefixes eq (default), ne, gt, ge, lt, le.",
    _last_updated_param,
)


def params_of(rtype: ResourceType) -> dict[str, Param]:
    return {"_id": _id_param(rtype), "_lastUpdated": LAST_UPDATED_PARAM, **rtype.params}


def strict_handling(prefer: str | None) -> bool:
    """Strict unless the ``Prefer`` header asks for ``handling=lenient`` (among other preferences, in any case)."""
    for preference in (prefer or "").replace(";", ",").split(","):
        name, _, value = preference.partition("=")
        if name.strip().lower() == "handling":
            return value.strip().strip('"').lower() != "lenient"
    return True


@dataclass
class SearchResult:
    total: int
    resources: list[dict[str, Any]]
    applied: list[tuple[str, str]]  # the parameters used, for the Bundle's links
    count: int
    page: int


def _positive_int(raw: str, name: str, minimum: int) -> int:
    value = raw.strip()
    if not value.isdigit() or int(value) < minimum:
        raise SearchError(f"{name} must be a whole number of at least {minimum}, not {raw!r}.")
    return int(value)


def paging(query: dict[str, list[str]]) -> tuple[int, int]:
    count = DEFAULT_COUNT
    page = 1
    if query.get("_count"):
        count = min(_positive_int(query["_count"][-1], "_count", 0), MAX_COUNT)
    if query.get("page"):
        page = _positive_int(query["page"][-1], "page", 1)
    return count, page


_LENIENT_HINT = "Send `Prefer: handling=lenient` to have unsupported parameters ignored."


def _param_named(rtype: ResourceType, params: dict[str, Param], name: str) -> Param:
    """The parameter that a query name asks for; a SearchError (not-supported) says why there is none."""
    base, _, modifier = name.partition(":")
    if "." in name:
        raise SearchError(
            f"Chained search parameters such as {name!r} are not supported. {_LENIENT_HINT}", "not-supported"
        )
    param = params.get(base)
    if param is None:
        supported = ", ".join([*params, "_count", "page", "_format", "_pretty"])
        raise SearchError(
            f"The search parameter {base!r} is not supported for {rtype.name} (supported: {supported}). "
            + _LENIENT_HINT,
            "not-supported",
        )
    # The one modifier served: a reference parameter's type, e.g. subject:Patient=123 (every subject is a patient).
    if modifier and not (param.type == "reference" and modifier == "Patient"):
        raise SearchError(f"The modifier ':{modifier}' of {base!r} is not supported. {_LENIENT_HINT}", "not-supported")
    return param


def _filters(
    rtype: ResourceType, query: dict[str, list[str]], strict: bool
) -> tuple[dict[Source, Q], list[tuple[str, str]]]:
    params = params_of(rtype)
    filters: dict[Source, Q] = {source: Q() for source in rtype.sources}
    applied: list[tuple[str, str]] = []
    for name, values in query.items():
        if name in PAGING_PARAMETERS or name in IGNORED_PARAMETERS:
            continue
        try:
            param = _param_named(rtype, params, name)
        except SearchError:
            if strict:
                raise
            continue  # lenient: ignored, and so left out of the Bundle's links
        for value in values:
            if "\x00" in value:
                raise SearchError(f"The value of {name!r} contains a NUL character.")
            alternatives = [alt for alt in value.split(",") if alt.strip()]
            if not alternatives:
                raise SearchError(f"Empty value for the search parameter {name!r}.")
            applied.append((name, value))
            for source in list(filters):
                combined: Q | None = None
                for alternative in alternatives:
                    q = param.apply(source, alternative)
                    if q is not None:
                        combined = q if combined is None else combined | q
                if combined is None:
                    del filters[source]
                else:
                    filters[source] &= combined
    return filters, applied


def search(
    rtype: ResourceType, query: dict[str, list[str]], *, strict: bool = True, patient_id: int | None = None
) -> SearchResult:
    """``patient_id``: a token of one patient searches that patient's compartment only, whatever it asks for."""
    count, page = paging(query)
    filters, applied = _filters(rtype, query, strict)
    if patient_id is not None:
        filters = {source: q & source.compartment(patient_id) for source, q in filters.items()}
    offset = (page - 1) * count
    keys: list[tuple[Source, int]] = []
    total = 0
    if len(rtype.sources) == 1:
        if filters:
            ((source, q),) = filters.items()
            queryset = source.rows().filter(q)
            total = queryset.count()
            if count and offset < total:
                pks = queryset.order_by(*source.sort).values_list("pk", flat=True)[offset : offset + count]
                keys = [(source, pk) for pk in pks]
    elif filters:
        by_kind = {source.kind: source for source in filters}
        parts = [
            source.rows()
            .filter(q)
            .annotate(
                fhir_date=F(source.date_field),
                fhir_kind=Value(source.kind, output_field=CharField()),
                fhir_pk=F("pk"),
            )
            .order_by()
            .values_list("fhir_date", "fhir_kind", "fhir_pk")
            for source, q in filters.items()
        ]
        union = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
        total = union.count()
        if count and offset < total:
            rows = union.order_by("fhir_date", "fhir_kind", "fhir_pk")[offset : offset + count]
            keys = [(by_kind[kind], pk) for _date, kind, pk in rows]
    return SearchResult(total, _render(keys), applied, count, page)


def _render(keys: list[tuple[Source, int]]) -> list[dict[str, Any]]:
    """Load the page's rows, one query per model (the vital-sign sources share one), in page order."""
    wanted: dict[type[models.Model], set[int]] = defaultdict(set)
    loaders: dict[type[models.Model], Callable[[Iterable[int]], dict[int, Any]]] = {}
    for source, pk in keys:
        wanted[source.model].add(pk)
        loaders[source.model] = source.load
    loaded = {model: loaders[model](pks) for model, pks in wanted.items()}
    return [source.resource(loaded[source.model][pk]) for source, pk in keys if pk in loaded[source.model]]
