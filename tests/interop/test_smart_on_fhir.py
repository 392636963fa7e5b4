"""SMART on FHIR: backend services (client credentials) and apps (authorization code with PKCE) read FHIR, and the
API, with Bearer tokens from /o/token/; scopes, expiry and revocation; the discovery document and the
CapabilityStatement's security section.

The client side is oauthlib's (the library django-oauth-toolkit is built on): its clients build the authorization
URL, the PKCE verifier and challenge, the token requests and the Bearer header, as a real SMART client would."""

from __future__ import annotations

import base64
from datetime import timedelta
from html import escape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from oauth2_provider.models import AccessToken, Application, Grant
from oauthlib.oauth2 import BackendApplicationClient, WebApplicationClient
from rest_framework.test import APIClient

from interop.models import SMARTTokenPatient
from monitoring.models import PlateletResult
from monitoring.services import record_platelet_result
from patients.models import Patient
from tests.factories import PatientFactory

pytestmark = pytest.mark.db

BASE = "/fhir/R4/"
SECRET = "s3cret-of-the-lab-interface-0123456789"
REDIRECT = "https://app.example.org/callback"
FORM = "application/x-www-form-urlencoded"
SERVER = "https://testserver"  # oauthlib's clients refuse plain http; the test client ignores the scheme


# --- Clients and tokens ------------------------------------------------------------------------------------


@pytest.fixture
def integration_account(role_user):
    """The account an integration acts as: IT gives it a clinical role."""
    return role_user("nurse", username="lab-interface")


def backend_application(user, name="Lab interface"):
    return Application.objects.create(
        name=name,
        user=user,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=SECRET,  # stored hashed
    )


@pytest.fixture
def backend(integration_account):
    return backend_application(integration_account)


@pytest.fixture
def smart_app(db):
    """A SMART app: a public client (no secret) of the authorization-code flow, so PKCE is what protects it."""
    return Application.objects.create(
        name="Platelet trends",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT,
        client_secret="",
    )


def basic_auth(application) -> str:
    return "Basic " + base64.b64encode(f"{application.client_id}:{SECRET}".encode()).decode()


def request_token(application, scope: str):
    """POST /o/token/ with client credentials, the client authenticated with HTTP Basic (client_secret_basic)."""
    body = BackendApplicationClient(application.client_id).prepare_request_body(scope=scope)
    return APIClient().post("/o/token/", body, content_type=FORM, HTTP_AUTHORIZATION=basic_auth(application))


def backend_token(application, scope: str = "system/*.read") -> str:
    response = request_token(application, scope)
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def outcome(response) -> dict:
    body = response.json()
    OperationOutcome.model_validate(body)
    return body["issue"][0]


@pytest.fixture
def two_patients(db):
    """Two patients, each with a body weight (an Observation)."""
    return PatientFactory(), PatientFactory()


# --- Backend services: client credentials -----------------------------------------------------------------


def test_a_backend_client_reads_one_patients_observations_with_a_bearer_token(backend, two_patients) -> None:
    patient, other = two_patients
    response = request_token(backend, "system/*.read")
    assert response.status_code == 200, response.content
    token = response.json()
    assert (token["token_type"], token["scope"], token["expires_in"]) == ("Bearer", "system/*.read", 3600)
    assert "refresh_token" not in token

    read = bearer(token["access_token"]).get(BASE + f"Observation?subject=Patient/{patient.pk}")

    assert read.status_code == 200, read.content
    bundle = read.json()
    Bundle.model_validate(bundle)
    subjects = {entry["resource"]["subject"]["reference"] for entry in bundle["entry"]}
    assert subjects == {f"Patient/{patient.pk}"}


def test_the_token_acts_as_the_applications_account_whose_role_still_decides(
    backend, integration_account, two_patients
) -> None:
    token = backend_token(backend)
    assert AccessToken.objects.get(application=backend).user == integration_account
    api = bearer(token)
    assert api.get(BASE + "Patient").status_code == 200
    integration_account.groups.clear()  # IT withdraws the role
    response = api.get(BASE + "Patient")
    assert response.status_code == 403
    assert outcome(response)["code"] == "forbidden"


def test_an_application_without_an_account_gets_no_token(db) -> None:
    response = request_token(backend_application(None), "system/*.read")
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "unauthorized_client"
    assert not AccessToken.objects.exists()


