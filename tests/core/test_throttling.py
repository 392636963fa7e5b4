"""API throttles (docs/api.md "Throttling"): 429 with Retry-After and a code, counted in the shared cache."""

from __future__ import annotations

import ipaddress

import pytest
from django.contrib.auth.models import Group

from core import tokens
from core.roles import INTERFACE_ACCOUNT_GROUP
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.db

PATIENTS = "/api/v1/patients/"


@pytest.fixture
def rates(settings):
    def set_rates(**scopes: str) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **scopes},
        }

    return set_rates


def test_the_token_endpoint_answers_429_to_the_eleventh_request_a_minute_from_one_source(api_client, nurse):
    answers = [
        api_client.post("/api/v1/auth/token/", {"username": "nurse1", "password": TEST_PASSWORD}).status_code
        for _ in range(11)
    ]

    assert answers == [200] * 10 + [429]


def test_a_throttled_answer_says_when_to_retry_in_the_api_s_error_shape(api_client, nurse):
    for _ in range(10):
        api_client.post("/api/v1/auth/token/", {"username": "nurse1", "password": TEST_PASSWORD})

    answer = api_client.post("/api/v1/auth/token/", {"username": "nurse1", "password": TEST_PASSWORD})

    assert answer.status_code == 429
    assert answer.json()["code"] == "throttled"
    assert answer.json()["detail"].startswith("Request was throttled.")
    assert 1 <= int(answer["Retry-After"]) <= 60


def test_the_token_endpoint_throttle_counts_each_source_apart(api_client, nurse):
    for _ in range(10):
        api_client.post("/api/v1/auth/token/", {"username": "nurse1", "password": TEST_PASSWORD})

    elsewhere = api_client.post(
        "/api/v1/auth/token/", {"username": "nurse1", "password": TEST_PASSWORD}, REMOTE_ADDR="198.51.100.20"
    )

    assert elsewhere.status_code == 200


def test_behind_the_trusted_proxy_the_throttle_counts_clients_not_the_proxy(api_client, nurse, settings):
    settings.TRUSTED_PROXY_NETWORKS = [ipaddress.ip_network("10.0.0.5/32")]
    credentials = {"username": "nurse1", "password": TEST_PASSWORD}
    for _ in range(10):
        api_client.post("/api/v1/auth/token/", credentials, REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.7")

    first = api_client.post(
        "/api/v1/auth/token/", credentials, REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.7"
    )
    other = api_client.post(
        "/api/v1/auth/token/", credentials, REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.8"
    )

    assert (first.status_code, other.status_code) == (429, 200)


def test_a_user_beyond_their_rate_gets_429_and_another_user_is_not_slowed(rates, client_for, nurse, pharmacist):
    rates(user="3/minute")
    nurse_api = client_for(nurse)

    answers = [nurse_api.get(PATIENTS).status_code for _ in range(4)]

    assert answers == [200, 200, 200, 429]
    assert client_for(pharmacist).get(PATIENTS).status_code == 200


def test_a_user_s_rate_is_counted_across_all_their_tokens(rates, nurse):
    rates(user="2/minute")
    from rest_framework.test import APIClient

    answers = []
    for _ in range(3):
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {tokens.issue_token(nurse)[1]}")
        answers.append(api.get(PATIENTS).status_code)

    assert answers == [200, 200, 429]


def test_an_interface_account_has_its_own_higher_rate(rates, client_for, role_user):
    rates(user="2/minute", interface="4/minute")
    engine = role_user("nurse", username="lab-interface")  # the role lets it read patients
    engine.groups.add(Group.objects.get(name=INTERFACE_ACCOUNT_GROUP))
    api = client_for(engine)

    answers = [api.get(PATIENTS).status_code for _ in range(5)]

    assert answers == [200, 200, 200, 200, 429]
