"""FHIR R4 API behaviour: authentication, read, search (patient, subject, date, status, paging, strict and lenient
handling), identity and change tracking (identifier system, versions, conditional reads), errors, metadata.

Every resource served is parsed with fhir.resources' R4B models (which read R4 JSON; the installed fhir.resources
has no R4 models, only R5, R4B and STU3): a validation error fails the test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.http import http_date, parse_http_date
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient as FHIRPatient
from fhir.resources.R4B.task import Task

from infusions import services as infusion_services
from monitoring.models import CheckStatus, PlateletCheck
from monitoring.services import record_platelet_result
from patients.models import Patient, WeightMeasurement
from tests.factories import FULL_CHECKLIST, NORMAL_VITALS, day_vials, given_order, verified_order

pytestmark = pytest.mark.db

BASE = "/fhir/R4/"
FHIR_MODELS = {
    "Bundle": Bundle,
    "CapabilityStatement": CapabilityStatement,
    "Flag": Flag,
    "MedicationAdministration": MedicationAdministration,
    "MedicationRequest": MedicationRequest,
    "Observation": Observation,
    "OperationOutcome": OperationOutcome,
    "Patient": FHIRPatient,
    "Task": Task,
}
SERVED_TYPES = ["Patient", "Observation", "MedicationRequest", "MedicationAdministration", "Task", "Flag"]
TYPES_WITH_A_SUBJECT = SERVED_TYPES[1:]
LENIENT = {"HTTP_PREFER": "handling=lenient"}


def validated(resource: dict) -> dict:
    """Parse with the R4B model of its type (raises on any invalid element); the Bundle's entries too."""
    FHIR_MODELS[resource["resourceType"]].model_validate(resource)
    for entry in resource.get("entry", []):
        validated(entry["resource"])
    return resource


def fhir_json(response) -> dict:
    assert response["Content-Type"].startswith("application/fhir+json"), response["Content-Type"]
    return validated(response.json())


def ids(bundle: dict) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


def self_link_query(bundle: dict) -> dict[str, list[str]]:
    url = next(link["url"] for link in bundle["link"] if link["relation"] == "self")
    return parse_qs(urlsplit(url).query)


def run_first_infusion(order, nurse, *, started_hours_ago: float = 202, lots=("LOT-A1", "LOT-B2")):
    """Vitals, start at the plan's rate, a step up, a pause, a resume, completion two hours after the start."""
    infusion = order.infusions.get(day_number=1)
    t0 = timezone.now() - timedelta(hours=started_hours_ago)
    infusion_services.record_vitals(
        infusion_id=infusion.pk, user=nurse, values=NORMAL_VITALS, taken_at=t0 - timedelta(minutes=5)
    )
    infusion_services.start_infusion(
        infusion_id=infusion.pk,
        user=nurse,
        checklist=FULL_CHECKLIST,
        started_at=t0,
        vials=day_vials(infusion, lots=list(lots), expiry=timezone.localdate() + timedelta(days=300)),
    )
    infusion_services.record_vitals(
        infusion_id=infusion.pk,
        user=nurse,
        values={**NORMAL_VITALS, "heart_rate_bpm": 80},
        taken_at=t0 + timedelta(minutes=25),
    )
    infusion_services.change_rate(
        infusion_id=infusion.pk, user=nurse, rate_ml_per_h=Decimal("92"), changed_at=t0 + timedelta(minutes=30)
    )
    infusion_services.pause_infusion(infusion_id=infusion.pk, user=nurse, paused_at=t0 + timedelta(minutes=60))
    infusion_services.resume_infusion(infusion_id=infusion.pk, user=nurse, resumed_at=t0 + timedelta(minutes=70))
    infusion_services.complete_infusion(infusion_id=infusion.pk, user=nurse, completed_at=t0 + timedelta(minutes=120))
    order.refresh_from_db()
    return infusion, t0


def record(order, label, count, hours_after_start, nurse):
    first = order.infusions.get(day_number=1)
    check = PlateletCheck.objects.get(order=order, label=label)
    return record_platelet_result(
        check_id=check.pk,
        platelet_count=count,
        collected_at=first.started_at + timedelta(hours=hours_after_start),
        user=nurse,
    )


@pytest.fixture
def course(db, hematologist, pharmacist, nurse):
    """Case 1 patient: a completed course with three results showing no response (the flag is raised)."""
    order = verified_order(prescriber=hematologist, verifier=pharmacist)
    _infusion, t0 = run_first_infusion(order, nurse)
    for label, count, hours in [("24h", 13, 24), ("48h", 14, 48), ("72h", 15, 72)]:
        record(order, label, count, hours, nurse)
    return order


