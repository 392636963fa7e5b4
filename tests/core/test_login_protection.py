"""The password-guessing attack on the three doors (SECURITY.md "Sign-in and API tokens"): the sign-in page, the
admin's sign-in and POST /api/v1/auth/token/. Defaults: the 5th failure locks for 15 minutes."""

from __future__ import annotations

import ipaddress

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.test import Client
from knox.models import AuthToken

from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.db

WRONG = "not-her-password"
COOL_OFF_SECONDS = "900"


def page_sign_in(client, username, password, **extra):
    return client.post("/login/", {"username": username, "password": password}, **extra)


def admin_sign_in(client, username, password, **extra):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password}, **extra)


def api_sign_in(client, username, password, **extra):
    return client.post("/api/v1/auth/token/", {"username": username, "password": password}, **extra)


@pytest.fixture
def it_admin(role_user):
    return role_user(None, username="it1", is_staff=True, is_superuser=True)


@pytest.fixture
def it_client(it_admin) -> Client:
    client = Client()
    client.force_login(it_admin)
    return client


def test_the_fifth_wrong_password_on_the_sign_in_page_locks_the_account_and_the_sixth_is_refused(client, nurse):
    answers = [page_sign_in(client, "nurse1", WRONG) for _ in range(6)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 200, 429, 429]
    assert "did not match" in answers[3].content.decode()
    locked = answers[5]
    assert "Sign-in locked" in locked.content.decode()
    assert "hospital IT can unlock it sooner" in locked.content.decode()
    assert locked["Retry-After"] == COOL_OFF_SECONDS


def test_the_right_password_is_refused_on_the_sign_in_page_while_the_account_is_locked(client, nurse):
    for _ in range(5):
        page_sign_in(client, "nurse1", WRONG)

    answer = page_sign_in(client, "nurse1", TEST_PASSWORD)

    assert answer.status_code == 429
    assert "_auth_user_id" not in client.session
    assert not AccessLog.objects.filter(username="nurse1").exists()  # no successful sign-in recorded


def test_the_admin_sign_in_locks_after_five_wrong_passwords_and_refuses_the_right_one(client, it_admin):
    answers = [admin_sign_in(client, "it1", WRONG).status_code for _ in range(6)]
    assert answers == [200, 200, 200, 200, 429, 429]

    answer = admin_sign_in(client, "it1", TEST_PASSWORD)

    assert answer.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_token_endpoint_locks_after_five_wrong_passwords_with_a_json_error_and_a_code(api_client, nurse):
    answers = [api_sign_in(api_client, "nurse1", WRONG) for _ in range(6)]

    assert [answer.status_code for answer in answers] == [400, 400, 400, 400, 429, 429]
    assert answers[0].json() == {"non_field_errors": ["Unable to log in with provided credentials."]}
    body = answers[5].json()
    assert body["code"] == "locked_out"
    assert "Too many failed sign-ins" in body["detail"]
    assert answers[5]["Retry-After"] == COOL_OFF_SECONDS


def test_the_token_endpoint_issues_no_token_for_the_right_password_while_locked(api_client, nurse):
    for _ in range(5):
        api_sign_in(api_client, "nurse1", WRONG)

    answer = api_sign_in(api_client, "nurse1", TEST_PASSWORD)

    assert answer.status_code == 429
    assert answer.json()["code"] == "locked_out"
    assert "token" not in answer.json()
    assert not AuthToken.objects.exists()


def test_failures_on_one_door_count_on_the_others(client, api_client, nurse):
    for _ in range(3):
        page_sign_in(client, "nurse1", WRONG)
    for _ in range(2):
        api_sign_in(api_client, "nurse1", WRONG)

    assert api_sign_in(api_client, "nurse1", TEST_PASSWORD).status_code == 429


def test_the_account_is_locked_wherever_the_guesses_come_from(client, nurse):
    for n in range(5):
        page_sign_in(client, "nurse1", WRONG, REMOTE_ADDR=f"198.51.100.{n}")

    assert page_sign_in(client, "nurse1", TEST_PASSWORD, REMOTE_ADDR="198.51.100.77").status_code == 429


