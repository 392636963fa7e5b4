"""A platelet result and its corrections are one FHIR Observation: its status goes preliminary → final → corrected
(or entered-in-error when withdrawn), its earlier states are versions at ``_history``, and the id of a later version
that clients held before redirects to the Observation (interop/fhir/platelet_versions.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhirclient.models import fhirelementfactory as r4_resource

from monitoring.models import PlateletCheck, PlateletResult
from monitoring.services import correct_platelet_result, record_platelet_result, withdraw_platelet_result
from tests.factories import given_order

pytestmark = pytest.mark.db

BASE = "/fhir/R4/"
HL7 = PlateletResult.Source.HL7


@pytest.fixture
def api(client_for, nurse):
    return client_for(nurse)


@pytest.fixture
def order(db, hematologist, pharmacist, nurse):
    return given_order(prescriber=hematologist, verifier=pharmacist, nurse=nurse, completed_hours_ago=200)


def lab_count(order, label: str, count: int, *, preliminary: bool = False, hours: int = 24) -> PlateletResult:
    """The laboratory's count for a check of the course (HL7), collected ``hours`` after the first infusion began."""
    first = order.infusions.get(day_number=1)
    return record_platelet_result(
        check_id=PlateletCheck.objects.get(order=order, label=label).pk,
        platelet_count=count,
        collected_at=first.started_at + timedelta(hours=hours),
        user=None,
        source=HL7,
        preliminary=preliminary,
    )


def get(api, path: str, **headers) -> dict:
    response = api.get(BASE + path, **headers)
    assert response.status_code == 200, response.content
    body = response.json()
    if body["resourceType"] == "Bundle":
        Bundle.model_validate(body)
    else:
        Observation.model_validate(body)
    r4_resource.FHIRElementFactory.instantiate(body["resourceType"], body)  # R4 4.0.1, strict
    return body


def history(api, observation_id: str) -> list[dict]:
    """The versions listed at _history, newest first as FHIR lists them."""
    bundle = get(api, f"Observation/{observation_id}/_history")
    assert bundle["type"] == "history"
    assert bundle["total"] == len(bundle["entry"])
    return [entry["resource"] for entry in bundle["entry"]]


def test_a_preliminary_count_the_laboratory_makes_final_and_then_corrects_reads_as_one_corrected_observation(
    api, order
) -> None:
    preliminary = lab_count(order, "24h", 18, preliminary=True)
    lab_count(order, "24h", 21)
    lab_count(order, "24h", 41)  # the laboratory's correction of its final count

    observation = get(api, f"Observation/plt-{preliminary.pk}")
    assert (observation["id"], observation["status"]) == (f"plt-{preliminary.pk}", "corrected")
    assert observation["valueQuantity"]["value"] == 41

    versions = history(api, f"plt-{preliminary.pk}")
    assert [(v["status"], v["valueQuantity"]["value"]) for v in versions] == [
        ("corrected", 41),
        ("final", 21),
        ("preliminary", 18),
    ]
    assert {v["id"] for v in versions} == {f"plt-{preliminary.pk}"}
    version_ids = [int(v["meta"]["versionId"]) for v in versions]
    assert version_ids == sorted(version_ids, reverse=True) and len(set(version_ids)) == 3
    assert versions[0]["meta"] == observation["meta"]  # the newest version is what a read serves


def test_a_final_count_corrected_by_the_laboratory_has_two_versions_the_first_final(api, order) -> None:
    final = lab_count(order, "24h", 14)
    lab_count(order, "24h", 41)

    versions = history(api, f"plt-{final.pk}")

    assert [(v["status"], v["valueQuantity"]["value"]) for v in versions] == [("corrected", 41), ("final", 14)]
    bundle = get(api, f"Observation/plt-{final.pk}/_history")
    assert [(e["request"]["method"], e["response"]["status"]) for e in bundle["entry"]] == [
        ("PUT", "200 OK"),
        ("POST", "201 Created"),
    ]
    assert [e["response"]["etag"] for e in bundle["entry"]] == [f'W/"{v["meta"]["versionId"]}"' for v in versions]


def test_each_version_reads_at_its_version_id_with_its_own_etag(api, order) -> None:
    final = lab_count(order, "24h", 14)
    lab_count(order, "24h", 41)
    corrected, first = history(api, f"plt-{final.pk}")

    response = api.get(f"{BASE}Observation/plt-{final.pk}/_history/{first['meta']['versionId']}")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["valueQuantity"]["value"]) == ("final", 14)
    assert response["ETag"] == f'W/"{first["meta"]["versionId"]}"'
    latest = get(api, f"Observation/plt-{final.pk}/_history/{corrected['meta']['versionId']}")
    assert (latest["status"], latest["valueQuantity"]["value"]) == ("corrected", 41)


def test_a_version_that_never_was_is_404_and_names_the_history(api, order) -> None:
    final = lab_count(order, "24h", 14)

    response = api.get(f"{BASE}Observation/plt-{final.pk}/_history/1")

    assert response.status_code == 404
    assert "_history" in OperationOutcome.model_validate(response.json()).issue[0].diagnostics