@pytest.fixture
def other_course(db, hematologist, pharmacist, nurse):
    """Another patient's course, to show that patient= filters."""
    return given_order(prescriber=hematologist, verifier=pharmacist, nurse=nurse, completed_hours_ago=30)


@pytest.fixture
def api(client_for, nurse):
    return client_for(nurse)


# --- Metadata and authentication ---------------------------------------------------------------------------


def test_metadata_is_a_public_capability_statement_listing_each_type_and_its_searches(api_client) -> None:
    body = fhir_json(api_client.get(BASE + "metadata"))
    assert body["resourceType"] == "CapabilityStatement"
    assert (body["status"], body["kind"], body["fhirVersion"]) == ("active", "instance", "4.0.1")
    assert "json" in body["format"]
    (rest,) = body["rest"]
    assert rest["mode"] == "server"
    served = {resource["type"]: resource for resource in rest["resource"]}
    assert list(served) == SERVED_TYPES
    for name, resource in served.items():
        # A platelet count's corrections are its versions: Observation alone has history and vread.
        history = ["vread", "history-instance"] if name == "Observation" else []
        assert [i["code"] for i in resource["interaction"]] == ["read", "search-type", *history]
        params = {p["name"] for p in resource["searchParam"]}
        assert {"_id", "_lastUpdated"} <= params
        if name != "Patient":
            assert {"patient", "subject", "date", "status"} <= params
        assert (resource["versioning"], resource["conditionalRead"]) == ("versioned", "full-support")
    assert {"code", "category"} <= {p["name"] for p in served["Observation"]["searchParam"]}
    assert body["implementation"]["url"] == "http://testserver/fhir/R4"