def test_a_wrong_client_secret_gets_no_token(backend) -> None:
    body = BackendApplicationClient(backend.client_id).prepare_request_body(scope="system/*.read")
    wrong = "Basic " + base64.b64encode(f"{backend.client_id}:not-the-secret".encode()).decode()
    response = APIClient().post("/o/token/", body, content_type=FORM, HTTP_AUTHORIZATION=wrong)
    assert response.status_code == 401
    assert not AccessToken.objects.exists()


def test_a_backend_client_may_not_ask_for_user_or_patient_scopes(backend) -> None:
    for scope in ("user/*.read", "patient/*.read"):
        response = request_token(backend, scope)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_scope"


def test_a_resource_specific_scope_reads_its_type_only(backend, two_patients) -> None:
    patient, _ = two_patients
    api = bearer(backend_token(backend, "system/Observation.read"))
    assert api.get(BASE + f"Observation?patient={patient.pk}").status_code == 200
    response = api.get(BASE + f"Patient/{patient.pk}")
    assert response.status_code == 403
    assert "Patient" in outcome(response)["diagnostics"]


def test_a_token_without_a_fhir_read_scope_gets_403_with_an_operation_outcome(backend, two_patients) -> None:
    patient, _ = two_patients
    response = bearer(backend_token(backend, "introspection")).get(BASE + f"Observation?patient={patient.pk}")
    assert response.status_code == 403
    issue = outcome(response)
    assert issue["code"] == "forbidden"
    assert "system/Observation.read" in issue["diagnostics"]


def test_an_expired_token_gets_401_with_a_bearer_challenge(backend, two_patients) -> None:
    token = backend_token(backend)
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    response = bearer(token).get(BASE + "Patient")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith('Bearer realm="ivig-tracker"')
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert outcome(response)["code"] == "login"


def test_a_revoked_token_gets_401(backend, two_patients) -> None:
    token = backend_token(backend)
    api = bearer(token)
    assert api.get(BASE + "Patient").status_code == 200
    revoked = APIClient().post(
        "/o/revoke_token/",
        f"token={token}",
        content_type=FORM,
        HTTP_AUTHORIZATION=basic_auth(backend),
    )
    assert revoked.status_code == 200
    assert api.get(BASE + "Patient").status_code == 401


def test_a_resource_server_with_the_introspection_scope_introspects_a_token(backend, integration_account) -> None:
    token = backend_token(backend)
    resource_server = bearer(
        backend_token(backend_application(integration_account, "Resource server"), "introspection")
    )
    answer = resource_server.post("/o/introspect/", f"token={token}", content_type=FORM).json()
    assert (answer["active"], answer["scope"], answer["username"]) == (True, "system/*.read", "lab-interface")
    other = bearer(backend_token(backend)).post("/o/introspect/", f"token={token}", content_type=FORM)
    assert other.status_code == 403  # a token without the introspection scope


def test_an_unknown_token_gets_401(db) -> None:
    assert bearer("not-a-token").get(BASE + "Patient").status_code == 401


def test_a_token_of_a_deactivated_account_gets_401(backend, integration_account) -> None:
    api = bearer(backend_token(backend))
    type(integration_account).objects.filter(pk=integration_account.pk).update(is_active=False)
    response = api.get(BASE + "Patient")
    assert response.status_code == 401
    assert outcome(response)["diagnostics"] == "User inactive or deleted."


def test_a_token_in_the_query_string_is_not_accepted(backend) -> None:
    token = backend_token(backend)
    assert APIClient().get(BASE + f"Patient?access_token={token}").status_code in (400, 401)


def test_writes_stay_impossible_with_a_bearer_token(backend) -> None:
    response = bearer(backend_token(backend)).post(BASE + "Patient", {"resourceType": "Patient"}, format="json")
    assert response.status_code == 405


# --- Apps: authorization code with PKCE -------------------------------------------------------------------


