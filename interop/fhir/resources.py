"""Model instances → FHIR R4 resources, as plain dicts (the application never imports a FHIR library).

One function per resource type. Resource ids are stable strings derived from primary keys:

================================  =====================================================================
resource                          id
================================  =====================================================================
Patient                           ``<patient id>``
Observation, platelet count       ``plt-<platelet result id>``, the first version's: corrections are versions
Observation, vital sign           ``vs-<vital signs entry id>-<component>``, component one of
                                  ``temperature``, ``heart-rate``, ``respiratory-rate``, ``spo2``, ``bp``
Observation, body weight          ``bw-<weight measurement id>``
MedicationRequest                 ``<order id>``
MedicationAdministration          ``<rate segment id>`` (only segments with a rate above 0 mL/h)
Task                              ``<platelet check id>``
Flag                              ``<order response id>``
================================  =====================================================================

Every resource gets ``meta.versionId`` and ``meta.lastUpdated`` from its record's history where it is served
(interop/fhir/search.py, with interop/fhir/versions.py), not here.

Codes: the platelet count's LOINC 777-3 and UCUM ``10*9/L`` are from docs/clinical-rules.md reference §5.4. The
vital-sign and body weight LOINC codes, units and profiles are not from docs/clinical-rules.md: they are the standard
codes that the FHIR R4 vital signs profile requires (https://hl7.org/fhir/R4/observation-vitalsigns.html).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from html import escape
from typing import Any

from django.conf import settings

from infusions.dosing import REGIMENS
from infusions.models import (
    Infusion,
    InfusionStatus,
    Order,
    RateSegment,
    SafetyRecord,
    SafetyRecordKind,
    VitalSignsEntry,
)
from monitoring.models import CheckStatus, OrderResponse, PlateletCheck, PlateletResult
from patients.models import LabResult, Patient, WeightMeasurement

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DOSE_RATE_TYPE = "http://terminology.hl7.org/CodeSystem/dose-rate-type"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
PROFILE = "http://hl7.org/fhir/StructureDefinition/"
# The namespace of the hospital's MRNs (Patient.identifier.system), set per hospital with IVIG_FHIR_MRN_SYSTEM
# (e.g. its MRN OID as ``urn:oid:...``): this placeholder only shows where it goes. Empty: MRNs served without one.
DEFAULT_MRN_SYSTEM = "http://hospital.example.org/mrn"

# docs/clinical-rules.md reference §5.4 (verified).
PLATELET_LOINC = "777-3"
PLATELET_DISPLAY = "Platelets [#/volume] in Blood by Automated count"
PLATELET_UNIT = "10*9/L"

# FHIR R4 vital signs profile (https://hl7.org/fhir/R4/observation-vitalsigns.html): the LOINC code each
# profile requires, its UCUM unit, and the profile's own name. Oxygen saturation carries the profile's 2708-6
# and, second, 59408-5 (by pulse oximetry, which is how the bedside measures it; US Core's pulse-ox code).
BODY_WEIGHT_LOINC = "29463-7"
BLOOD_PRESSURE_LOINC = "85354-9"
SYSTOLIC_LOINC = "8480-6"
DIASTOLIC_LOINC = "8462-4"
VITAL_SIGNS: dict[str, dict[str, Any]] = {
    "temperature": {
        "field": "temperature_c",
        "codings": [("8310-5", "Body temperature")],
        "text": "Body temperature",
        "unit": ("Cel", "Cel"),
        "profile": "bodytemp",
    },
    "heart-rate": {
        "field": "heart_rate_bpm",
        "codings": [("8867-4", "Heart rate")],
        "text": "Heart rate",
        "unit": ("/min", "/min"),
        "profile": "heartrate",
    },
    "respiratory-rate": {
        "field": "respiratory_rate_per_min",
        "codings": [("9279-1", "Respiratory rate")],
        "text": "Respiratory rate",
        "unit": ("/min", "/min"),
        "profile": "resprate",
    },
    "spo2": {
        "field": "spo2_percent",
        "codings": [
            ("2708-6", "Oxygen saturation in Arterial blood"),
            ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
        ],
        "text": "Oxygen saturation (SpO2)",
        "unit": ("%", "%"),
        "profile": "oxygensat",
    },
    "bp": {
        "field": None,  # a panel: systolic and diastolic are components
        "codings": [(BLOOD_PRESSURE_LOINC, "Blood pressure panel with all children optional")],
        "text": "Blood pressure",
        "unit": None,
        "profile": "bp",
    },
}
VITAL_SIGN_COMPONENTS = tuple(VITAL_SIGNS)

# Order status → MedicationRequest.status.
MEDICATION_REQUEST_STATUS = {
    "draft": "draft",
    "verified": "active",
    "in_progress": "active",
    "completed": "completed",
    "cancelled": "cancelled",
}
# PlateletCheck.status → Task.status (an overdue check is still "ready", with businessStatus "overdue").
TASK_STATUS = {
    CheckStatus.SCHEDULED: "requested",
    CheckStatus.DUE: "ready",
    CheckStatus.OVERDUE: "ready",
    CheckStatus.RESULTED: "completed",
    CheckStatus.CANCELLED: "cancelled",
}
FLAG_TEXT = "IVIG non-response: repeat dose recommended"
INTRAVENOUS = {"text": "Intravenous"}


# --- Small helpers -----------------------------------------------------------------------------------------


def instant(value: datetime | None) -> str | None:
    """An aware datetime as a FHIR dateTime/instant in UTC, to the second."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def number(value: Decimal | int | float) -> int | float:
    """A JSON number: 75 rather than 75.00, 0.4 rather than "0.4"."""
    decimal_value = Decimal(str(value))
    return int(decimal_value) if decimal_value == decimal_value.to_integral_value() else float(decimal_value)