@pytest.mark.parametrize("path", ["Patient", "Observation?patient=1", "Patient/1", "Task/1", "Nope"])
def test_anonymous_requests_get_401_with_a_bearer_challenge_and_an_operation_outcome(api_client, path) -> None:
    response = api_client.get(BASE + path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="ivig-tracker"'
    body = fhir_json(response)
    assert body["issue"][0]["code"] == "login"


def test_an_account_without_a_clinical_role_gets_403(client_for, role_user) -> None:
    response = client_for(role_user(None)).get(BASE + "Patient")
    assert response.status_code == 403
    assert fhir_json(response)["issue"][0]["code"] == "forbidden"


def test_the_browser_session_authenticates_too(client, hematologist, course) -> None:
    client.force_login(hematologist)
    assert client.get(BASE + f"Patient/{course.patient_id}").status_code == 200


@pytest.mark.parametrize("role", ["nurse", "hematologist", "pharmacist"])
def test_every_clinical_role_may_read(client_for, role_user, role, course) -> None:
    assert client_for(role_user(role)).get(BASE + f"MedicationRequest/{course.pk}").status_code == 200


def test_writes_are_not_allowed(api, course) -> None:
    response = api.post(BASE + "Patient", {"resourceType": "Patient"}, format="json")
    assert response.status_code == 405
    assert fhir_json(response)["issue"][0]["code"] == "not-supported"


# --- Every type: search by patient, read by id ------------------------------------------------------------


@pytest.mark.parametrize("resource_type", SERVED_TYPES)
def test_every_type_is_found_by_patient_and_read_by_id_and_every_resource_is_valid(
    api, course, other_course, resource_type
) -> None:
    patient = course.patient_id
    query = f"_id={patient}" if resource_type == "Patient" else f"patient={patient}"
    bundle = fhir_json(api.get(f"{BASE}{resource_type}?{query}"))
    assert (bundle["type"], bundle["total"]) == ("searchset", len(bundle["entry"]))
    assert bundle["total"] >= 1
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert resource["resourceType"] == resource_type
        assert entry["search"] == {"mode": "match"}
        assert entry["fullUrl"] == f"http://testserver{BASE}{resource_type}/{resource['id']}"
        subject = resource.get("subject") or resource.get("for")
        if subject is not None:
            assert subject["reference"] == f"Patient/{patient}"
        read = api.get(f"{BASE}{resource_type}/{resource['id']}")
        assert read.status_code == 200
        assert fhir_json(read) == resource
    # The other patient's resources are not in this patient's bundle, but are found by theirs.
    others = fhir_json(api.get(f"{BASE}{resource_type}?{query.replace(str(patient), str(other_course.patient_id))}"))
    assert not set(ids(others)) & set(ids(bundle))


def test_the_courses_resources_are_all_there(api, course) -> None:
    patient = course.patient_id

    def total(path):
        return fhir_json(api.get(f"{BASE}{path}"))["total"]

    # 2 vital sign sets x 5, 3 platelet counts, 1 weight.
    # ... and the patient's creatinine with its derived eGFR, hemoglobin and ABO/Rh (docs/clinical-rules.md §A13).
    assert total(f"Observation?patient={patient}") == 18
    assert total(f"MedicationRequest?patient={patient}") == 1
    # start, step up, resume: the pause (0 mL/h) is not an administration.
    assert total(f"MedicationAdministration?patient={patient}") == 3
    assert total(f"Task?patient={patient}") == 6  # 24h, 48h, 72h, 7d and the follow-ups at 14 and 28 days
    assert total(f"Flag?patient={patient}") == 1


def test_the_patient_parameter_accepts_a_relative_or_absolute_reference(api, course, other_course) -> None:
    patient = course.patient_id
    expected = ids(fhir_json(api.get(f"{BASE}Task?patient={patient}")))
    assert ids(fhir_json(api.get(f"{BASE}Task?patient=Patient/{patient}"))) == expected
    absolute = f"http://testserver/fhir/R4/Patient/{patient}"
    assert ids(fhir_json(api.get(f"{BASE}Task", {"patient": absolute}))) == expected
    assert fhir_json(api.get(f"{BASE}Task?patient=999999"))["total"] == 0
    assert "entry" not in fhir_json(api.get(f"{BASE}Task?patient=unknown"))


def test_a_patient_parameter_naming_another_type_is_400(api, course) -> None:
    response = api.get(f"{BASE}Task?patient=Practitioner/1")
    assert response.status_code == 400
    assert fhir_json(response)["issue"][0]["code"] == "invalid"


def test_patients_are_found_by_identifier_name_gender_and_birthdate(api, course, other_course) -> None:
    patient = course.patient
    assert ids(fhir_json(api.get(f"{BASE}Patient?identifier={patient.mrn}"))) == [str(patient.pk)]
    assert ids(fhir_json(api.get(f"{BASE}Patient?family={patient.family_name.lower()}"))) == [str(patient.pk)]
    assert fhir_json(api.get(f"{BASE}Patient?gender=male&birthdate=1980-01-01"))["total"] == 2
    assert fhir_json(api.get(f"{BASE}Patient?birthdate=gt1980"))["total"] == 0
    assert fhir_json(api.get(f"{BASE}Patient?gender=female"))["total"] == 0


# --- Date and status ---------------------------------------------------------------------------------------


def test_observations_are_searched_by_date_with_prefixes(api, course, settings) -> None:
    settings.TIME_ZONE = "Europe/Paris"  # the hospital's zone, for values without one
    first = course.infusions.get(day_number=1)
    at_47h = (first.started_at + timedelta(hours=47)).isoformat()
    at_49h = (first.started_at + timedelta(hours=49)).isoformat()

    def platelets(date):
        query = {"patient": course.patient_id, "code": "777-3", "date": date}
        return fhir_json(api.get(f"{BASE}Observation", query))

    # The counts were collected 24, 48 and 72 h after the start.
    assert platelets(f"ge{at_47h}")["total"] == 2
    assert platelets(f"gt{at_47h}")["total"] == 2
    assert platelets(f"le{at_47h}")["total"] == 1
    assert platelets(f"lt{at_47h}")["total"] == 1
    assert platelets(at_47h)["total"] == 0  # eq at a second's precision
    # Repeating the parameter ANDs: the window between 47 h and 49 h holds the 48 h count.
    (entry,) = platelets([f"ge{at_47h}", f"le{at_49h}"])["entry"]
    assert entry["resource"]["valueQuantity"]["value"] == 14
    # A comma ORs.
    assert platelets(f"lt{at_47h},gt{at_49h}")["total"] == 2
    # A day matches the whole day (eq), in the hospital's time zone; ne is the complement.
    collected_72h = timezone.localtime(first.started_at + timedelta(hours=72))
    on_that_day = platelets(collected_72h.date().isoformat())
    assert 15 in [e["resource"]["valueQuantity"]["value"] for e in on_that_day["entry"]]
    assert platelets(f"ne{collected_72h.date().isoformat()}")["total"] == 3 - on_that_day["total"]
    # A time without a zone is in the hospital's zone; an unencoded "+" of an offset arrives as a space.
    local = collected_72h.replace(tzinfo=None).isoformat(timespec="seconds")
    assert platelets(f"eq{local}")["total"] == 1
    with_offset = collected_72h.isoformat(timespec="seconds")
    assert "+0" in with_offset
    response = api.get(
        f"{BASE}Observation?patient={course.patient_id}&code=777-3&date=eq{with_offset}"  # "+0h:00" unencoded
    )
    assert fhir_json(response)["total"] == 1


@pytest.mark.parametrize(
    "resource_type, expected",
    [
        ("MedicationRequest", 1),  # authored now
        ("MedicationAdministration", 0),  # started 202 h ago
        ("Task", 2),  # due 24 to 168 h after the completion, 200 h ago; the 14 and 28 day follow-ups to come
        ("Flag", 1),  # flagged by the 72 h result, recorded now
    ],
)
def test_each_type_is_searched_by_its_main_date(api, course, resource_type, expected) -> None:
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    bundle = fhir_json(api.get(f"{BASE}{resource_type}", {"patient": course.patient_id, "date": f"ge{since}"}))
    assert bundle["total"] == expected
    everything = fhir_json(api.get(f"{BASE}{resource_type}", {"patient": course.patient_id, "date": "ge2000-01-01"}))
    assert everything["total"] >= 1


def test_tasks_are_searched_by_due_time(api, course) -> None:
    first = course.infusions.get(day_number=1)
    due_72h = first.ended_at + timedelta(hours=72)
    bundle = fhir_json(api.get(f"{BASE}Task", {"patient": course.patient_id, "date": f"ge{due_72h.isoformat()}"}))
    assert [e["resource"]["code"]["text"] for e in bundle["entry"]] == [
        "Platelet count 72 h",
        "Platelet count 7 days",
        "Platelet count 14 days (follow-up)",
        "Platelet count 28 days (follow-up)",
    ]


@pytest.mark.parametrize(
    "path, statuses",
    [
        ("Observation?code=777-3&status=final", ["final"] * 3),
        ("Observation?code=777-3&status=preliminary,corrected", []),
        ("Task?status=completed", ["completed"] * 3),
        ("Task?status=requested", ["requested"] * 3),  # the 7d check and the two follow-ups
        ("Task?status=ready,requested", ["requested"] * 3),
        ("MedicationRequest?status=completed", ["completed"]),
        ("MedicationRequest?status=active", []),
        ("MedicationAdministration?status=completed", ["completed"] * 3),
        ("MedicationAdministration?status=in-progress", []),
        ("Flag?status=active", ["active"]),
        ("Flag?status=inactive", []),
        ("Task?status=no-such-status", []),
    ],
)
def test_status_filters_on_the_fhir_status(api, course, path, statuses) -> None:
    bundle = fhir_json(api.get(f"{BASE}{path}&patient={course.patient_id}"))
    assert [e["resource"]["status"] for e in bundle.get("entry", [])] == statuses


def test_observations_are_searched_by_code_and_category(api, course) -> None:
    patient = course.patient_id

    def codes(query):
        bundle = fhir_json(api.get(f"{BASE}Observation?patient={patient}&{query}"))
        return sorted({e["resource"]["code"]["coding"][0]["code"] for e in bundle.get("entry", [])})

    assert codes("category=laboratory") == ["14682-9", "718-7", "777-3", "882-1", "98979-8"]
    assert codes("code=http://loinc.org|14682-9") == ["14682-9"]
    assert codes("code=98979-8") == []  # eGFRs are found by patient, category and date, not by code
    assert codes("category=vital-signs") == ["2708-6", "29463-7", "8310-5", "85354-9", "8867-4", "9279-1"]
    assert codes("code=http://loinc.org|8867-4,59408-5") == ["2708-6", "8867-4"]
    assert codes("code=http://snomed.info/sct|777-3") == []
    assert codes("code=777-3&category=vital-signs") == []


# --- Paging --------------------------------------------------------------------------------------------


def test_search_results_are_paged_with_count_and_next_links(api, course) -> None:
    url = f"{BASE}Observation?patient={course.patient_id}&_count=5"
    seen: list[str] = []
    pages = 0
    while url:
        bundle = fhir_json(api.get(url))
        assert bundle["total"] == 18
        seen += ids(bundle)
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        assert parse_qs(urlsplit(links["self"]).query)["_count"] == ["5"]
        assert parse_qs(urlsplit(links["self"]).query)["patient"] == [str(course.patient_id)]
        if pages:
            assert "previous" in links
        url = links.get("next")
        pages += 1
    assert pages == 4
    assert len(seen) == len(set(seen)) == 18
    # Oldest first: the baseline vital signs (202 h ago) ... the weight (the factory weighs a day ago).
    assert seen[0].startswith("vs-")
    assert seen[-1].startswith("bw-")


def test_count_is_capped_at_200_and_zero_gives_only_the_total(api, course) -> None:
    bundle = fhir_json(api.get(f"{BASE}Observation?_count=500"))
    self_link = next(link["url"] for link in bundle["link"] if link["relation"] == "self")
    assert "_count=200" in self_link
    only_total = fhir_json(api.get(f"{BASE}Observation?_count=0"))
    assert only_total["total"] == 18
    assert "entry" not in only_total


def test_a_page_past_the_end_is_empty(api, course) -> None:
    bundle = fhir_json(api.get(f"{BASE}Task?_count=3&page=9"))
    assert bundle["total"] == 6
    assert "entry" not in bundle
    assert {link["relation"] for link in bundle["link"]} == {"self", "first", "previous", "last"}


def test_a_search_costs_a_fixed_number_of_queries(api, course, hematologist, pharmacist, nurse) -> None:
    def queries_per_search() -> list[int]:
        counts = []
        for resource_type in SERVED_TYPES:
            with CaptureQueriesContext(connection) as queries:
                assert api.get(f"{BASE}{resource_type}?_count=200").status_code == 200
            counts.append(len(queries))
        return counts

    before = queries_per_search()
    for _ in range(3):
        order = verified_order(prescriber=hematologist, verifier=pharmacist)
        run_first_infusion(order, nurse)
        record(order, "24h", 50, 24, nurse)
    assert queries_per_search() == before
    # The token with its user, the user's groups and permissions, count, page keys, one load per model (+ one
    # prefetch for lots or current results): Observation loads four (platelets with their laboratory detail and one
    # query per level of their corrections for the first ids that name them, vitals, weights, laboratory values
    # with one more query for the creatinines behind the eGFRs).
    assert max(before) <= 12


# --- Errors and formats ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["Patient/999999", "Observation/plt-999999", "Observation/vs-1-nonsense", "Observation/42", "Task/abc", "Flag/1"],
)
def test_an_unknown_id_is_404_with_an_operation_outcome(api, db, path) -> None:
    response = api.get(BASE + path)
    assert response.status_code == 404
    assert fhir_json(response)["issue"][0]["code"] == "not-found"