def test_the_version_id_moves_with_the_correction_so_a_cached_copy_is_not_answered_304(api, order) -> None:
    final = lab_count(order, "24h", 14)
    before = api.get(f"{BASE}Observation/plt-{final.pk}")
    assert api.get(f"{BASE}Observation/plt-{final.pk}", HTTP_IF_NONE_MATCH=before["ETag"]).status_code == 304

    lab_count(order, "24h", 41)

    after = api.get(f"{BASE}Observation/plt-{final.pk}", HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200
    assert after.json()["valueQuantity"]["value"] == 41
    assert after["ETag"] != before["ETag"]
    assert after["ETag"] == f'W/"{after.json()["meta"]["versionId"]}"'
    assert api.get(f"{BASE}Observation/plt-{final.pk}", HTTP_IF_NONE_MATCH=after["ETag"]).status_code == 304


def test_the_id_of_a_later_version_redirects_to_the_observation_it_belongs_to(api, order) -> None:
    final = lab_count(order, "24h", 14)
    correction = lab_count(order, "24h", 41)

    read = api.get(f"{BASE}Observation/plt-{correction.pk}?_format=json")
    versions = api.get(f"{BASE}Observation/plt-{correction.pk}/_history")

    assert read.status_code == 301
    assert read["Location"] == f"http://testserver{BASE}Observation/plt-{final.pk}?_format=json"
    assert versions.status_code == 301
    assert versions["Location"] == f"http://testserver{BASE}Observation/plt-{final.pk}/_history"
    assert get(api, f"Observation?_id=plt-{correction.pk}")["entry"][0]["resource"]["id"] == f"plt-{final.pk}"


def test_searches_return_the_current_version_only(api, order) -> None:
    final_24h = lab_count(order, "24h", 14)
    lab_count(order, "24h", 41)
    preliminary_48h = lab_count(order, "48h", 60, preliminary=True, hours=48)

    found = {
        status: [e["resource"]["id"] for e in get(api, f"Observation?code=777-3&status={status}").get("entry", [])]
        for status in ("preliminary", "final", "corrected", "entered-in-error")
    }
    everything = get(api, f"Observation?code=777-3&subject=Patient/{order.patient_id}")

    assert found == {
        "preliminary": [f"plt-{preliminary_48h.pk}"],
        "final": [],
        "corrected": [f"plt-{final_24h.pk}"],
        "entered-in-error": [],
    }
    assert [e["resource"]["id"] for e in everything["entry"]] == [f"plt-{final_24h.pk}", f"plt-{preliminary_48h.pk}"]
    assert everything["total"] == 2


def test_a_withdrawn_result_is_entered_in_error_with_its_reason_and_its_final_version_kept(api, order, nurse) -> None:
    final = lab_count(order, "24h", 14)
    withdraw_platelet_result(result_id=final.pk, user=nurse, reason="Another patient's sample")

    observation = get(api, f"Observation/plt-{final.pk}")
    versions = history(api, f"plt-{final.pk}")

    assert observation["status"] == "entered-in-error"
    assert {"text": "Entered in error: Another patient's sample"} in observation["note"]
    assert [v["status"] for v in versions] == ["entered-in-error", "final"]
    assert [e["resource"]["id"] for e in get(api, "Observation?status=entered-in-error")["entry"]] == [
        f"plt-{final.pk}"
    ]


def test_a_staff_correction_of_a_typed_count_carries_its_reason(api, order, nurse) -> None:
    first = order.infusions.get(day_number=1)
    typed = record_platelet_result(
        check_id=PlateletCheck.objects.get(order=order, label="24h").pk,
        platelet_count=14,
        collected_at=first.started_at + timedelta(hours=24),
        user=nurse,
    )
    correct_platelet_result(result_id=typed.pk, user=nurse, reason="Digits swapped when typed", platelet_count=41)

    observation = get(api, f"Observation/plt-{typed.pk}")

    assert (observation["status"], observation["valueQuantity"]["value"]) == ("corrected", 41)
    assert {"text": "Corrected: Digits swapped when typed"} in observation["note"]
    assert [v["valueQuantity"]["value"] for v in history(api, f"plt-{typed.pk}")] == [41, 14]


def test_two_preliminary_counts_made_final_by_one_result_become_one_observation_under_the_older_id(api, order) -> None:
    older = lab_count(order, "24h", 18, preliminary=True)
    younger = lab_count(order, "24h", 19, preliminary=True)
    lab_count(order, "24h", 21)

    moved = api.get(f"{BASE}Observation/plt-{younger.pk}")
    versions = history(api, f"plt-{older.pk}")

    assert moved.status_code == 301
    assert moved["Location"].endswith(f"/Observation/plt-{older.pk}")
    assert [(v["status"], v["valueQuantity"]["value"]) for v in versions] == [
        ("final", 21),
        ("preliminary", 19),
        ("preliminary", 18),
    ]


def test_the_task_of_a_corrected_check_points_to_the_observation_by_its_first_id(api, order) -> None:
    final = lab_count(order, "24h", 14)
    lab_count(order, "24h", 41)

    task = api.get(f"{BASE}Task/{final.platelet_check_id}").json()

    assert task["status"] == "completed"
    assert task["output"][0]["valueReference"] == {"reference": f"Observation/plt-{final.pk}"}


def test_other_resources_have_no_history_and_say_so(api, order) -> None:
    response = api.get(f"{BASE}Patient/{order.patient_id}/_history")

    assert response.status_code == 404
    assert "only platelet count Observations" in response.json()["issue"][0]["diagnostics"]
    assert api.get(f"{BASE}Observation/plt-999999/_history").status_code == 404


def test_the_capability_statement_offers_history_and_vread_for_observations_only(api) -> None:
    statement = api.get(f"{BASE}metadata").json()
    interactions = {
        resource["type"]: {i["code"] for i in resource["interaction"]} for resource in statement["rest"][0]["resource"]
    }

    assert interactions["Observation"] == {"read", "search-type", "vread", "history-instance"}
    assert interactions["Patient"] == {"read", "search-type"}
