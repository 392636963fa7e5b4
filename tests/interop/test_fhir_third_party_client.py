"""A third-party FHIR client against the live server: SMART Health IT's fhirclient (a dev dependency), whose models
are generated from FHIR R4 4.0.1 itself and refuse, on parsing, an element of the wrong type, an unknown element or
a missing required one. A backend integration gets its Bearer token with client credentials, as hospital IT would
set it up, reads a Patient and searches that patient's Observations; every resource it receives must parse as R4.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import requests
from fhirclient import client as fhir_client
from fhirclient.models.observation import Observation
from fhirclient.models.patient import Patient
from fhirclient.server import FHIRUnauthorizedException
from oauth2_provider.models import Application

from monitoring.models import PlateletCheck
from monitoring.services import correct_platelet_result, record_platelet_result
from tests.factories import PatientFactory, given_order

pytestmark = [pytest.mark.db, pytest.mark.django_db(transaction=True)]

SECRET = "s3cret-of-the-ehr-interface-0123456789"


@pytest.fixture
def ehr_interface(role_user):
    """The EHR's backend integration: confidential, client credentials, acting as an account with a clinical role."""
    application = Application.objects.create(
        name="EHR interface",
        user=role_user("nurse", username="ehr-interface"),
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=SECRET,
    )
    return application


def client_credentials_token(live_server, application) -> str:
    basic = base64.b64encode(f"{application.client_id}:{SECRET}".encode()).decode()
    response = requests.post(
        f"{live_server.url}/o/token/",
        data={"grant_type": "client_credentials", "scope": "system/*.read"},
        headers={"Authorization": f"Basic {basic}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture
def fhir_clients(live_server) -> Iterator[Callable[[str | None], fhir_client.FHIRClient]]:
    """fhirclient's clients of the live server, each reading the CapabilityStatement (public) for the server's SMART
    security and then signing each request with its Bearer token. Their HTTP sessions are closed afterwards: a
    kept-alive connection would hold a live-server thread, and its database connection, past the test."""
    made: list[fhir_client.FHIRClient] = []

    def connect(token: str | None) -> fhir_client.FHIRClient:
        smart = fhir_client.FHIRClient(settings={"app_id": "ehr-interface", "api_base": f"{live_server.url}/fhir/R4/"})
        made.append(smart)
        smart.prepare()
        assert smart.server.auth is not None, "the CapabilityStatement declares no SMART security fhirclient can use"
        smart.server.auth.access_token = token
        return smart

    yield connect
    for smart in made:
        smart.server.session.close()


def test_a_third_party_fhir_client_reads_a_patient_and_only_that_patients_observations(
    live_server, fhir_clients, ehr_interface, hematologist, pharmacist, nurse
) -> None:
    patient, other = PatientFactory(), PatientFactory()
    for person in (patient, other):
        order = given_order(prescriber=hematologist, verifier=pharmacist, nurse=nurse, patient=person)
        typed = record_platelet_result(
            check_id=PlateletCheck.objects.get(order=order, label="24h").pk,
            platelet_count=14,
            collected_at=order.infusions.get(day_number=1).started_at + timedelta(hours=24),
            user=nurse,
        )
        correct_platelet_result(result_id=typed.pk, user=nurse, reason="Digits swapped when typed", platelet_count=41)
    smart = fhir_clients(client_credentials_token(live_server, ehr_interface))

    read = Patient.read(str(patient.pk), smart.server)
    observations = list(
        Observation.where(struct={"subject": f"Patient/{patient.pk}", "_count": "5"}).perform_resources_iter(
            smart.server
        )
    )

    assert (read.id, read.identifier[0].value) == (str(patient.pk), patient.mrn)
    assert {o.subject.reference for o in observations} == {f"Patient/{patient.pk}"}
    platelet_counts = [o for o in observations if o.code.coding[0].code == "777-3"]
    # The count typed wrong and corrected is one Observation, read as R4 with its corrected status and value.
    assert [(o.status, o.valueQuantity.value) for o in platelet_counts] == [("corrected", 41)]
    others = Observation.where(struct={"subject": f"Patient/{other.pk}"}).perform_resources_iter(smart.server)
    assert {o.id for o in observations}.isdisjoint(o.id for o in others)


def test_a_third_party_client_without_a_token_is_refused(fhir_clients) -> None:
    patient = PatientFactory()
    smart = fhir_clients(None)

    with pytest.raises(FHIRUnauthorizedException) as refused:
        Patient.read(str(patient.pk), smart.server)

    assert refused.value.response.status_code == 401