def test_a_pause_is_not_an_administration(api, course) -> None:
    from infusions.models import RateSegment

    pause = RateSegment.objects.get(infusion__order=course, rate_ml_per_h=0)
    assert api.get(f"{BASE}MedicationAdministration/{pause.pk}").status_code == 404


@pytest.mark.parametrize("path", ["Practitioner", "Encounter/1", "", "Patient/1/_history", "Patient/1/$everything"])
def test_an_unserved_type_or_interaction_is_404(api, db, path) -> None:
    response = api.get(BASE + path)
    assert response.status_code == 404
    assert fhir_json(response)["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    "query",
    [
        "date=2026-13-01",
        "date=yesterday",
        "date=sa2026-01-01",
        "date=2026-01-01T10",
        "date=9999-12-31",
        "date=0001-01-01T00:00:00+14:00",
        "date=2026-02-30",
        "_count=-1",
        "_count=ten",
        "page=0",
        "status=",
    ],
)
def test_a_malformed_parameter_is_400(api, db, query) -> None:
    response = api.get(f"{BASE}Observation?{query}")
    assert response.status_code == 400
    body = fhir_json(response)
    assert body["issue"][0]["severity"] == "error"


def test_a_nul_character_is_400_not_a_database_error(api, db) -> None:
    response = api.get(f"{BASE}Patient?name=a%00b")
    assert response.status_code == 400
    validated(response.json())


