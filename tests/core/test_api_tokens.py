"""API tokens that end (SECURITY.md "Sign-in and API tokens", docs/api.md "Authentication and roles")."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from knox.models import AuthToken
from rest_framework.test import APIClient

from core import tokens
from core.roles import INTERFACE_ACCOUNT_GROUP
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.db

PATIENTS = "/api/v1/patients/"


def token_client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


@pytest.fixture
def lab_interface(role_user):
    account = role_user(None, username="lab-interface")
    account.groups.add(Group.objects.get(name=INTERFACE_ACCOUNT_GROUP))
    return account


def test_a_staff_token_is_issued_for_one_shift_and_its_end_is_in_the_answer(api_client, nurse):
    before = timezone.now()
    answer = api_client.post("/api/v1/auth/token/", {"username": "nurse1", "password": TEST_PASSWORD})

    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"token", "expiry"}
    stored = AuthToken.objects.get(user=nurse)
    assert stored.expiry - stored.created == pytest.approx(timedelta(hours=12), abs=timedelta(seconds=1))
    assert parse_datetime(body["expiry"]) == stored.expiry
    assert before + timedelta(hours=12) <= stored.expiry <= timezone.now() + timedelta(hours=12)


def test_only_a_digest_of_the_token_is_stored(api_client, nurse):
    secret = api_client.post("/api/v1/auth/token/", {"username": "nurse1", "password": TEST_PASSWORD}).json()["token"]

    stored = AuthToken.objects.get(user=nurse)
    assert secret not in stored.digest
    assert len(stored.digest) == 128  # SHA-512, hex


def test_an_interface_account_s_token_lives_thirty_days(lab_interface):
    instance, _ = tokens.issue_token(lab_interface)

    assert instance.expiry - instance.created == pytest.approx(timedelta(hours=720), abs=timedelta(seconds=1))


def test_token_lifetimes_are_hospital_settings(settings, nurse, lab_interface):
    settings.IVIG_API_TOKEN_HOURS = 8
    settings.IVIG_INTERFACE_TOKEN_HOURS = 48

    staff_token, _ = tokens.issue_token(nurse)
    interface_token, _ = tokens.issue_token(lab_interface)

    assert staff_token.expiry - staff_token.created == pytest.approx(timedelta(hours=8), abs=timedelta(seconds=1))
    assert interface_token.expiry - interface_token.created == pytest.approx(
        timedelta(hours=48), abs=timedelta(seconds=1)
    )


def test_a_token_past_its_lifetime_gets_401_saying_it_expired(nurse):
    instance, secret = tokens.issue_token(nurse)
    api = token_client(secret)
    assert api.get(PATIENTS).status_code == 200

    # Twelve hours and a second later.
    AuthToken.objects.filter(pk=instance.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    answer = api.get(PATIENTS)

    assert answer.status_code == 401
    assert answer["WWW-Authenticate"] == "Token"
    assert answer.json()["code"] == "token_expired"
    assert answer.json()["detail"].startswith("This token has expired")
    assert api.get(PATIENTS).json()["code"] == "token_expired"  # every time, not only the first


def test_an_expired_token_is_refused_by_the_fhir_api_too(nurse):
    instance, secret = tokens.issue_token(nurse)
    AuthToken.objects.filter(pk=instance.pk).update(expiry=timezone.now() - timedelta(seconds=1))

    assert token_client(secret).get("/fhir/R4/Patient").status_code == 401


def test_a_password_change_ends_every_token_of_the_account(nurse):
    _, phone = tokens.issue_token(nurse)
    _, script = tokens.issue_token(nurse)

    nurse.set_password("a-new-long-password-2026")
    nurse.save()

    assert token_client(phone).get(PATIENTS).status_code == 401
    assert token_client(script).get(PATIENTS).json()["detail"] == "Invalid token."
    assert not AuthToken.objects.filter(user=nurse).exists()


def test_a_password_change_in_the_admin_ends_the_account_s_tokens(nurse, role_user):
    it_admin = role_user(None, username="it1", is_staff=True, is_superuser=True)
    it_client = Client()
    it_client.force_login(it_admin)
    _, secret = tokens.issue_token(nurse)

    answer = it_client.post(
        f"/admin/auth/user/{nurse.pk}/password/",
        {"password1": "a-new-long-password-2026", "password2": "a-new-long-password-2026"},
    )

    assert answer.status_code == 302
    assert token_client(secret).get(PATIENTS).status_code == 401


def test_a_password_change_ends_only_that_account_s_tokens(nurse, pharmacist):
    _, nurse_secret = tokens.issue_token(nurse)
    _, pharmacist_secret = tokens.issue_token(pharmacist)

    nurse.set_password("a-new-long-password-2026")
    nurse.save()

    assert token_client(nurse_secret).get(PATIENTS).status_code == 401
    assert token_client(pharmacist_secret).get(PATIENTS).status_code == 200


def test_saving_an_account_without_a_credential_change_keeps_its_tokens(nurse):
    _, secret = tokens.issue_token(nurse)

    nurse.first_name = "Nina"
    nurse.save()
    nurse.last_login = timezone.now()
    nurse.save(update_fields=["last_login"])

    assert token_client(secret).get(PATIENTS).status_code == 200


def test_django_rehashing_an_unchanged_password_at_sign_in_keeps_the_tokens(settings, client, nurse):
    _, secret = tokens.issue_token(nurse)
    old_hash = nurse.password  # MD5, the tests' fast hasher
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]

    assert client.post("/login/", {"username": "nurse1", "password": TEST_PASSWORD}).status_code == 302

    nurse.refresh_from_db()
    assert nurse.password != old_hash  # upgraded to the preferred hasher
    assert token_client(secret).get(PATIENTS).status_code == 200


def test_deactivating_an_account_ends_its_tokens(nurse):
    _, secret = tokens.issue_token(nurse)

    nurse.is_active = False
    nurse.save()

    assert not AuthToken.objects.filter(user=nurse).exists()
    assert token_client(secret).get(PATIENTS).status_code == 401


def test_a_deactivated_account_gets_no_token(api_client, nurse):
    type(nurse).objects.filter(pk=nurse.pk).update(is_active=False)

    answer = api_client.post("/api/v1/auth/token/", {"username": "nurse1", "password": TEST_PASSWORD})

    assert answer.status_code == 400
    assert not AuthToken.objects.exists()


def test_a_user_lists_their_live_tokens_without_their_secrets(nurse, pharmacist):
    current, secret = tokens.issue_token(nurse)
    other, other_secret = tokens.issue_token(nurse)
    expired, _ = tokens.issue_token(nurse)
    AuthToken.objects.filter(pk=expired.pk).update(expiry=timezone.now() - timedelta(minutes=1))
    tokens.issue_token(pharmacist)

    page = token_client(secret).get("/api/v1/auth/tokens/").json()
    listed = page["results"]

    assert sorted((row["token_key"], row["current"]) for row in listed) == sorted(
        [(current.token_key, True), (other.token_key, False)]
    )
    assert all(set(row) == {"token_key", "created", "expiry", "current"} for row in listed)
    assert page["count"] == 2
    assert other_secret not in str(page)


def test_a_user_revokes_one_of_their_tokens_and_it_is_refused_from_its_next_request(nurse):
    _, secret = tokens.issue_token(nurse)
    lost, lost_secret = tokens.issue_token(nurse)

    answer = token_client(secret).delete(f"/api/v1/auth/tokens/{lost.token_key}/")

    assert answer.status_code == 204
    assert token_client(lost_secret).get(PATIENTS).status_code == 401
    assert token_client(secret).get(PATIENTS).status_code == 200


def test_a_user_cannot_revoke_another_user_s_token(nurse, pharmacist):
    _, secret = tokens.issue_token(nurse)
    theirs, their_secret = tokens.issue_token(pharmacist)

    answer = token_client(secret).delete(f"/api/v1/auth/tokens/{theirs.token_key}/")

    assert answer.status_code == 404
    assert token_client(their_secret).get(PATIENTS).status_code == 200


def test_the_account_page_lists_the_user_s_tokens_and_ends_one(client, nurse):
    kept, kept_secret = tokens.issue_token(nurse)
    lost, lost_secret = tokens.issue_token(nurse)
    client.force_login(nurse)

    page = client.get("/account/tokens/").content.decode()
    assert kept.token_key in page and lost.token_key in page
    answer = client.post("/account/tokens/", {"token_key": lost.token_key}, follow=True)

    assert "API token ended" in answer.content.decode()
    assert token_client(lost_secret).get(PATIENTS).status_code == 401
    assert token_client(kept_secret).get(PATIENTS).status_code == 200


def test_the_account_page_ends_all_the_user_s_tokens(client, nurse):
    _, first = tokens.issue_token(nurse)
    _, second = tokens.issue_token(nurse)
    client.force_login(nurse)

    answer = client.post("/account/tokens/", {"all": "1"}, follow=True)

    assert "Ended 2 API tokens." in answer.content.decode()
    assert [token_client(s).get(PATIENTS).status_code for s in (first, second)] == [401, 401]


def test_it_revokes_a_token_in_the_admin_and_cannot_mint_one_there(nurse, role_user):
    it_admin = role_user(None, username="it1", is_staff=True, is_superuser=True)
    it_client = Client()
    it_client.force_login(it_admin)
    instance, secret = tokens.issue_token(nurse)

    assert nurse.username in it_client.get("/admin/knox/authtoken/").content.decode()
    assert it_client.get("/admin/knox/authtoken/add/").status_code == 403
    answer = it_client.post(
        "/admin/knox/authtoken/",
        {"action": "delete_selected", "_selected_action": [instance.pk], "post": "yes"},
    )

    assert answer.status_code == 302
    assert token_client(secret).get(PATIENTS).status_code == 401


def test_it_issues_an_interface_account_its_token_from_the_command_line(lab_interface):
    out, err = StringIO(), StringIO()

    call_command("issue_api_token", "lab-interface", stdout=out, stderr=err)

    secret = out.getvalue().strip()
    assert "valid until" in err.getvalue()
    stored = AuthToken.objects.get(user=lab_interface)
    assert stored.token_key == secret[: len(stored.token_key)]
    assert stored.expiry - stored.created == pytest.approx(timedelta(hours=720), abs=timedelta(seconds=1))


def test_housekeeping_deletes_tokens_long_expired_and_keeps_the_rest(nurse):
    live, _ = tokens.issue_token(nurse)
    recent, _ = tokens.issue_token(nurse)
    old, _ = tokens.issue_token(nurse)
    AuthToken.objects.filter(pk=recent.pk).update(expiry=timezone.now() - timedelta(days=1))
    AuthToken.objects.filter(pk=old.pk).update(expiry=timezone.now() - timedelta(days=8))

    from core.tasks import delete_expired_api_tokens

    delete_expired_api_tokens()
    delete_expired_api_tokens()  # a second run finds nothing more

    assert set(AuthToken.objects.values_list("pk", flat=True)) == {live.pk, recent.pk}