def quantity(value: Decimal | int | float, unit: str, code: str | None = None) -> dict[str, Any]:
    return {"value": number(value), "unit": unit, "system": UCUM, "code": code or unit}


def reference(resource_type: str, resource_id: Any, display: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"reference": f"{resource_type}/{resource_id}"}
    if display:
        ref["display"] = display
    return ref


def patient_reference(patient: Patient) -> dict[str, Any]:
    return reference("Patient", patient.pk, patient.full_name)


def person_display(user: Any) -> str:
    return (user.get_full_name() or user.get_username()) if user is not None else ""


def loinc(codings: list[tuple[str, str]], text: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code, "display": display} for code, display in codings], "text": text}


def category(code: str, display: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": OBSERVATION_CATEGORY, "code": code, "display": display}]}]


def _drop_empty(resource: dict[str, Any]) -> dict[str, Any]:
    """FHIR forbids empty elements: leave out keys whose value is None, "" or an empty list/dict."""
    return {key: value for key, value in resource.items() if value not in (None, "", [], {})}


# --- Patient ---------------------------------------------------------------------------------------------


def mrn_system() -> str:
    return str(settings.IVIG_FHIR_MRN_SYSTEM).strip()


def patient_resource(patient: Patient) -> dict[str, Any]:
    """Identity only: MRN (identifier type MR in the hospital's MRN system), name, gender, birth date. Clinical
    status (IgA, risks) is not part of FHIR Patient."""
    return _drop_empty(
        {
            "resourceType": "Patient",
            "id": str(patient.pk),
            "identifier": [
                _drop_empty(
                    {
                        "use": "usual",
                        "type": {
                            "coding": [{"system": IDENTIFIER_TYPE, "code": "MR", "display": "Medical record number"}],
                            "text": "MRN",
                        },
                        "system": mrn_system(),
                        "value": patient.mrn,
                    }
                )
            ],
            "name": [{"use": "official", "family": patient.family_name, "given": [patient.given_name]}],
            "gender": patient.sex,  # the model's "female" | "male" are AdministrativeGender codes
            "birthDate": day(patient.birth_date),
        }
    )


# --- Observation -------------------------------------------------------------------------------------------


# FHIR ObservationStatus of the row that stands for a platelet result (interop/fhir/platelet_versions.py): a
# correction is a new row, so the row's own status is the Observation's. A superseded row is an earlier version of
# the Observation, never served as the current one; "unknown" only keeps this total.
PLATELET_STATUS = {
    PlateletResult.Status.PRELIMINARY: "preliminary",
    PlateletResult.Status.FINAL: "final",
    # R4 "corrected": modified after being final to correct an error in the result (a count, a collection time or
    # a bleeding grade); the correction's reason is in a note.
    PlateletResult.Status.CORRECTED: "corrected",
    # Withdrawn with its reason (docs/clinical-rules.md §A12): R4 "entered-in-error", withdrawn after release.
    PlateletResult.Status.ENTERED_IN_ERROR: "entered-in-error",
}


def platelet_status(result: PlateletResult) -> str:
    return PLATELET_STATUS.get(result.status, "unknown")


# HL7 table 0078 (OBX-8) flags that have the same code in FHIR's v3 ObservationInterpretation.
INTERPRETATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
INTERPRETATIONS = {
    "L": "Low",
    "H": "High",
    "LL": "Critical low",
    "HH": "Critical high",
    "N": "Normal",
    "A": "Abnormal",
    "AA": "Critical abnormal",
}
ACCESSION_TYPE = {
    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN", "display": "Accession ID"}]
}


def laboratory_source(result: PlateletResult) -> Any:
    """The HL7 result that brought this platelet count (its OBX as sent, with its message), or None for a typed one.
    From ``fhir_hl7_sources`` where the loader prefetched it."""
    sources = getattr(result, "fhir_hl7_sources", None)
    if sources is None:
        sources = list(result.hl7_sources.select_related("message").order_by("-pk")[:1])
    return sources[0] if sources else None


def _laboratory_detail(source: Any) -> dict[str, Any]:
    """What the laboratory said beside the value: its accession (the sample, OBR-3), the specimen, the reference
    range (OBX-7 as written) and its flag (OBX-8), and who performed it (the sending facility, MSH-4)."""
    detail: dict[str, Any] = {}
    laboratory = source.message.sending_facility or source.message.sending_application or "Laboratory (HL7)"
    detail["performer"] = [{"display": f"{laboratory} (laboratory)"}]
    if source.specimen_id:
        # Stored as HL7's entity identifier, "number^issuing system": the number is the value, the system its issuer.
        number, _, issuer = source.specimen_id.partition("^")
        accession: dict[str, Any] = {"type": ACCESSION_TYPE, "value": number}
        if issuer:
            accession["assigner"] = {"display": issuer}
        detail["identifier"] = [accession]
        specimen_accession = {key: value for key, value in accession.items() if key != "type"}
        detail["contained"] = [
            {"resourceType": "Specimen", "id": "specimen", "accessionIdentifier": specimen_accession}
        ]
        detail["specimen"] = {"reference": "#specimen"}
    if source.reference_range:
        detail["referenceRange"] = [{"text": source.reference_range}]
    flag = INTERPRETATIONS.get(source.abnormal_flag)
    if flag:
        detail["lab_interpretation"] = {
            "coding": [{"system": INTERPRETATION_SYSTEM, "code": source.abnormal_flag, "display": flag}]
        }
    return detail


def platelet_observation(result: PlateletResult, *, first_version_id: int | None = None) -> dict[str, Any]:
    """One version of a platelet result's Observation: ``result`` is the row standing then (the current one, or a
    historical instance), ``first_version_id`` the first row of its lineage, which names the Observation
    (interop/fhir/platelet_versions.py; the row's own id when none is given). ``result.order.patient`` should be
    select_related. A laboratory's result carries the laboratory's detail (its accession, specimen, reference range
    and flag) and the laboratory as performer, whoever's account posted it."""
    notes = []
    if result.change_reason and result.status == PlateletResult.Status.CORRECTED:
        notes.append({"text": f"Corrected: {result.change_reason}"})
    elif result.change_reason and result.status == PlateletResult.Status.ENTERED_IN_ERROR:
        notes.append({"text": f"Entered in error: {result.change_reason}"})
    if result.bleeding:
        grade = f" (WHO grade {result.bleeding_who_grade})" if result.bleeding_who_grade is not None else ""
        notes.append({"text": f"New bleeding at this assessment{grade}."})
    check = result.platelet_check
    if check is not None:
        notes.append({"text": f"Result of the {check.get_label_display()} platelet check (Task/{check.pk})."})
    interpretation = []
    source = laboratory_source(result) if result.source == PlateletResult.Source.HL7 else None
    detail = _laboratory_detail(source) if source is not None else {}
    if "lab_interpretation" in detail:
        interpretation.append(detail.pop("lab_interpretation"))
    if result.category:
        interpretation.append({"text": f"IWG response category: {result.get_category_display()}"})
    performer = detail.pop("performer", None)
    if performer is None:
        performer = (
            [{"display": person_display(result.entered_by)}]
            if result.entered_by_id is not None
            else [{"display": "Laboratory (HL7)"}]
            if result.source == PlateletResult.Source.HL7
            else None
        )
    return _drop_empty(
        {
            "resourceType": "Observation",
            "id": f"plt-{first_version_id or result.pk}",
            "contained": detail.get("contained"),
            "identifier": detail.get("identifier"),
            "status": platelet_status(result),
            "category": category("laboratory", "Laboratory"),
            "code": loinc([(PLATELET_LOINC, PLATELET_DISPLAY)], "Platelet count"),
            "subject": patient_reference(result.order.patient),
            "effectiveDateTime": instant(result.collected_at),
            "issued": instant(result.created_at),
            "performer": performer,
            "valueQuantity": quantity(result.platelet_count, PLATELET_UNIT),
            "interpretation": interpretation or None,
            "specimen": detail.get("specimen"),
            "referenceRange": detail.get("referenceRange"),
            "note": notes,
        }
    )


def vital_sign_observation(entry: VitalSignsEntry, component: str) -> dict[str, Any]:
    """One vital sign of a set. ``entry.infusion.order.patient`` should be select_related."""
    spec = VITAL_SIGNS[component]
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"vs-{entry.pk}-{component}",
        "meta": {"profile": [PROFILE + "vitalsigns", PROFILE + spec["profile"]]},
        "status": "final",
        "category": category("vital-signs", "Vital Signs"),
        "code": loinc(spec["codings"], spec["text"]),
        "subject": patient_reference(entry.infusion.order.patient),
        "effectiveDateTime": instant(entry.taken_at),
        "performer": [{"display": person_display(entry.recorded_by)}],
    }
    if spec["field"] is not None:
        unit, code = spec["unit"]
        resource["valueQuantity"] = quantity(getattr(entry, spec["field"]), unit, code)
    else:
        resource["component"] = [
            {
                "code": loinc([(SYSTOLIC_LOINC, "Systolic blood pressure")], "Systolic blood pressure"),
                "valueQuantity": quantity(entry.systolic_bp_mmhg, "mm[Hg]"),
            },
            {
                "code": loinc([(DIASTOLIC_LOINC, "Diastolic blood pressure")], "Diastolic blood pressure"),
                "valueQuantity": quantity(entry.diastolic_bp_mmhg, "mm[Hg]"),
            },
        ]
    resource["note"] = [{"text": f"Taken during day {entry.infusion.day_number} of order #{entry.infusion.order_id}."}]
    return _drop_empty(resource)