@pytest.mark.parametrize(
    "path, named",
    [
        ("Task?nonsense=1", "'nonsense'"),
        ("Observation?performer=Practitioner/1", "'performer'"),  # a standard parameter that is not served
        ("Patient?_sort=birthdate", "'_sort'"),
        ("Flag?_include=Flag:subject", "'_include'"),
        ("Observation?code:text=platelet", "':text'"),
        ("Patient?name:exact=Alex", "':exact'"),
        ("Observation?subject.name=Alex", "'subject.name'"),
        ("Observation?subject:Group=1", "':Group'"),
    ],
)
def test_an_unsupported_parameter_is_400_naming_it_by_default(api, course, path, named) -> None:
    response = api.get(f"{BASE}{path}")
    assert response.status_code == 400
    (issue,) = fhir_json(response)["issue"]
    assert (issue["severity"], issue["code"]) == ("error", "not-supported")
    assert named in issue["diagnostics"]
    assert "handling=lenient" in issue["diagnostics"]


def test_lenient_handling_ignores_unsupported_parameters_and_leaves_them_out_of_the_self_link(api, course) -> None:
    patient = course.patient_id
    query = f"patient={patient}&nonsense=1&performer=x&code:text=platelet&subject.name=Alex"
    for prefer in ["handling=lenient", "return=representation, handling=lenient", "HANDLING = Lenient"]:
        bundle = fhir_json(api.get(f"{BASE}Observation?{query}", HTTP_PREFER=prefer))
        assert bundle["total"] == 18  # as patient= alone
        assert set(self_link_query(bundle)) == {"patient", "_count", "page"}
    # Lenient ignores what is not supported, not what is malformed.
    assert api.get(f"{BASE}Observation?date=yesterday", **LENIENT).status_code == 400