def authorize(client, app, oauth: WebApplicationClient, verifier: str, scope: str = "user/*.read", **choices: str):
    """The browser's part: the app sends the signed-in user to /o/authorize/, who approves on the consent page
    (choosing the patient there, ``patient_mrn``, for a patient launch)."""
    url = oauth.prepare_request_uri(
        SERVER + "/o/authorize/",
        redirect_uri=REDIRECT,
        scope=scope.split(),
        state="state-123",
        code_challenge=oauth.create_code_challenge(verifier, "S256"),
        code_challenge_method="S256",
    )
    page = client.get(url)
    assert page.status_code == 200, page.content
    assert app.name in page.content.decode()
    query = parse_qs(urlsplit(url).query)
    form = {name: values[0] for name, values in query.items()} | {"allow": "Authorize"} | choices
    return client.post("/o/authorize/", form)


def exchange(oauth: WebApplicationClient, code: str, verifier: str | None):
    body = oauth.prepare_request_body(code=code, redirect_uri=REDIRECT, code_verifier=verifier)
    return APIClient().post("/o/token/", body, content_type=FORM)


def test_a_clinician_authorises_an_app_which_reads_fhir_with_pkce(client, hematologist, smart_app, two_patients):
    patient, _ = two_patients
    client.force_login(hematologist)
    oauth = WebApplicationClient(smart_app.client_id)
    verifier = oauth.create_code_verifier(64)

    redirect = authorize(client, smart_app, oauth, verifier)

    assert redirect.status_code == 302
    assert redirect["Location"].startswith(REDIRECT + "?")
    code = oauth.parse_request_uri_response(redirect["Location"], state="state-123")["code"]
    response = exchange(oauth, code, verifier)
    assert response.status_code == 200, response.content
    token = oauth.parse_request_body_response(response.content.decode())
    assert (token["token_type"], token["scope"]) == ("Bearer", ["user/*.read"])
    assert AccessToken.objects.get(application=smart_app).user == hematologist
    _uri, headers, _body = oauth.add_token(SERVER + BASE + f"Observation?subject=Patient/{patient.pk}")
    read = APIClient().get(
        BASE + f"Observation?subject=Patient/{patient.pk}", HTTP_AUTHORIZATION=headers["Authorization"]
    )
    assert read.status_code == 200, read.content
    assert {e["resource"]["subject"]["reference"] for e in read.json()["entry"]} == {f"Patient/{patient.pk}"}


@pytest.mark.parametrize("verifier", [None, "a-verifier-that-is-not-the-one-whose-challenge-was-sent-0123456789"])
def test_the_code_is_not_exchanged_without_the_right_code_verifier(client, hematologist, smart_app, verifier):
    client.force_login(hematologist)
    oauth = WebApplicationClient(smart_app.client_id)
    redirect = authorize(client, smart_app, oauth, oauth.create_code_verifier(64))
    code = oauth.parse_request_uri_response(redirect["Location"], state="state-123")["code"]
    response = exchange(oauth, code, verifier)
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_request", "invalid_grant")
    assert not AccessToken.objects.exists()


def test_an_authorization_request_without_a_code_challenge_is_refused(client, hematologist, smart_app) -> None:
    client.force_login(hematologist)
    url = WebApplicationClient(smart_app.client_id).prepare_request_uri(
        SERVER + "/o/authorize/", redirect_uri=REDIRECT, scope=["user/*.read"], state="s"
    )
    response = client.get(url)
    assert response.status_code == 302
    assert parse_qs(urlsplit(response["Location"]).query)["error"] == ["invalid_request"]


def test_an_anonymous_authorization_request_goes_to_the_sign_in_page(client, smart_app) -> None:
    response = client.get("/o/authorize/?response_type=code&client_id=" + smart_app.client_id)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_an_app_may_not_ask_for_system_scopes(client, hematologist, smart_app) -> None:
    client.force_login(hematologist)
    oauth = WebApplicationClient(smart_app.client_id)
    verifier = oauth.create_code_verifier(64)
    url = oauth.prepare_request_uri(
        SERVER + "/o/authorize/",
        redirect_uri=REDIRECT,
        scope=["system/*.read"],
        state="s",
        code_challenge=oauth.create_code_challenge(verifier, "S256"),
        code_challenge_method="S256",
    )
    response = client.get(url)
    assert response.status_code == 302
    assert parse_qs(urlsplit(response["Location"]).query)["error"] == ["invalid_scope"]


# --- Standalone patient launch ------------------------------------------------------------------------------

PATIENT_LAUNCH = "launch/patient patient/*.read"