def body_weight_observation(weight: WeightMeasurement) -> dict[str, Any]:
    """``weight.patient`` should be select_related."""
    return _drop_empty(
        {
            "resourceType": "Observation",
            "id": f"bw-{weight.pk}",
            "meta": {"profile": [PROFILE + "vitalsigns", PROFILE + "bodyweight"]},
            "status": "final",
            "category": category("vital-signs", "Vital Signs"),
            "code": loinc([(BODY_WEIGHT_LOINC, "Body weight")], "Body weight"),
            "subject": patient_reference(weight.patient),
            "effectiveDateTime": instant(weight.measured_at),
            "performer": [{"display": person_display(weight.recorded_by)}] if weight.recorded_by_id else None,
            "valueQuantity": quantity(weight.weight_kg, "kg"),
        }
    )


# docs/clinical-rules.md §A13: the laboratory values kept beside the platelet count, as stored (SI units).
LAB_CODES = {
    "creatinine": ("14682-9", "Creatinine [Moles/volume] in Serum or Plasma", "umol/L"),
    "hemoglobin": ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/L"),
    "blood_group": ("882-1", "ABO and Rh group [Type] in Blood", None),
}
# The id prefix of each test's Observations (one resource kind per test, as the vital signs have).
LAB_ID_PREFIX = {"creatinine": "cr", "hemoglobin": "hb", "blood_group": "abo"}


