from __future__ import annotations

import pytest

from patients.models import Patient
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.db

NEW_PATIENT = {"mrn": "A100", "given_name": "Ann", "family_name": "Able", "birth_date": "1970-05-01", "sex": "female"}


def test_anonymous_requests_get_401_with_a_token_challenge(api_client, db) -> None:
    response = api_client.get("/api/v1/patients/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_token_is_issued_for_valid_credentials_and_authenticates(api_client, nurse) -> None:
    response = api_client.post("/api/v1/auth/token/", {"username": "nurse1", "password": TEST_PASSWORD})
    assert response.status_code == 200
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert api_client.get("/api/v1/patients/").status_code == 200


def test_wrong_credentials_get_400_and_no_token(api_client, nurse) -> None:
    response = api_client.post("/api/v1/auth/token/", {"username": "nurse1", "password": "wrong"})
    assert response.status_code == 400
    assert "token" not in response.json()


def test_a_pharmacist_may_read_patients_but_not_create_them(client_for, pharmacist) -> None:
    client = client_for(pharmacist)
    assert client.get("/api/v1/patients/").status_code == 200
    response = client.post("/api/v1/patients/", NEW_PATIENT)
    assert response.status_code == 403
    assert Patient.objects.count() == 0


def test_a_user_without_a_role_gets_403_even_for_reading(client_for, role_user) -> None:
    assert client_for(role_user(None)).get("/api/v1/patients/").status_code == 403


def test_a_nurse_may_create_a_patient(client_for, nurse) -> None:
    response = client_for(nurse).post("/api/v1/patients/", NEW_PATIENT)
    assert response.status_code == 201, response.json()
    assert Patient.objects.get().mrn == "A100"


def test_session_authentication_works_for_browser_pages_calling_the_api(client, hematologist) -> None:
    client.force_login(hematologist)
    assert client.get("/api/v1/patients/").status_code == 200


def test_lists_are_paginated_with_page_size_capped_at_200(client_for, nurse) -> None:
    body = client_for(nurse).get("/api/v1/patients/?page_size=500").json()
    assert set(body) == {"count", "next", "previous", "results"}


def test_an_unknown_token_gets_401(api_client, db) -> None:
    api_client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    response = api_client.get("/api/v1/patients/")
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."


def test_a_deactivated_account_is_refused_on_its_next_request(client_for, nurse) -> None:
    api = client_for(nurse)
    assert api.get("/api/v1/patients/").status_code == 200
    type(nurse).objects.filter(pk=nurse.pk).update(is_active=False)  # not through save(): nothing to invalidate
    response = api.get("/api/v1/patients/")
    assert response.status_code == 401
    assert response.json()["detail"] == "User inactive or deleted."


def test_a_deleted_token_is_refused_on_its_next_request(client_for, nurse) -> None:
    from knox.models import AuthToken

    api = client_for(nurse)
    assert api.get("/api/v1/patients/").status_code == 200
    AuthToken.objects.filter(user=nurse).delete()
    assert api.get("/api/v1/patients/").status_code == 401


def test_a_role_removed_in_the_admin_is_refused_on_the_next_request(client_for, nurse) -> None:
    api = client_for(nurse)
    assert api.get("/api/v1/patients/").status_code == 200
    nurse.groups.clear()
    assert api.get("/api/v1/patients/").status_code == 403