def test_strict_handling_asked_for_is_strict_too(api, course) -> None:
    response = api.get(f"{BASE}Task?nonsense=1", HTTP_PREFER="handling=strict")
    assert response.status_code == 400
    assert fhir_json(response)["issue"][0]["code"] == "not-supported"


def test_result_and_paging_parameters_are_accepted_under_strict_handling(api, course) -> None:
    bundle = fhir_json(api.get(f"{BASE}Task?patient={course.patient_id}&_count=2&page=2&_format=json&_pretty=true"))
    assert (bundle["total"], len(bundle["entry"])) == (6, 2)


def test_plain_json_is_served_when_asked_for_and_xml_is_not(api, course) -> None:
    response = api.get(f"{BASE}Patient/{course.patient_id}", HTTP_ACCEPT="application/json")
    assert response["Content-Type"].startswith("application/json")
    validated(response.json())
    fhir = api.get(f"{BASE}Patient/{course.patient_id}", HTTP_ACCEPT="application/fhir+json; fhirVersion=4.0")
    assert fhir["Content-Type"].startswith("application/fhir+json")
    assert api.get(f"{BASE}Patient/{course.patient_id}?_format=json")["Content-Type"].startswith(
        "application/fhir+json"
    )
    xml = api.get(f"{BASE}Patient/{course.patient_id}?_format=xml")
    assert xml.status_code == 406
    validated(xml.json())


def test_body_weights_of_every_measurement_are_served(api, course) -> None:
    WeightMeasurement.objects.create(patient=course.patient, weight_kg=Decimal("80.5"), measured_at=timezone.now())
    bundle = fhir_json(api.get(f"{BASE}Observation?patient={course.patient_id}&code=29463-7"))
    assert [e["resource"]["valueQuantity"]["value"] for e in bundle["entry"]] == [82, 80.5]


def test_each_creatinine_has_a_derived_egfr_observation(api, course) -> None:
    from patients.models import LabResult

    creatinine = LabResult.objects.get(patient_id=course.patient_id, test="creatinine")
    egfr = validated(fhir_json(api.get(f"{BASE}Observation/egfr-{creatinine.pk}")))
    assert egfr["derivedFrom"] == [{"reference": f"Observation/cr-{creatinine.pk}"}]
    assert egfr["code"]["coding"][0]["code"] == "98979-8"
    # 80 µmol/L for a man born in 1980, CKD-EPI 2021 (docs/clinical-rules.md §A13).
    assert egfr["valueQuantity"]["code"] == "mL/min/{1.73_m2}" and egfr["valueQuantity"]["value"] > 90
    assert api.get(f"{BASE}Observation/egfr-{creatinine.pk + 10_000}").status_code == 404


# --- Subject -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("resource_type", TYPES_WITH_A_SUBJECT)
def test_a_search_by_subject_returns_only_that_patients_resources(api, course, other_course, resource_type) -> None:
    patient, other = course.patient_id, other_course.patient_id
    bundle = fhir_json(api.get(f"{BASE}{resource_type}?subject=Patient/{patient}"))
    assert bundle["total"] >= 1
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert (resource.get("subject") or resource["for"])["reference"] == f"Patient/{patient}"
    assert ids(bundle) == ids(fhir_json(api.get(f"{BASE}{resource_type}?patient={patient}")))
    # The type modifier names the subject's type; the value is then the id.
    assert ids(fhir_json(api.get(f"{BASE}{resource_type}?subject:Patient={patient}"))) == ids(bundle)
    others = fhir_json(api.get(f"{BASE}{resource_type}?subject=Patient/{other}"))
    assert not set(ids(others)) & set(ids(bundle))
    assert fhir_json(api.get(f"{BASE}{resource_type}?subject=Patient/999999"))["total"] == 0