def launch_for(client, app, patient, scope: str = PATIENT_LAUNCH) -> dict:
    """A clinician launches the app for ``patient``: types the MRN on the consent page, is shown who it is and
    authorises again to confirm; the app exchanges its code."""
    oauth = WebApplicationClient(app.client_id)
    verifier = oauth.create_code_verifier(64)
    shown = authorize(client, app, oauth, verifier, scope=scope, patient_mrn=patient.mrn)
    assert shown.status_code == 200, shown.content
    assert f"Is this the patient? {escape(str(patient))}" in shown.content.decode()
    assert not Grant.objects.exists()
    redirect = authorize(client, app, oauth, verifier, scope=scope, patient_mrn=patient.mrn, confirmed_mrn=patient.mrn)
    assert redirect.status_code == 302, redirect.content
    code = oauth.parse_request_uri_response(redirect["Location"], state="state-123")["code"]
    response = exchange(oauth, code, verifier)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def two_patients_with_counts(two_patients, hematologist, pharmacist, nurse):
    """Two patients, each with a course given and a platelet count after it (and a body weight)."""
    from tests.factories import given_order

    for patient in two_patients:
        order = given_order(prescriber=hematologist, verifier=pharmacist, nurse=nurse, patient=patient)
        record_platelet_result(
            check_id=order.platelet_checks.get(label="24h").pk,
            platelet_count=45,
            collected_at=order.infusions.get(day_number=1).started_at + timedelta(hours=24),
            user=nurse,
        )
    return two_patients


def test_a_clinician_launches_an_app_for_the_patient_they_choose_and_the_token_names_that_patient(
    client, hematologist, smart_app, two_patients
) -> None:
    patient, _other = two_patients
    client.force_login(hematologist)

    token = launch_for(client, smart_app, patient)

    assert token["patient"] == str(patient.pk)
    assert set(token["scope"].split()) == {"launch/patient", "patient/*.read"}
    assert SMARTTokenPatient.objects.get(access_token__application=smart_app).patient == patient


def test_hospital_it_sees_which_patient_a_launch_token_reads_in_the_admin(
    client, hematologist, smart_app, two_patients, admin_client
) -> None:
    patient, _other = two_patients
    client.force_login(hematologist)
    launch_for(client, smart_app, patient)

    listing = admin_client.get("/admin/interop/smarttokenpatient/")

    assert listing.status_code == 200
    assert patient.mrn in listing.content.decode()
    assert admin_client.get("/admin/interop/smarttokenpatient/add/").status_code == 403


def test_a_patient_token_reads_that_patients_record_and_nothing_of_another(
    client, hematologist, smart_app, two_patients_with_counts
) -> None:
    patient, other = two_patients_with_counts
    client.force_login(hematologist)
    api = bearer(launch_for(client, smart_app, patient)["access_token"])

    own = api.get(BASE + f"Observation?subject=Patient/{patient.pk}").json()
    everything = api.get(BASE + "Observation").json()
    patients = api.get(BASE + "Patient").json()
    asked_for_other = api.get(BASE + f"Observation?subject=Patient/{other.pk}").json()
    other_count = PlateletResult.objects.get(order__patient=other)

    assert {e["resource"]["subject"]["reference"] for e in own["entry"]} == {f"Patient/{patient.pk}"}
    assert {"777-3", "29463-7"} <= {e["resource"]["code"]["coding"][0]["code"] for e in own["entry"]}
    assert [e["resource"]["id"] for e in everything["entry"]] == [e["resource"]["id"] for e in own["entry"]]
    assert [e["resource"]["id"] for e in patients["entry"]] == [str(patient.pk)]
    assert (asked_for_other["total"], "entry" in asked_for_other) == (0, False)
    assert api.get(BASE + f"Patient/{patient.pk}").status_code == 200
    for path in (
        f"Patient/{other.pk}",
        f"Observation/plt-{other_count.pk}",
        f"Observation/plt-{other_count.pk}/_history",
        f"Task/{other_count.platelet_check_id}",
    ):
        response = api.get(BASE + path)
        assert response.status_code == 404, path
        assert "this token's patient" in outcome(response)["diagnostics"]
    assert {e["resource"]["for"]["reference"] for e in api.get(BASE + "Task").json()["entry"]} == {
        f"Patient/{patient.pk}"
    }
    # The API has no per-patient filter: a patient's token does not read it.
    assert api.get("/api/v1/patients/").status_code == 403