def test_a_source_guessing_many_accounts_is_locked_and_other_sources_are_not(client, role_user):
    role_user("nurse", username="nurse2")
    for n in range(5):
        page_sign_in(client, f"guess{n}", WRONG, REMOTE_ADDR="203.0.113.7")

    assert page_sign_in(client, "nurse2", TEST_PASSWORD, REMOTE_ADDR="203.0.113.7").status_code == 429
    assert page_sign_in(Client(), "nurse2", TEST_PASSWORD, REMOTE_ADDR="203.0.113.8").status_code == 302


def test_a_guesser_cannot_escape_the_source_lock_by_writing_x_forwarded_for(client, role_user):
    role_user("nurse", username="nurse2")
    for n in range(5):
        page_sign_in(client, f"guess{n}", WRONG, REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")

    answer = page_sign_in(client, "nurse2", TEST_PASSWORD, REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="192.0.2.99")

    assert answer.status_code == 429


def test_behind_the_trusted_proxy_each_client_is_counted_on_its_own(client, role_user, settings):
    settings.TRUSTED_PROXY_NETWORKS = [ipaddress.ip_network("10.0.0.5/32")]
    role_user("nurse", username="nurse2")
    via_proxy = {"REMOTE_ADDR": "10.0.0.5"}
    for n in range(5):
        page_sign_in(client, f"guess{n}", WRONG, HTTP_X_FORWARDED_FOR="203.0.113.7", **via_proxy)

    assert AccessAttempt.objects.get(username="guess0").ip_address == "203.0.113.7"
    locked = page_sign_in(client, "nurse2", TEST_PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.7", **via_proxy)
    assert locked.status_code == 429
    colleague = page_sign_in(Client(), "nurse2", TEST_PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.8", **via_proxy)
    assert colleague.status_code == 302


def test_it_unlocks_the_account_in_the_admin_and_the_nurse_signs_in(client, nurse, it_client):
    for _ in range(5):
        page_sign_in(client, "nurse1", WRONG)
    assert page_sign_in(client, "nurse1", TEST_PASSWORD).status_code == 429
    attempt = AccessAttempt.objects.get(username="nurse1")

    listed = it_client.get("/admin/axes/accessattempt/?q=nurse1")
    assert listed.status_code == 200
    assert "Locked Out" in listed.content.decode()
    unlocked = it_client.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert unlocked.status_code == 302

    answer = page_sign_in(client, "nurse1", TEST_PASSWORD)
    assert answer.status_code == 302
    assert client.session["_auth_user_id"] == str(nurse.pk)


def test_a_successful_sign_in_clears_the_account_s_earlier_failures(client, nurse):
    for _ in range(4):
        page_sign_in(client, "nurse1", WRONG)
    assert page_sign_in(client, "nurse1", TEST_PASSWORD).status_code == 302
    client.logout()

    assert page_sign_in(client, "nurse1", WRONG).status_code == 200  # one failure, not a fifth


def test_every_sign_in_and_failure_is_in_the_read_only_audit(client, api_client, nurse, it_client):
    page_sign_in(client, "nurse1", WRONG)
    page_sign_in(client, "nurse1", TEST_PASSWORD)
    api_sign_in(api_client, "nurse1", TEST_PASSWORD)

    nurse_log = AccessLog.objects.filter(username="nurse1").order_by("attempt_time")
    assert list(nurse_log.values_list("username", "path_info")) == [
        ("nurse1", "/login/"),
        ("nurse1", "/api/v1/auth/token/"),
    ]
    assert list(AccessFailureLog.objects.values_list("username", "path_info")) == [("nurse1", "/login/")]
    success = nurse_log.first()
    assert it_client.get("/admin/axes/accesslog/").status_code == 200
    assert it_client.get(f"/admin/axes/accesslog/{success.pk}/delete/").status_code == 403
    assert it_client.get("/admin/axes/accessfailurelog/").status_code == 200
    assert nurse_log.count() == 2


def test_the_stored_attempt_never_holds_the_password(client, nurse):
    page_sign_in(client, "nurse1", "Sup3r-secret-guess")

    assert "Sup3r-secret-guess" not in AccessAttempt.objects.get(username="nurse1").post_data