@pytest.mark.parametrize("resource_type", TYPES_WITH_A_SUBJECT)
@pytest.mark.parametrize("reference", ["Group/1", "Practitioner/1", "http://testserver/fhir/R4/Group/1"])
def test_a_subject_naming_another_type_than_patient_is_400(api, course, resource_type, reference) -> None:
    response = api.get(f"{BASE}{resource_type}", {"subject": reference})
    assert response.status_code == 400
    (issue,) = fhir_json(response)["issue"]
    assert issue["code"] == "invalid"
    assert reference in issue["diagnostics"] and "Patient" in issue["diagnostics"]


def test_a_search_by_subject_on_patient_is_refused_as_patients_have_no_subject(api, course) -> None:
    response = api.get(f"{BASE}Patient?subject=Patient/{course.patient_id}")
    assert response.status_code == 400
    assert "'subject'" in fhir_json(response)["issue"][0]["diagnostics"]


# --- Identity: the MRN's system ----------------------------------------------------------------------------

MRN_SYSTEM = "urn:oid:2.16.840.1.113883.3.9999.1"


def test_patients_are_found_by_identifier_in_the_hospitals_mrn_system(api, course, other_course, settings) -> None:
    settings.IVIG_FHIR_MRN_SYSTEM = MRN_SYSTEM
    patient = course.patient

    def found(identifier):
        return ids(fhir_json(api.get(f"{BASE}Patient", {"identifier": identifier})))

    (identifier,) = fhir_json(api.get(f"{BASE}Patient/{patient.pk}"))["identifier"]
    assert (identifier["system"], identifier["value"]) == (MRN_SYSTEM, patient.mrn)
    assert found(f"{MRN_SYSTEM}|{patient.mrn}") == [str(patient.pk)]
    assert found(patient.mrn) == [str(patient.pk)]  # any system
    assert found(f"http://other.example.org/mrn|{patient.mrn}") == []
    assert found(f"|{patient.mrn}") == []  # |value is an identifier without a system, and the MRN has one
    assert found(f"{MRN_SYSTEM}|") == [str(patient.pk), str(other_course.patient_id)]  # every MRN
    assert found(f"{MRN_SYSTEM}|NOT-AN-MRN") == []


def test_without_an_mrn_system_the_identifier_has_none_and_bar_value_finds_it(api, course, settings) -> None:
    settings.IVIG_FHIR_MRN_SYSTEM = ""
    patient = course.patient
    (identifier,) = fhir_json(api.get(f"{BASE}Patient/{patient.pk}"))["identifier"]
    assert "system" not in identifier
    assert ids(fhir_json(api.get(f"{BASE}Patient", {"identifier": f"|{patient.mrn}"}))) == [str(patient.pk)]
    assert fhir_json(api.get(f"{BASE}Patient", {"identifier": f"{MRN_SYSTEM}|{patient.mrn}"}))["total"] == 0


# --- Change tracking: versions, conditional reads, _lastUpdated --------------------------------------------


def read(api, path: str, **headers):
    return api.get(f"{BASE}{path}", **headers)


def version_of(api, path: str) -> str:
    return fhir_json(read(api, path))["meta"]["versionId"]


@pytest.mark.parametrize("resource_type", SERVED_TYPES)
def test_every_resource_served_carries_its_version_and_last_update(api, course, resource_type) -> None:
    query = f"_id={course.patient_id}" if resource_type == "Patient" else f"patient={course.patient_id}"
    bundle = fhir_json(api.get(f"{BASE}{resource_type}?{query}"))
    for entry in bundle["entry"]:
        meta = entry["resource"]["meta"]
        assert meta["versionId"].isdigit()
        assert meta["lastUpdated"].endswith("Z")
        response = read(api, f"{resource_type}/{entry['resource']['id']}")
        assert response["ETag"] == f'W/"{meta["versionId"]}"'
        assert response["Last-Modified"]


def test_last_updated_is_the_time_of_the_records_latest_history_row(api, course) -> None:
    weight = WeightMeasurement.objects.get(patient=course.patient)
    at = timezone.now().replace(microsecond=0) - timedelta(days=40)
    assert weight.history.filter(id=weight.pk).update(history_date=at) >= 1
    meta = fhir_json(read(api, f"Observation/bw-{weight.pk}"))["meta"]
    assert meta["lastUpdated"] == at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert meta["profile"][1].endswith("bodyweight")  # the profile is kept beside the version


def test_each_change_to_a_record_gives_a_later_version(api, course) -> None:
    patient = Patient.objects.get(pk=course.patient_id)
    before = fhir_json(read(api, f"Patient/{patient.pk}"))["meta"]
    patient.family_name = "Renamed"
    patient.save()
    after = fhir_json(read(api, f"Patient/{patient.pk}"))["meta"]
    assert int(after["versionId"]) > int(before["versionId"])
    assert after["lastUpdated"] >= before["lastUpdated"]


