"""Real concurrent HTTP requests against the live server on PostgreSQL (row locks are PostgreSQL's)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from core.tokens import issue_token
from infusions import services
from infusions.models import Infusion, VitalSignsEntry
from monitoring.models import PlateletCheck
from tests.factories import FULL_CHECKLIST, NORMAL_VITALS, UserFactory, day_vials, verified_order

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def post_all_at_once(url: str, bodies_and_tokens: list[tuple[dict, str]]) -> list[int]:
    barrier = threading.Barrier(len(bodies_and_tokens))
    statuses: list[int] = [0] * len(bodies_and_tokens)

    def send(index: int, body: dict, token: str) -> None:
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
            method="POST",
        )
        barrier.wait()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                statuses[index] = response.status
        except urllib.error.HTTPError as error:
            statuses[index] = error.code

    threads = [
        threading.Thread(target=send, args=(i, body, token)) for i, (body, token) in enumerate(bodies_and_tokens)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


@pytest.fixture
def running_infusion(db):
    order = verified_order()
    infusion = order.infusions.get()
    nurse = UserFactory(role="nurse")
    services.record_vitals(infusion_id=infusion.pk, user=nurse, values=NORMAL_VITALS)
    services.start_infusion(infusion_id=infusion.pk, user=nurse, checklist=FULL_CHECKLIST, vials=day_vials(infusion))
    return infusion


def nurse_tokens(count: int) -> list[str]:
    return [issue_token(UserFactory(role="nurse"))[1] for _ in range(count)]


def test_two_nurses_posting_vitals_at_the_same_moment_both_land(live_server, running_infusion):
    tokens = nurse_tokens(2)
    url = f"{live_server.url}/api/v1/infusions/{running_infusion.pk}/vitals/"
    statuses = post_all_at_once(url, [(NORMAL_VITALS, tokens[0]), ({**NORMAL_VITALS, "heart_rate_bpm": 80}, tokens[1])])
    assert statuses == [201, 201]
    assert VitalSignsEntry.objects.filter(infusion=running_infusion).count() == 3


def test_two_completions_at_once_one_succeeds_and_the_other_gets_409(live_server, running_infusion):
    tokens = nurse_tokens(2)
    url = f"{live_server.url}/api/v1/infusions/{running_infusion.pk}/complete/"
    pump_total = {"volume_infused_ml": str(running_infusion.volume_ml)}
    statuses = post_all_at_once(url, [(pump_total, tokens[0]), (pump_total, tokens[1])])
    assert sorted(statuses) == [200, 409]
    assert Infusion.objects.get(pk=running_infusion.pk).status == "completed"
    assert (
        PlateletCheck.objects.filter(order_id=running_infusion.order_id).count() == 6
    )  # one set: A6's four and A12's two follow-ups
    history = Infusion.history.filter(id=running_infusion.pk, status="completed")
    assert history.count() == 1
