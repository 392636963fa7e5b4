"""FHIR R4 mappings: codes, units, numbers and statuses of each resource type, each parsed with fhir.resources'
R4B model (pydantic: types, cardinalities, required elements and value sets it binds) and with fhirclient's model,
generated from R4 4.0.1 itself (an element R4 does not have, or of another type, is refused)."""

from __future__ import annotations

from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient as FHIRPatient
from fhir.resources.R4B.task import Task
from fhirclient.models import fhirelementfactory as r4_resource

from infusions import services as infusion_services
from infusions.models import RateSegment
from monitoring.models import CheckStatus, OrderResponse, PlateletCheck, PlateletResult
from monitoring.services import decide_repeat_dose, record_platelet_result
from tests.factories import FULL_CHECKLIST, NORMAL_VITALS, PatientFactory, day_vials, given_order, verified_order

pytestmark = pytest.mark.db

BASE = "/fhir/R4/"
UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
MODELS = {
    "Bundle": Bundle,
    "Flag": Flag,
    "MedicationAdministration": MedicationAdministration,
    "MedicationRequest": MedicationRequest,
    "Observation": Observation,
    "Patient": FHIRPatient,
    "Task": Task,
}


def get(api, path: str) -> dict:
    """GET a resource or Bundle, assert 200 and parse it (and each entry) with its R4B model and as R4 4.0.1."""
    response = api.get(BASE + path)
    assert response.status_code == 200, response.content
    body = response.json()
    MODELS[body["resourceType"]].model_validate(body)
    for entry in body.get("entry", []):
        MODELS[entry["resource"]["resourceType"]].model_validate(entry["resource"])
    r4_resource.FHIRElementFactory.instantiate(body["resourceType"], body)  # strict: raises FHIRValidationError
    return body


def resources(api, path: str) -> list[dict]:
    return [entry["resource"] for entry in get(api, path).get("entry", [])]


def utc(moment) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def dose_and_rate(resource: dict) -> dict[str, dict]:
    (dosage,) = resource["dosageInstruction"]
    return {d["type"]["coding"][0]["code"]: d["doseQuantity"] for d in dosage["doseAndRate"]}


@pytest.fixture
def api(client_for, nurse):
    return client_for(nurse)


@pytest.fixture
def order(db, hematologist, pharmacist, nurse):
    """docs/clinical-rules.md reference §9.1 case 1 (male, 178 cm, 82 kg, Gamunex-C, 1 g/kg once); first infusion
    ended 200 h ago."""
    return given_order(prescriber=hematologist, verifier=pharmacist, nurse=nurse, completed_hours_ago=200)


def result(order, label, count, hours, nurse, **kwargs):
    first = order.infusions.get(day_number=1)
    return record_platelet_result(
        check_id=PlateletCheck.objects.get(order=order, label=label).pk,
        platelet_count=count,
        collected_at=first.started_at + timedelta(hours=hours),
        user=nurse,
        **kwargs,
    )


# --- Patient -----------------------------------------------------------------------------------------------


def test_patient_identity(api, order, settings) -> None:
    settings.IVIG_FHIR_MRN_SYSTEM = "urn:oid:2.16.840.1.113883.3.9999.1"  # the hospital's MRN namespace
    patient = order.patient
    body = get(api, f"Patient/{patient.pk}")
    assert body["identifier"] == [
        {
            "use": "usual",
            "type": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                        "code": "MR",
                        "display": "Medical record number",
                    }
                ],
                "text": "MRN",
            },
            "system": "urn:oid:2.16.840.1.113883.3.9999.1",
            "value": patient.mrn,
        }
    ]
    assert body["name"] == [{"use": "official", "family": patient.family_name, "given": ["Alex"]}]
    assert (body["gender"], body["birthDate"]) == ("male", "1980-01-01")


# --- Observation -------------------------------------------------------------------------------------------