def test_a_check_changed_without_a_history_row_still_gets_a_later_version(api, course) -> None:
    # A row changed by hand (or before bulk writes recorded history) has no history row for its latest change.
    check = PlateletCheck.objects.get(order=course, label="7d")
    before = version_of(api, f"Task/{check.pk}")
    later = timezone.now() + timedelta(seconds=5)
    PlateletCheck.objects.filter(pk=check.pk).update(status=CheckStatus.DUE, updated_at=later)
    task = fhir_json(read(api, f"Task/{check.pk}"))
    assert task["status"] == "ready"
    assert int(task["meta"]["versionId"]) > int(before)
    assert read(api, f"Task/{check.pk}", HTTP_IF_NONE_MATCH=f'W/"{before}"').status_code == 200


def test_a_read_answers_if_none_match_with_304_until_the_record_changes(api, course) -> None:
    path = f"MedicationRequest/{course.pk}"
    first = read(api, path)
    etag = first["ETag"]
    assert etag == f'W/"{first.json()["meta"]["versionId"]}"'
    not_modified = read(api, path, HTTP_IF_NONE_MATCH=etag)
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified["ETag"] == etag
    assert read(api, path, HTTP_IF_NONE_MATCH=etag.removeprefix("W/")).status_code == 304  # compared weakly
    assert read(api, path, HTTP_IF_NONE_MATCH=f'W/"1", {etag}').status_code == 304
    assert read(api, path, HTTP_IF_NONE_MATCH="*").status_code == 304
    assert read(api, path, HTTP_IF_NONE_MATCH='W/"1"').status_code == 200
    course.notes = "Changed."
    course.save()
    changed = read(api, path, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag


def test_a_read_answers_if_modified_since_with_304_when_not_changed_since(api, course) -> None:
    path = f"Patient/{course.patient_id}"
    last_modified = read(api, path)["Last-Modified"]
    assert read(api, path, HTTP_IF_MODIFIED_SINCE=last_modified).status_code == 304
    a_day_before = http_date(parse_http_date(last_modified) - 86400)
    assert read(api, path, HTTP_IF_MODIFIED_SINCE=a_day_before).status_code == 200
    assert read(api, path, HTTP_IF_MODIFIED_SINCE="not a date").status_code == 200
    # If-None-Match, when sent, decides alone (RFC 9110 §13.2.2).
    assert read(api, path, HTTP_IF_NONE_MATCH='W/"1"', HTTP_IF_MODIFIED_SINCE=last_modified).status_code == 200


def test_resources_are_searched_by_last_update_with_prefixes(api, course) -> None:
    old = WeightMeasurement.objects.get(patient=course.patient)
    new = WeightMeasurement.objects.create(
        patient=course.patient, weight_kg=Decimal("80.5"), measured_at=timezone.now()
    )
    WeightMeasurement.history.filter(id=old.pk).update(history_date=datetime(2026, 1, 10, 10, 0, tzinfo=UTC))
    WeightMeasurement.history.filter(id=new.pk).update(history_date=datetime(2026, 3, 1, 9, 0, tzinfo=UTC))

    def weights(last_updated):
        query = {"patient": course.patient_id, "code": "29463-7", "_lastUpdated": last_updated}
        return ids(fhir_json(api.get(f"{BASE}Observation", query)))

    both = [f"bw-{old.pk}", f"bw-{new.pk}"]
    assert weights("gt2026-02-01") == [f"bw-{new.pk}"]
    assert weights("lt2026-02-01") == [f"bw-{old.pk}"]
    assert weights("ge2026-01-10T10:00:00Z") == both
    assert weights("gt2026-01-10T10:00:00Z") == [f"bw-{new.pk}"]
    assert weights("le2026-03-01T09:00:00Z") == both
    assert weights("eq2026-01-10T10:00:00Z") == [f"bw-{old.pk}"]
    assert weights("ne2026-01") == [f"bw-{new.pk}"]
    assert weights(["ge2026-01-01", "lt2026-03-01"]) == [f"bw-{old.pk}"]
    assert weights("2025") == []
    # On a type served from one model too, and malformed is 400.
    assert fhir_json(api.get(f"{BASE}Patient?_lastUpdated=gt2100-01-01"))["total"] == 0
    assert fhir_json(api.get(f"{BASE}Patient?_lastUpdated=ge2000-01-01"))["total"] == 1
    assert api.get(f"{BASE}Task?_lastUpdated=yesterday").status_code == 400