def test_an_unknown_mrn_is_said_beside_the_field_keeping_what_was_typed_and_authorises_nothing(
    client, hematologist, smart_app, two_patients
) -> None:
    client.force_login(hematologist)
    oauth = WebApplicationClient(smart_app.client_id)

    page = authorize(
        client, smart_app, oauth, oauth.create_code_verifier(64), scope=PATIENT_LAUNCH, patient_mrn="NO-SUCH-MRN"
    )

    assert page.status_code == 200
    html = page.content.decode()
    assert "No patient has the MRN NO-SUCH-MRN" in html
    assert 'value="NO-SUCH-MRN"' in html
    assert smart_app.name in html
    assert not Grant.objects.exists()


def test_an_mrn_changed_after_the_patient_was_shown_is_shown_again_before_anything_is_authorised(
    client, hematologist, smart_app, two_patients
) -> None:
    patient, other = two_patients
    client.force_login(hematologist)
    oauth = WebApplicationClient(smart_app.client_id)
    verifier = oauth.create_code_verifier(64)

    page = authorize(
        client,
        smart_app,
        oauth,
        verifier,
        scope=PATIENT_LAUNCH,
        patient_mrn=other.mrn,
        confirmed_mrn=patient.mrn,  # the clinician was shown the first patient, then typed another MRN
    )

    assert page.status_code == 200
    assert f"Is this the patient? {escape(str(other))}" in page.content.decode()
    assert not Grant.objects.exists()


def test_a_patient_launch_without_a_patient_is_not_authorised(client, hematologist, smart_app) -> None:
    client.force_login(hematologist)
    oauth = WebApplicationClient(smart_app.client_id)

    page = authorize(client, smart_app, oauth, oauth.create_code_verifier(64), scope=PATIENT_LAUNCH, patient_mrn="")

    assert page.status_code == 200
    assert "Give the MRN of the patient" in page.content.decode()
    assert not Grant.objects.exists()


def test_the_patient_parameter_fills_in_the_mrn_for_the_clinician_to_confirm(
    client, hematologist, smart_app, two_patients
) -> None:
    patient, _other = two_patients
    client.force_login(hematologist)
    oauth = WebApplicationClient(smart_app.client_id)
    verifier = oauth.create_code_verifier(64)
    url = oauth.prepare_request_uri(
        SERVER + "/o/authorize/",
        redirect_uri=REDIRECT,
        scope=PATIENT_LAUNCH.split(),
        state="s",
        code_challenge=oauth.create_code_challenge(verifier, "S256"),
        code_challenge_method="S256",
        patient=str(patient.pk),
    )

    page = client.get(url).content.decode()

    assert f'value="{patient.mrn}"' in page
    assert "Patient&#x27;s MRN" in page or "Patient's MRN" in page


def test_an_account_without_a_clinical_role_may_not_launch_an_app_for_a_patient(
    client, django_user_model, smart_app, two_patients
) -> None:
    client.force_login(django_user_model.objects.create_user("visitor", password="x-unused-0123456789"))
    oauth = WebApplicationClient(smart_app.client_id)
    verifier = oauth.create_code_verifier(64)
    url = oauth.prepare_request_uri(
        SERVER + "/o/authorize/",
        redirect_uri=REDIRECT,
        scope=PATIENT_LAUNCH.split(),
        state="s",
        code_challenge=oauth.create_code_challenge(verifier, "S256"),
        code_challenge_method="S256",
    )

    page = client.get(url)

    assert "no clinical role" in page.content.decode()
    assert not Grant.objects.exists()


def test_a_refreshed_patient_token_keeps_its_patient(client, hematologist, smart_app, two_patients) -> None:
    patient, other = two_patients
    client.force_login(hematologist)
    first = launch_for(client, smart_app, patient)

    body = WebApplicationClient(smart_app.client_id).prepare_refresh_body(refresh_token=first["refresh_token"])
    refreshed = APIClient().post("/o/token/", body + f"&client_id={smart_app.client_id}", content_type=FORM)

    assert refreshed.status_code == 200, refreshed.content
    assert refreshed.json()["patient"] == str(patient.pk)
    api = bearer(refreshed.json()["access_token"])
    assert api.get(BASE + f"Patient/{patient.pk}").status_code == 200
    assert api.get(BASE + f"Patient/{other.pk}").status_code == 404