def lab_status(lab: LabResult) -> str:
    """As the platelet results map: a superseded or withdrawn value is entered-in-error, a correction corrected."""
    if lab.superseded_by_id is not None or lab.status == LabResult.Status.ENTERED_IN_ERROR:
        return "entered-in-error"
    return "corrected" if lab.status == LabResult.Status.CORRECTED else "final"


def lab_observation(lab: LabResult) -> dict[str, Any]:
    """A creatinine, hemoglobin or ABO/Rh value (``lab.patient`` should be select_related). The value is the stored
    SI one; the value and unit as sent are in a note."""
    code, display, unit = LAB_CODES[lab.test]
    value: dict[str, Any] = (
        {"valueCodeableConcept": {"text": lab.blood_group}}
        if unit is None
        else {"valueQuantity": quantity(lab.value_si if lab.value_si is not None else 0, unit)}
    )
    sent = f"As sent: {lab.value_sent} {lab.unit_sent}".strip()
    return _drop_empty(
        {
            "resourceType": "Observation",
            "id": f"{LAB_ID_PREFIX[lab.test]}-{lab.pk}",
            "status": lab_status(lab),
            "category": category("laboratory", "Laboratory"),
            "code": loinc([(code, display)], display),
            "subject": patient_reference(lab.patient),
            "effectiveDateTime": instant(lab.collected_at),
            **value,
            "note": [{"text": sent}] + ([{"text": lab.change_reason}] if lab.change_reason else []),
        }
    )