def test_a_platelet_count_has_loinc_777_3_and_ucum_10_9_per_litre(api, order, nurse) -> None:
    stored = result(order, "24h", 41, 24, nurse)
    body = get(api, f"Observation/plt-{stored.pk}")
    assert body["code"]["coding"] == [
        {"system": LOINC, "code": "777-3", "display": "Platelets [#/volume] in Blood by Automated count"}
    ]
    assert body["valueQuantity"] == {"value": 41, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"}
    assert body["category"][0]["coding"][0]["code"] == "laboratory"
    assert body["status"] == "final"
    assert body["subject"]["reference"] == f"Patient/{order.patient_id}"
    assert body["effectiveDateTime"] == utc(stored.collected_at)
    assert body["interpretation"] == [{"text": "IWG response category: Response"}]


def test_a_preliminary_laboratory_result_is_preliminary(api, order) -> None:
    stored = result(order, "48h", 60, 48, None, preliminary=True, source=PlateletResult.Source.HL7)
    body = get(api, f"Observation/plt-{stored.pk}")
    assert body["status"] == "preliminary"
    assert body["performer"] == [{"display": "Laboratory (HL7)"}]
    assert PlateletCheck.objects.get(pk=stored.platelet_check_id).status != CheckStatus.RESULTED


def test_a_set_of_vital_signs_gives_five_observations_of_the_vital_signs_profile(api, order) -> None:
    entry = order.infusions.get(day_number=1).vitals.get()
    observations = {
        o["id"]: o
        for o in resources(
            api, f"Observation?patient={order.patient_id}&category=vital-signs&code=8310-5,8867-4,9279-1,2708-6,85354-9"
        )
    }
    assert sorted(observations) == sorted(
        f"vs-{entry.pk}-{c}" for c in ("temperature", "heart-rate", "respiratory-rate", "spo2", "bp")
    )

    def coded(component):
        o = observations[f"vs-{entry.pk}-{component}"]
        assert o["status"] == "final"
        assert o["category"][0]["coding"][0] == {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs",
            "display": "Vital Signs",
        }
        assert o["meta"]["profile"][0] == "http://hl7.org/fhir/StructureDefinition/vitalsigns"
        assert o["effectiveDateTime"] == utc(entry.taken_at)
        return [c["code"] for c in o["code"]["coding"]], o.get("valueQuantity")

    assert coded("temperature") == (["8310-5"], {"value": 36.8, "unit": "Cel", "system": UCUM, "code": "Cel"})
    assert coded("heart-rate") == (["8867-4"], {"value": 72, "unit": "/min", "system": UCUM, "code": "/min"})
    assert coded("respiratory-rate") == (["9279-1"], {"value": 16, "unit": "/min", "system": UCUM, "code": "/min"})
    assert coded("spo2") == (["2708-6", "59408-5"], {"value": 98, "unit": "%", "system": UCUM, "code": "%"})
    assert coded("bp") == (["85354-9"], None)
    components = observations[f"vs-{entry.pk}-bp"]["component"]
    assert [(c["code"]["coding"][0]["code"], c["valueQuantity"]) for c in components] == [
        ("8480-6", {"value": 120, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"}),
        ("8462-4", {"value": 75, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"}),
    ]


def test_a_weighing_is_a_body_weight_observation(api, order) -> None:
    weight = order.weight_measurement
    body = get(api, f"Observation/bw-{weight.pk}")
    assert body["code"]["coding"] == [{"system": LOINC, "code": "29463-7", "display": "Body weight"}]
    assert body["valueQuantity"] == {"value": 82, "unit": "kg", "system": UCUM, "code": "kg"}
    assert body["meta"]["profile"][1] == "http://hl7.org/fhir/StructureDefinition/bodyweight"


# --- MedicationRequest -------------------------------------------------------------------------------------


def test_case_1_order_has_the_ordered_and_calculated_doses(api, db, hematologist, pharmacist) -> None:
    """docs/clinical-rules.md reference §9.1 case 1: 1 g/kg ordered; dosing weight 76.7 kg → 76.7 g → 75 g a day."""
    order = verified_order(prescriber=hematologist, verifier=pharmacist)
    body = get(api, f"MedicationRequest/{order.pk}")
    assert dose_and_rate(body) == {
        "ordered": {"value": 1, "unit": "g/kg", "system": UCUM, "code": "g/kg"},
        "calculated": {"value": 75, "unit": "g", "system": UCUM, "code": "g"},
    }
    (dosage,) = body["dosageInstruction"]
    assert dosage["doseAndRate"][0]["type"]["coding"][0]["system"] == (
        "http://terminology.hl7.org/CodeSystem/dose-rate-type"
    )
    assert dosage["timing"]["repeat"] == {
        "boundsPeriod": {"start": order.first_infusion_on.isoformat()},
        "count": 1,
        "frequency": 1,
        "period": 1,
        "periodUnit": "d",
    }
    assert "dosing weight 76.71 kg (adjusted)" in dosage["text"]
    assert (body["status"], body["intent"]) == ("active", "order")
    assert body["medicationCodeableConcept"] == {"text": "Gamunex-C"}
    assert body["requester"]["display"] == hematologist.get_full_name()
    assert body["dispenseRequest"]["quantity"]["value"] == 75


def test_a_five_day_course_orders_0_4_g_per_kg_for_five_days(api, db, hematologist, pharmacist) -> None:
    order = verified_order(regimen="five_days_0_4g_per_kg", prescriber=hematologist, verifier=pharmacist)
    body = get(api, f"MedicationRequest/{order.pk}")
    doses = dose_and_rate(body)
    assert doses["ordered"]["value"] == 0.4
    assert doses["calculated"]["value"] == float(order.rounded_dose_per_day_g)
    assert body["dosageInstruction"][0]["timing"]["repeat"]["count"] == 5


@pytest.mark.parametrize(
    "status, fhir_status",
    [("draft", "draft"), ("verified", "active"), ("in_progress", "active"), ("completed", "completed")],
)
def test_order_statuses_map_to_medication_request_statuses(api, db, hematologist, pharmacist, status, fhir_status):
    order = verified_order(prescriber=hematologist, verifier=pharmacist)
    type(order).objects.filter(pk=order.pk).update(status=status)
    assert get(api, f"MedicationRequest/{order.pk}")["status"] == fhir_status


def test_a_cancelled_order_is_cancelled_with_its_reason(api, db, hematologist, pharmacist) -> None:
    order = verified_order(prescriber=hematologist, verifier=pharmacist)
    infusion_services.cancel_order(order_id=order.pk, user=hematologist, reason="Platelets recovered")
    body = get(api, f"MedicationRequest/{order.pk}")
    assert (body["status"], body["statusReason"]) == ("cancelled", {"text": "Platelets recovered"})


# --- MedicationAdministration ------------------------------------------------------------------------------


def test_each_running_rate_segment_is_an_administration(api, db, hematologist, pharmacist, nurse) -> None:
    order = verified_order(prescriber=hematologist, verifier=pharmacist)
    infusion = order.infusions.get()
    t0 = timezone.now() - timedelta(hours=3)
    infusion_services.record_vitals(infusion_id=infusion.pk, user=nurse, values=NORMAL_VITALS, taken_at=t0)
    expiry = timezone.localdate() + timedelta(days=200)
    infusion_services.start_infusion(
        infusion_id=infusion.pk,
        user=nurse,
        checklist=FULL_CHECKLIST,
        vials=day_vials(infusion, lots=["LOT-A1", "LOT-B2"], expiry=expiry),
        started_at=t0 + timedelta(minutes=5),
    )
    infusion_services.change_rate(
        infusion_id=infusion.pk, user=nurse, rate_ml_per_h=Decimal("92.1"), changed_at=t0 + timedelta(minutes=35)
    )
    infusion_services.pause_infusion(infusion_id=infusion.pk, user=nurse, paused_at=t0 + timedelta(minutes=50))
    infusion_services.resume_infusion(
        infusion_id=infusion.pk, user=nurse, rate_ml_per_h=Decimal("60"), resumed_at=t0 + timedelta(minutes=60)
    )

    running = resources(api, f"MedicationAdministration?patient={order.patient_id}")
    assert [(a["status"], a["dosage"]["rateQuantity"]["value"]) for a in running] == [
        ("completed", 46),
        ("completed", 92.1),
        ("in-progress", 60),
    ]
    first, _second, current = running
    assert first["dosage"]["rateQuantity"] == {"value": 46, "unit": "mL/h", "system": UCUM, "code": "mL/h"}
    assert first["request"] == {"reference": f"MedicationRequest/{order.pk}"}
    assert first["medicationCodeableConcept"] == {"text": "Gamunex-C"}
    assert first["effectivePeriod"]["end"] == utc(t0 + timedelta(minutes=35))
    assert "end" not in current["effectivePeriod"]
    # Lot numbers: contained Medication batches referenced from supportingInformation, and a note.
    assert [(m["id"], m["batch"]) for m in first["contained"]] == [
        ("lot1", {"lotNumber": "LOT-A1", "expirationDate": expiry.isoformat()}),
        ("lot2", {"lotNumber": "LOT-B2", "expirationDate": expiry.isoformat()}),
    ]
    assert first["supportingInformation"] == [{"reference": "#lot1"}, {"reference": "#lot2"}]
    assert first["note"][0] == {"text": f"Lots: LOT-A1 (expires {expiry:%Y-%m-%d}), LOT-B2 (expires {expiry:%Y-%m-%d})"}
    assert [a["id"] for a in resources(api, "MedicationAdministration?status=in-progress")] == [current["id"]]

    infusion_services.stop_infusion(
        infusion_id=infusion.pk, user=nurse, reason="Patient request", stopped_at=t0 + timedelta(minutes=90)
    )
    stopped = get(api, f"MedicationAdministration/{current['id']}")
    assert (stopped["status"], stopped["statusReason"]) == ("stopped", [{"text": "Patient request"}])
    assert [a["id"] for a in resources(api, "MedicationAdministration?status=stopped")] == [current["id"]]
    assert len(resources(api, "MedicationAdministration?status=completed")) == 2
    assert RateSegment.objects.filter(infusion=infusion).count() == 4  # the pause is not served


# --- Task --------------------------------------------------------------------------------------------------


def test_each_platelet_check_is_a_task_with_its_due_time_and_status(api, order, nurse) -> None:
    checks = {check.label: check for check in PlateletCheck.objects.filter(order=order)}
    PlateletCheck.objects.filter(pk=checks["48h"].pk).update(status=CheckStatus.DUE)
    PlateletCheck.objects.filter(pk=checks["72h"].pk).update(status=CheckStatus.OVERDUE)
    stored = result(order, "24h", 41, 24, nurse)
    tasks = {task["id"]: task for task in resources(api, f"Task?patient={order.patient_id}")}
    summary = [
        (tasks[str(checks[label].pk)]["status"], tasks[str(checks[label].pk)]["businessStatus"]["text"])
        for label in ("24h", "48h", "72h", "7d")
    ]
    assert summary == [("completed", "resulted"), ("ready", "due"), ("ready", "overdue"), ("requested", "scheduled")]
    done = tasks[str(checks["24h"].pk)]
    assert done["intent"] == "order"
    assert done["code"] == {"text": "Platelet count 24 h"}
    assert done["for"]["reference"] == f"Patient/{order.patient_id}"
    assert done["basedOn"] == [{"reference": f"MedicationRequest/{order.pk}"}]
    assert done["restriction"]["period"]["start"] == utc(checks["24h"].due_at)
    assert done["output"] == [
        {"type": {"text": "Platelet count"}, "valueReference": {"reference": f"Observation/plt-{stored.pk}"}}
    ]
    assert "output" not in tasks[str(checks["48h"].pk)]
    ready = resources(api, f"Task?patient={order.patient_id}&status=ready")
    assert [t["businessStatus"]["text"] for t in ready] == ["due", "overdue"]


def test_a_cancelled_orders_open_checks_are_cancelled_tasks(api, order, hematologist) -> None:
    PlateletCheck.objects.filter(order=order).update(status=CheckStatus.CANCELLED)
    assert {t["status"] for t in resources(api, f"Task?patient={order.patient_id}")} == {"cancelled"}


# --- Flag --------------------------------------------------------------------------------------------------


def test_non_response_raises_an_active_flag_that_the_decision_makes_inactive(api, order, nurse, hematologist):
    assert resources(api, "Flag") == []  # no assessment flags anything yet
    for label, count, hours in [("24h", 13, 24), ("48h", 14, 48), ("72h", 15, 72)]:
        result(order, label, count, hours, nurse)
    response = OrderResponse.objects.get(order=order)
    flag = get(api, f"Flag/{response.pk}")
    assert flag["status"] == "active"
    assert flag["code"] == {"text": "IVIG non-response: repeat dose recommended"}
    assert flag["subject"]["reference"] == f"Patient/{order.patient_id}"
    assert "start" in flag["period"] and "end" not in flag["period"]
    flagged_at = flag["period"]["start"]

    decide_repeat_dose(order_id=order.pk, user=hematologist, decision="decline", reason="Bleeding stopped")
    result(order, "7d", 20, 168, nurse)  # a later assessment does not move the flag's start
    decided = get(api, f"Flag/{response.pk}")
    assert decided["status"] == "inactive"
    assert decided["period"]["start"] == flagged_at
    assert decided["period"]["end"] >= flagged_at
    assert "declined" in decided["text"]["div"]
    assert [f["id"] for f in resources(api, "Flag?status=inactive")] == [str(response.pk)]
    assert resources(api, "Flag?status=active") == []


def test_an_order_that_responded_has_no_flag(api, order, nurse) -> None:
    for label, count, hours in [("24h", 41, 24), ("48h", 60, 48), ("72h", 90, 72)]:
        result(order, label, count, hours, nurse)
    assert resources(api, f"Flag?patient={order.patient_id}") == []
    assert api.get(f"{BASE}Flag/{OrderResponse.objects.get(order=order).pk}").status_code == 404


def test_an_accepted_repeat_links_the_repeat_order(api, order, nurse, second_hematologist) -> None:
    for label, count, hours in [("24h", 13, 24), ("48h", 14, 48), ("72h", 15, 72)]:
        result(order, label, count, hours, nurse)
    response = decide_repeat_dose(order_id=order.pk, user=second_hematologist, decision="accept")
    flag = get(api, f"Flag/{response.pk}")
    assert flag["status"] == "inactive"
    assert f"MedicationRequest/{response.repeat_order_id}" in flag["text"]["div"]
    repeat = get(api, f"MedicationRequest/{response.repeat_order_id}")
    assert repeat["status"] == "draft"
    assert repeat["priorPrescription"] == {"reference": f"MedicationRequest/{order.pk}"}
    assert dose_and_rate(repeat)["ordered"]["value"] == 1


def test_patients_without_orders_are_served(api, db) -> None:
    patient = PatientFactory(sex="female", given_name="Ann")
    body = get(api, f"Patient/{patient.pk}")
    assert (body["gender"], body["name"][0]["given"]) == ("female", ["Ann"])
    assert resources(api, f"MedicationRequest?patient={patient.pk}") == []


def test_overrides_and_documented_deviations_are_notes_of_the_request_and_the_administrations(
    api, db, hematologist, pharmacist, nurse
) -> None:
    from infusions.models import Product

    patient = PatientFactory(serum_iga_mg_dl=Decimal("5"))
    order = infusion_services.create_order(
        data={
            "patient": patient,
            "regimen": "one_dose_1g_per_kg",
            "product": Product.objects.get(name="Gamunex-C"),
            "baseline_platelet_count": 12,
            "first_infusion_on": timezone.localdate(),
        },
        user=hematologist,
        overrides={"iga_conflict": "Anti-IgA antibodies negative at the referring hospital"},
    )
    order = infusion_services.verify_order(order_id=order.pk, user=pharmacist)
    override = order.safety_records.get(code="iga_conflict")
    request = get(api, f"MedicationRequest/{order.pk}")
    assert request["note"][-1] == {
        "authorString": "haem1",
        "time": utc(override.at),
        "text": "override iga_conflict: Anti-IgA antibodies negative at the referring hospital",
    }

    # Documented an hour late, with no vital signs in the 15 min before the increase: a documented deviation.
    infusion = order.infusions.get()
    t0 = timezone.now() - timedelta(hours=3)
    infusion_services.record_vitals(infusion_id=infusion.pk, user=nurse, values=NORMAL_VITALS, taken_at=t0)
    infusion_services.start_infusion(
        infusion_id=infusion.pk,
        user=nurse,
        checklist=FULL_CHECKLIST,
        vials=day_vials(infusion, lots=["LOT-A1"]),
        started_at=t0 + timedelta(minutes=5),
    )
    changed_at = t0 + timedelta(minutes=35)
    infusion_services.change_rate(
        infusion_id=infusion.pk, user=nurse, rate_ml_per_h=Decimal("92.1"), changed_at=changed_at
    )
    # Before 03:00 the start three hours ago fell on yesterday: that start is a deviation of its own.
    deviation = infusion.safety_records.exclude(code="before_scheduled_day").get(kind="documented_deviation")
    note = {
        "authorString": "nurse1",
        "time": utc(changed_at),
        "text": f"documented deviation {deviation.code}: {deviation.message}",
    }
    administrations = resources(api, f"MedicationAdministration?patient={order.patient_id}")
    assert len(administrations) == 2
    assert all(note in administration["note"] for administration in administrations)
    # The infusion's own records are not the order's: the request keeps only its own override.
    assert [
        n["text"].split(":")[0] for n in get(api, f"MedicationRequest/{order.pk}")["note"] if "authorString" in n
    ] == ["override iga_conflict"]


def test_a_laboratory_result_carries_its_accession_specimen_range_flag_and_the_laboratory_as_performer(
    api, client_for, nurse
) -> None:
    from tests.interop.hl7_samples import hl7_time, sample

    order = given_order(completed_hours_ago=30, mrn="FHIR-LAB", nurse=nurse)
    due = PlateletCheck.objects.get(order=order, label="24h").due_at
    raw = sample(
        "beaker_777_3_si_units.hl7",
        control_id="FHIR-1",
        mrn="FHIR-LAB",
        filler="ACC-42",
        collected=hl7_time(due),
        status="F",
        value=41,
    )  # its OBX-7 reads 150-400 and OBX-8 L
    # Posted over HTTP by a nurse's account: the performer is still the laboratory.
    response = client_for(nurse).post("/api/v1/hl7/oru/", raw, content_type="text/plain")
    assert response["X-HL7-Ack-Code"] == "AA", response.content
    stored = PlateletResult.objects.get(order=order)

    body = get(api, f"Observation/plt-{stored.pk}")
    Observation.model_validate(body)
    accession = body["identifier"][0]
    assert (accession["value"], accession["assigner"], accession["type"]["coding"][0]["code"]) == (
        "ACC-42",
        {"display": "BEAKER"},
        "ACSN",
    )
    assert body["specimen"] == {"reference": "#specimen"}
    assert body["contained"][0]["accessionIdentifier"] == {"value": "ACC-42", "assigner": {"display": "BEAKER"}}
    assert body["referenceRange"] == [{"text": "150-400"}]
    assert body["interpretation"][0]["coding"][0]["code"] == "L"
    assert body["performer"] == [{"display": "ST_MARYS_LAB (laboratory)"}]
