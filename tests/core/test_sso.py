"""Single sign-on against a local OpenID Connect provider running in the test (tests/core/oidc_provider.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.utils.html import escape

from core.models import SingleSignOnIdentity
from core.sso import NO_MAPPED_GROUP, UNVERIFIED_ANSWER
from tests.core.oidc_provider import CLIENT_ID, CLIENT_SECRET, LocalOIDCProvider, Person
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.db

GROUP_ROLES = {"ivig-nurses": "nurse", "ivig-haem": "hematologist", "ivig-pharm": "pharmacist"}


@pytest.fixture
def provider(db: Any) -> Iterator[LocalOIDCProvider]:
    provider = LocalOIDCProvider()
    provider.start()
    sso_settings = override_settings(
        IVIG_SSO_ENABLED=True,
        OIDC_RP_CLIENT_ID=CLIENT_ID,
        OIDC_RP_CLIENT_SECRET=CLIENT_SECRET,
        OIDC_OP_DISCOVERY_ENDPOINT=provider.discovery_url,
        IVIG_OIDC_GROUP_ROLES=GROUP_ROLES,
        AUTHENTICATION_BACKENDS=["core.sso.HospitalOIDCBackend", "django.contrib.auth.backends.ModelBackend"],
    )
    with sso_settings:
        yield provider
    provider.stop()


def sign_in_through_the_provider(client: Any, provider: LocalOIDCProvider, person: Person, next_url: str = "/") -> Any:
    """The browser's round trip: our start page, the provider's authorize page, our callback."""
    provider.person = person
    start = client.get(f"/oidc/authenticate/?next={next_url}")
    assert start.status_code == 302 and start["Location"].startswith(f"{provider.url}/authorize?")
    at_provider = requests.get(start["Location"], allow_redirects=False, timeout=5)
    callback = urlparse(at_provider.headers["Location"])
    assert callback.path == "/oidc/callback/"
    return client.get(f"{callback.path}?{callback.query}")


def test_a_hospital_account_in_the_nurses_group_signs_in_as_a_nurse(client, provider) -> None:
    response = sign_in_through_the_provider(
        client, provider, Person(sub="a1b2", preferred_username="sam.nurse", groups=["ivig-nurses", "all-staff"])
    )

    assert response.status_code == 302
    user = get_user_model().objects.get(username="sam.nurse")
    assert list(user.groups.values_list("name", flat=True)) == ["nurse"]
    assert (user.first_name, user.last_name, user.email) == ("Sam", "Sign-On", "sam@hospital.example")
    assert not user.has_usable_password()
    identity = SingleSignOnIdentity.objects.get(user=user)
    assert (identity.issuer, identity.subject) == (provider.url, "a1b2")
    assert client.get("/", follow=True).redirect_chain[-1][0] == "/nurse/"


def test_each_sign_in_sets_the_roles_the_groups_give_today(client, provider) -> None:
    person = Person(sub="c3d4", preferred_username="kim", groups=["ivig-nurses"])
    sign_in_through_the_provider(client, provider, person)
    client.post("/logout/")

    person.groups = ["ivig-pharm"]
    sign_in_through_the_provider(client, provider, person)

    user = get_user_model().objects.get(username="kim")
    assert list(user.groups.values_list("name", flat=True)) == ["pharmacist"]
    assert get_user_model().objects.filter(username="kim").count() == 1


def test_a_hospital_account_in_no_mapped_group_is_refused_with_a_clear_page(client, provider) -> None:
    response = sign_in_through_the_provider(
        client, provider, Person(sub="e5f6", preferred_username="visitor", groups=["all-staff"])
    )

    assert response["Location"] == "/sso/refused/"
    page = client.get("/sso/refused/")
    assert page.status_code == 403
    assert escape(NO_MAPPED_GROUP) in page.content.decode()
    assert not get_user_model().objects.filter(username="visitor").exists()
    assert client.get("/nurse/").status_code == 302  # not signed in


def test_an_account_whose_groups_were_all_withdrawn_can_no_longer_sign_in(client, provider) -> None:
    person = Person(sub="g7h8", preferred_username="leaver", groups=["ivig-nurses"])
    sign_in_through_the_provider(client, provider, person)
    client.post("/logout/")

    person.groups = []
    response = sign_in_through_the_provider(client, provider, person)

    assert response["Location"] == "/sso/refused/"
    assert client.get("/nurse/").status_code == 302


def test_a_hematologist_signing_in_through_the_provider_still_gives_our_code_by_default(client, provider) -> None:
    sign_in_through_the_provider(
        client, provider, Person(sub="i9", preferred_username="dr.h", groups=["ivig-haem"], amr=["pwd", "mfa"])
    )
    assert client.get("/hematology/")["Location"].startswith("/account/two-factor/setup/")


@override_settings(IVIG_OIDC_TRUST_IDP_MFA=True)
def test_when_the_providers_mfa_is_trusted_a_sign_in_with_mfa_needs_no_second_code(client, provider) -> None:
    sign_in_through_the_provider(
        client, provider, Person(sub="j10", preferred_username="dr.m", groups=["ivig-haem"], amr=["pwd", "mfa"])
    )
    assert client.get("/hematology/").status_code == 200


@override_settings(IVIG_OIDC_TRUST_IDP_MFA=True)
def test_when_the_providers_mfa_is_trusted_a_password_only_sign_in_still_gives_our_code(client, provider) -> None:
    sign_in_through_the_provider(
        client, provider, Person(sub="k11", preferred_username="dr.p", groups=["ivig-haem"], amr=["pwd"])
    )
    assert client.get("/hematology/")["Location"].startswith("/account/two-factor/setup/")


def test_an_id_token_minted_for_another_application_signs_no_one_in(client, provider) -> None:
    provider.audience = "another-app"
    response = sign_in_through_the_provider(
        client, provider, Person(sub="l12", preferred_username="mallory", groups=["ivig-pharm"])
    )
    assert response["Location"] == "/sso/refused/"
    assert escape(UNVERIFIED_ANSWER) in client.get("/sso/refused/").content.decode()
    assert not get_user_model().objects.filter(username="mallory").exists()


def test_a_local_account_of_the_same_name_is_never_taken_over(client, provider) -> None:
    local = UserFactory(username="pat", role="pharmacist")
    response = sign_in_through_the_provider(
        client, provider, Person(sub="m13", preferred_username="pat", groups=["ivig-nurses"])
    )
    assert response["Location"] == "/sso/refused/"
    assert escape("already has the username 'pat'") in client.get("/sso/refused/").content.decode()
    assert list(local.groups.values_list("name", flat=True)) == ["pharmacist"]
    assert not SingleSignOnIdentity.objects.exists()


def test_an_unreachable_provider_gets_a_clear_page_and_password_sign_in_still_works(client, nurse) -> None:
    with override_settings(
        IVIG_SSO_ENABLED=True,
        OIDC_RP_CLIENT_ID=CLIENT_ID,
        OIDC_RP_CLIENT_SECRET=CLIENT_SECRET,
        OIDC_OP_DISCOVERY_ENDPOINT="http://127.0.0.1:9/.well-known/openid-configuration",
        AUTHENTICATION_BACKENDS=["core.sso.HospitalOIDCBackend", "django.contrib.auth.backends.ModelBackend"],
    ):
        assert client.get("/oidc/authenticate/")["Location"] == "/sso/refused/"
        assert b"could not be reached" in client.get("/sso/refused/").content
        assert client.login(username="nurse1", password=TEST_PASSWORD)


def test_single_sign_on_answers_404_when_it_is_not_configured(client, db) -> None:
    assert client.get("/oidc/authenticate/").status_code == 404
    assert b"hospital account" not in client.get("/login/").content


def test_the_login_page_offers_the_hospital_account_when_configured(client, provider) -> None:
    assert b"Sign in with your hospital account" in client.get("/login/").content