# The eGFR derived from each creatinine (§A13), by the equation that gave it. LOINC 98979-8 is the CKD-EPI 2021
# eGFR; a bedside Schwartz value is named in text only (docs/api.md "FHIR": no code was verified for it).
EGFR_CKD_EPI_2021 = (
    "98979-8",
    "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma or Blood by Creatinine-based "
    "formula (CKD-EPI 2021)",
)
EGFR_UNIT = "mL/min/{1.73_m2}"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"


def egfr_observation(lab: LabResult, egfr: Any) -> dict[str, Any]:
    """The eGFR worked out from a creatinine (``patients.lab_rules.egfr``), derived from its Observation. None
    computed (under 1 year, a child without a height) is said with a dataAbsentReason."""
    equation = getattr(egfr, "equation", None)
    if equation == "ckd_epi_2021":
        code = loinc([EGFR_CKD_EPI_2021], "eGFR (CKD-EPI 2021)")
    elif equation == "bedside_schwartz":
        code = {"text": "eGFR (bedside Schwartz)"}
    else:
        code = {"text": "eGFR"}
    value = getattr(egfr, "value", None)
    if value is not None:
        shown: dict[str, Any] = {"valueQuantity": quantity(value, "mL/min/1.73 m2", EGFR_UNIT)}
    else:
        reason = "not-applicable" if equation is None else "unknown"
        shown = {"dataAbsentReason": {"coding": [{"system": DATA_ABSENT_REASON, "code": reason}]}}
    not_reliable = getattr(egfr, "not_reliable", "")
    why_none = "no eGFR under 1 year" if equation is None else "no height recorded for the bedside Schwartz equation"
    notes = [{"text": f"Not reliable: {not_reliable}"}] if not_reliable else []
    if value is None:
        notes.append({"text": why_none})
    return _drop_empty(
        {
            "resourceType": "Observation",
            "id": f"egfr-{lab.pk}",
            "status": lab_status(lab),
            "category": category("laboratory", "Laboratory"),
            "code": code,
            "subject": patient_reference(lab.patient),
            "effectiveDateTime": instant(lab.collected_at),
            **shown,
            "derivedFrom": [{"reference": f"Observation/{LAB_ID_PREFIX['creatinine']}-{lab.pk}"}],
            "note": notes,
        }
    )


