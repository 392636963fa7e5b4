"""The whole API against its own OpenAPI schema, by property-based testing (schemathesis over Hypothesis).

Every operation of ``/api/v1/schema/`` receives generated requests, valid ones and ones that break the schema, on the
live test server and PostgreSQL, with the token of a clinician who holds all three roles, so that requests reach the
services rather than stopping at a 403. Then a stateful run follows the links schemathesis infers between operations
(the id a POST answers with, used by the GET, the actions and the sub-lists). No answer may be a server error, and
every answer must be one the schema documents, with the body, content type and headers it documents (the IWG
``category`` values included). Derandomized: CI sees the same cases on every run.

A finding is reported with its operation, its check and the curl line that reproduces it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import schemathesis
from django.contrib.auth.models import Group
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.stateful import run_state_machine_as_test
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.tokens import issue_token
from tests.factories import UserFactory, given_order, verified_order

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# 62 operations x 2 generation modes x 9 = 1,116 generated requests (FUZZ_EXAMPLES raises it for a longer hunt).
EXAMPLES_PER_OPERATION_AND_MODE = int(os.environ.get("FUZZ_EXAMPLES", "9"))
MINIMUM_CASES = 1000
STATEFUL_SCENARIOS = int(os.environ.get("FUZZ_STATEFUL_SCENARIOS", "20"))
STATEFUL_STEPS = 8

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def derandomized(max_examples: int, **extra: Any) -> settings:
    return settings(
        max_examples=max_examples,
        derandomize=True,
        deadline=None,
        database=None,
        # Slow or filtered generation is schemathesis' business, not a finding about the API.
        suppress_health_check=list(HealthCheck),
        **extra,
    )


NOTHING_TO_MAKE_INVALID = {"GET /api/v1/auth/tokens/", "DELETE /api/v1/auth/tokens/{token_key}/"}


class Findings:
    """The first failure of each (operation, check) pair, so one run shows every distinct finding."""

    def __init__(self) -> None:
        self.first: dict[tuple[str, str], str] = {}
        self.cases = 0

    def record(self, label: str, group: FailureGroup) -> None:
        for failure in group.exceptions:
            assert isinstance(failure, Failure)
            self.first.setdefault((label, failure.title), str(group)[:4000])

    def report(self) -> str:
        return "\n\n".join(f"{label}: {title}\n{text}" for (label, title), text in sorted(self.first.items()))


@pytest.fixture
def clinician_token(transactional_db: Any, settings: Any) -> str:
    # Throttles answer 429 (documented on every operation), but a run of a thousand requests is not a client to slow.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": dict.fromkeys(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "100000/minute"),
    }
    # A hematologist who is also a nurse and a pharmacist: every write the API offers is open to this account.
    user = UserFactory(username="fuzz-clinician", role="hematologist")
    user.groups.add(*Group.objects.filter(name__in=["nurse", "pharmacist"]))
    # Existing ids for the generated ones to hit: a verified course and one given and completed (its checks due).
    verified_order()
    given_order()
    return issue_token(user)[1]


@pytest.fixture
def api(live_server: Any, clinician_token: str) -> Iterator[tuple[Any, dict[str, str], requests.Session]]:
    auth = {"Authorization": f"Token {clinician_token}"}
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/schema/?format=json", headers=auth)
    schema.config.update(base_url=live_server.url, headers=auth)
    with requests.Session() as session:
        yield schema, auth, session


def test_no_generated_request_to_any_operation_gets_a_server_error_or_an_undocumented_answer(api) -> None:
    schema, auth, session = api
    findings = Findings()

    def fuzz(operation: Any, mode: GenerationMode) -> Callable[[], None]:
        @given(case=operation.as_strategy(generation_mode=mode))
        @derandomized(EXAMPLES_PER_OPERATION_AND_MODE)
        def send(case: Any) -> None:
            findings.cases += 1
            try:
                case.call_and_validate(session=session, headers=auth, checks=CHECKS)
            except FailureGroup as group:
                findings.record(operation.label, group)

        return send

    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        fuzz(operation, GenerationMode.POSITIVE)()
        try:
            fuzz(operation, GenerationMode.NEGATIVE)()
        except Unsatisfiable:
            # Nothing to make invalid: no parameter and no body, or only a free-text key in the path.
            assert operation.label in NOTHING_TO_MAKE_INVALID, operation.label

    assert len(operations) >= 60
    assert findings.cases >= MINIMUM_CASES
    assert not findings.first, findings.report()


def test_following_the_links_between_operations_gets_no_server_error_or_undocumented_answer(api) -> None:
    schema, auth, session = api
    findings = Findings()
    steps = 0
    machine = schema.as_state_machine()
    # The inferred links: e.g. POST /patients/ -> GET /patients/{id}/ with the id it answered.
    links = sum(len(t.outgoing) for t in machine._transitions.operations.values())
    assert links >= 20

    class Scenario(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"session": session, "headers": auth}

        def validate_response(self, response: Any, case: Any, *args: Any, **kwargs: Any) -> None:
            nonlocal steps
            steps += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except FailureGroup as group:
                findings.record(case.operation.label, group)

    run_state_machine_as_test(Scenario, settings=derandomized(STATEFUL_SCENARIOS, stateful_step_count=STATEFUL_STEPS))

    assert steps >= STATEFUL_SCENARIOS
    assert not findings.first, findings.report()