def test_a_patient_scoped_token_without_a_patient_reads_nothing(smart_app, hematologist, two_patients) -> None:
    patient, _other = two_patients
    token = AccessToken.objects.create(
        user=hematologist,
        application=smart_app,
        token="a-patient-token-with-no-patient-0123456789",
        scope="patient/*.read",
        expires=timezone.now() + timedelta(hours=1),
    )
    api = bearer("a-patient-token-with-no-patient-0123456789")

    for path in (f"Patient/{patient.pk}", f"Observation?subject=Patient/{patient.pk}", "Patient"):
        response = api.get(BASE + path)
        assert response.status_code == 403, path
        assert "no patient" in outcome(response)["diagnostics"]
    assert token.pk


def test_a_user_scope_beside_a_patient_one_still_reads_every_patient(
    client, hematologist, smart_app, two_patients
) -> None:
    patient, other = two_patients
    client.force_login(hematologist)
    api = bearer(
        launch_for(client, smart_app, patient, scope="launch/patient patient/*.read user/*.read")["access_token"]
    )

    assert api.get(BASE + f"Patient/{other.pk}").status_code == 200


# --- /api/v1/ ----------------------------------------------------------------------------------------------


def test_a_bearer_token_reads_the_api(backend, two_patients) -> None:
    response = bearer(backend_token(backend)).get("/api/v1/patients/")
    assert response.status_code == 200
    assert response.json()["count"] == 2


def test_a_bearer_token_may_not_write_to_the_api(backend) -> None:
    new = {"mrn": "A100", "given_name": "Ann", "family_name": "Able", "birth_date": "1970-05-01", "sex": "female"}
    response = bearer(backend_token(backend)).post("/api/v1/patients/", new, format="json")
    assert response.status_code == 403
    assert not Patient.objects.filter(mrn="A100").exists()


def test_a_resource_specific_scope_does_not_read_the_api(backend) -> None:
    assert bearer(backend_token(backend, "system/Patient.read")).get("/api/v1/patients/").status_code == 403


def test_an_expired_bearer_token_gets_401_on_the_api(backend) -> None:
    token = backend_token(backend)
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    assert bearer(token).get("/api/v1/patients/").status_code == 401


# --- Discovery ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/.well-known/smart-configuration", BASE + ".well-known/smart-configuration"])
def test_the_smart_configuration_is_public_and_says_what_is_served(api_client, db, path) -> None:
    response = api_client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    config = response.json()
    assert config["authorization_endpoint"] == "http://testserver/o/authorize/"
    assert config["token_endpoint"] == "http://testserver/o/token/"
    assert set(config["grant_types_supported"]) == {"authorization_code", "client_credentials"}
    assert config["response_types_supported"] == ["code"]
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert {"client_secret_basic", "client_secret_post"} == set(config["token_endpoint_auth_methods_supported"])
    assert {"system/*.read", "user/*.read", "system/Observation.read"} <= set(config["scopes_supported"])
    assert {"launch/patient", "patient/*.read", "patient/Observation.read"} <= set(config["scopes_supported"])
    assert {
        "client-confidential-symmetric",
        "permission-v1",
        "permission-user",
        "permission-patient",
        "context-standalone-patient",
    } <= set(config["capabilities"])


def test_the_capability_statement_declares_smart_on_fhir_security(api_client, db) -> None:
    body = api_client.get(BASE + "metadata").json()
    CapabilityStatement.model_validate(body)
    security = body["rest"][0]["security"]
    (service,) = security["service"]
    assert service["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
        "code": "SMART-on-FHIR",
        "display": "SMART-on-FHIR",
    }
    (oauth_uris,) = security["extension"]
    assert oauth_uris["url"] == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    uris = {ext["url"]: ext["valueUri"] for ext in oauth_uris["extension"]}
    assert uris["token"] == "http://testserver/o/token/"
    assert uris["authorize"] == "http://testserver/o/authorize/"
    assert "launch/patient" in security["description"]
    assert "compartment" in security["description"]