# --- MedicationRequest -------------------------------------------------------------------------------------


def _dose_rate_type(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": DOSE_RATE_TYPE, "code": code, "display": display}]}


# docs/clinical-rules.md §A8: overrides and documented deviations are exported. As R4 Annotations in ``note``: the
# author, the time and the text are all an Annotation holds, and every reader shows notes.
EXPORTED_SAFETY_KINDS = (SafetyRecordKind.OVERRIDE, SafetyRecordKind.DOCUMENTED_DEVIATION)
# The attribute the FHIR loaders prefetch the exported records into (interop/fhir/search.py).
EXPORTED_SAFETY_ATTR = "fhir_safety_records"


def exported_safety_records(owner: Order | Infusion) -> list[SafetyRecord]:
    """The owner's overrides and documented deviations: the order's own (not bound to one infusion), or the
    infusion's. Prefetched into EXPORTED_SAFETY_ATTR by the loaders; read here when a caller did not."""
    prefetched = getattr(owner, EXPORTED_SAFETY_ATTR, None)
    if prefetched is not None:
        return list(prefetched)
    records = SafetyRecord.objects.filter(kind__in=EXPORTED_SAFETY_KINDS).select_related("recorded_by")
    if isinstance(owner, Order):
        return list(records.filter(order=owner, infusion__isnull=True).order_by("at", "pk"))
    return list(records.filter(infusion=owner).order_by("at", "pk"))


def safety_note(record: SafetyRecord) -> dict[str, Any]:
    if record.kind == SafetyRecordKind.OVERRIDE:
        text = f"override {record.code}: {record.reason}"
    else:
        text = f"documented deviation {record.code}: {record.message}"
    return {"authorString": record.recorded_by.get_username(), "time": instant(record.at), "text": text}


def medication_request(order: Order) -> dict[str, Any]:
    """The order as prescribed, with its frozen working. ``patient``, ``product``, ``created_by`` should be
    select_related. The product is text only: no RxNorm/SNOMED code is invented for it."""
    regimen = REGIMENS[order.regimen]
    weight_text = f"dosing weight {number(order.dosing_weight_kg)} kg ({order.dosing_weight_basis})"
    dosage_text = (
        f"{regimen.label}: {number(order.rounded_dose_per_day_g)} g IV per day, {order.days} "
        f"day{'s' if order.days != 1 else ''} from {order.first_infusion_on:%Y-%m-%d} "
        f"({number(regimen.g_per_kg_per_day)} g/kg × {weight_text} = {number(order.dose_per_day_g)} g, "
        f"rounded to {number(order.rounded_dose_per_day_g)} g; course total {number(order.total_dose_g)} g)."
    )
    notes = [{"text": order.notes}] if order.notes else []
    if order.verified_by_id is not None:
        notes.append({"text": f"Verified by {person_display(order.verified_by)} at {instant(order.verified_at)}."})
    notes += [safety_note(record) for record in exported_safety_records(order)]
    return _drop_empty(
        {
            "resourceType": "MedicationRequest",
            "id": str(order.pk),
            "status": MEDICATION_REQUEST_STATUS[order.status],
            "statusReason": {"text": order.cancel_reason} if order.cancel_reason else None,
            "intent": "order",
            "priority": "stat" if order.emergency else "routine",
            "medicationCodeableConcept": {"text": order.product.name},
            "subject": patient_reference(order.patient),
            "authoredOn": instant(order.created_at),
            "requester": {"display": person_display(order.created_by)},
            "reasonCode": [{"text": "Immune thrombocytopenia (ITP)"}],
            "note": notes,
            "dosageInstruction": [
                {
                    "sequence": 1,
                    "text": dosage_text,
                    "timing": {
                        "repeat": {
                            "boundsPeriod": {"start": day(order.first_infusion_on)},
                            "count": order.days,
                            "frequency": 1,
                            "period": 1,
                            "periodUnit": "d",
                        }
                    },
                    "route": INTRAVENOUS,
                    "doseAndRate": [
                        {
                            "type": _dose_rate_type("ordered", "Ordered"),
                            "doseQuantity": quantity(regimen.g_per_kg_per_day, "g/kg"),
                        },
                        {
                            "type": _dose_rate_type("calculated", "Calculated"),
                            "doseQuantity": quantity(order.rounded_dose_per_day_g, "g"),
                        },
                    ],
                }
            ],
            "dispenseRequest": {"quantity": quantity(order.total_dose_g, "g")},
            "priorPrescription": (
                reference("MedicationRequest", order.previous_order_id) if order.previous_order_id else None
            ),
        }
    )


# --- MedicationAdministration ------------------------------------------------------------------------------


def administration_status(segment: RateSegment) -> str:
    """``in-progress`` for the open segment; ``stopped`` for the segment that the infusion's stop ended;
    ``completed`` otherwise (ended by a rate change, a pause or the completion)."""
    if segment.ended_at is None:
        return "in-progress"
    infusion = segment.infusion
    if infusion.status == InfusionStatus.STOPPED and infusion.stopped_at == segment.ended_at:
        return "stopped"
    return "completed"


SEGMENT_REASON_TEXT = {"start": "Started", "titration": "Rate changed", "resume": "Resumed", "pause": "Paused"}


def medication_administration(segment: RateSegment) -> dict[str, Any]:
    """One running stretch of an infusion at one pump rate. Pauses (0 mL/h segments) are not served: a pause
    is the gap between two administrations.

    R4 MedicationAdministration has no lot element: each vial lot of the infusion is a contained Medication
    with ``batch.lotNumber`` (and ``expirationDate``), referenced from ``supportingInformation``, and the lots
    are repeated in ``note`` for readers that ignore contained resources.

    The infusion's overrides and documented deviations are notes (each of the infusion's administrations carries
    them all). ``infusion__order__{patient,product}``, ``infusion__product`` and ``recorded_by`` should be
    select_related and ``infusion__vial_lots`` and the exported safety records prefetched. The medication is the
    product the day was given with (``Infusion.given_product``).
    """
    infusion = segment.infusion
    order = infusion.order
    # The product the day was given with: a course's product may change mid-course (§A9 "Courses that change").
    product_name = infusion.given_product.name
    # Each lot once: a lot has a row per physical vial given (§A10 vial_mismatch).
    lots = list({(lot.lot_number, lot.expiry_date): lot for lot in infusion.vial_lots.all()}.values())
    contained = [
        _drop_empty(
            {
                "resourceType": "Medication",
                "id": f"lot{index}",
                "code": {"text": product_name},
                "batch": _drop_empty({"lotNumber": lot.lot_number, "expirationDate": day(lot.expiry_date)}),
            }
        )
        for index, lot in enumerate(lots, start=1)
    ]
    lot_text = ", ".join(
        lot.lot_number + (f" (expires {lot.expiry_date:%Y-%m-%d})" if lot.expiry_date else "") for lot in lots
    )
    rate = number(segment.rate_ml_per_h)
    status = administration_status(segment)
    return _drop_empty(
        {
            "resourceType": "MedicationAdministration",
            "id": str(segment.pk),
            "contained": contained,
            "status": status,
            "statusReason": [{"text": infusion.stop_reason}] if status == "stopped" and infusion.stop_reason else None,
            "medicationCodeableConcept": {"text": product_name},
            "subject": patient_reference(order.patient),
            "supportingInformation": [{"reference": f"#lot{index}"} for index in range(1, len(lots) + 1)],
            "effectivePeriod": _drop_empty({"start": instant(segment.started_at), "end": instant(segment.ended_at)}),
            "performer": [{"actor": {"display": person_display(segment.recorded_by)}}],
            "request": reference("MedicationRequest", order.pk),
            "note": ([{"text": f"Lots: {lot_text}"}] if lot_text else [])
            + [safety_note(record) for record in exported_safety_records(infusion)],
            "dosage": {
                "text": (
                    f"Day {infusion.day_number} of {order.days} of order #{order.pk}: "
                    f"{SEGMENT_REASON_TEXT.get(segment.reason, segment.reason)} at {rate} mL/h."
                ),
                "route": INTRAVENOUS,
                "rateQuantity": quantity(segment.rate_ml_per_h, "mL/h"),
            },
        }
    )


# --- Task --------------------------------------------------------------------------------------------------


def platelet_task(check: PlateletCheck, current_result_id: int | None = None) -> dict[str, Any]:
    """One scheduled platelet count. The due time is ``restriction.period.start`` (when fulfilment is sought);
    ``executionPeriod`` is when it was done (sample collected → result recorded). ``current_result_id``: the id
    naming the Observation of the check's current final result (its lineage's first row), the Task's output.
    ``order__patient`` should be select_related."""
    status = TASK_STATUS[check.status]
    output = None
    if check.status == CheckStatus.RESULTED and current_result_id is not None:
        output = [
            {
                "type": {"text": "Platelet count"},
                "valueReference": reference("Observation", f"plt-{current_result_id}"),
            }
        ]
    execution = None
    if check.status == CheckStatus.RESULTED:
        execution = _drop_empty({"start": instant(check.collected_at), "end": instant(check.resulted_at)})
    label = check.get_label_display()
    return _drop_empty(
        {
            "resourceType": "Task",
            "id": str(check.pk),
            "basedOn": [reference("MedicationRequest", check.order_id)],
            "status": status,
            "businessStatus": {"text": check.status},
            "intent": "order",
            "code": {"text": f"Platelet count {label}"},
            "description": (
                f"Platelet count due {label} after the end of the first infusion of order #{check.order_id}."
            ),
            "for": patient_reference(check.order.patient),
            "authoredOn": instant(check.created_at),
            "lastModified": instant(check.updated_at),
            "executionPeriod": execution,
            "restriction": {"period": {"start": instant(check.due_at)}},
            "output": output,
        }
    )


# --- Flag --------------------------------------------------------------------------------------------------


def flag_status(response: OrderResponse) -> str:
    """``active`` while the repeat dose awaits the hematologist's decision, ``inactive`` once decided."""
    return "inactive" if response.repeat_decision else "active"


def non_response_flag(response: OrderResponse, flagged_at: datetime | None = None) -> dict[str, Any]:
    """``flagged_at``: when the non-response was first flagged (the search annotates it from the non-response
    notification; ``assessed_at`` otherwise). ``order__patient`` should be select_related."""
    order = response.order
    start = flagged_at or response.assessed_at
    end = response.repeat_decided_at if response.repeat_decision else None
    if response.repeat_decision:
        verb = {"accept": "accepted", "decline": "declined"}.get(response.repeat_decision, response.repeat_decision)
        decision = f"Repeat dose {verb} by {person_display(response.repeat_decided_by)}"
        if response.repeat_decision_reason:
            decision += f": {response.repeat_decision_reason}"
        if response.repeat_order_id:
            decision += f" (repeat order MedicationRequest/{response.repeat_order_id})"
    else:
        decision = "Awaiting the hematologist's decision: accept a repeat 1 g/kg or decline with a reason."
    summary = f"No response to IVIG order #{order.pk}. {decision}"
    return _drop_empty(
        {
            "resourceType": "Flag",
            "id": str(response.pk),
            "text": {
                "status": "generated",
                "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{escape(summary, quote=False)}</p></div>',
            },
            "status": flag_status(response),
            "category": [{"coding": [{"system": FLAG_CATEGORY, "code": "clinical", "display": "Clinical"}]}],
            "code": {"text": FLAG_TEXT},
            "subject": patient_reference(order.patient),
            "period": _drop_empty({"start": instant(start), "end": instant(end) if end else None}),
        }
    )
