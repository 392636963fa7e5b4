"""The bedside's reaction, stop and completion forms: a refused entry keeps what the nurse chose and typed, and
the error sits beside its own field in clinical words; nothing is recorded."""

from __future__ import annotations

import pytest

from infusions import services
from tests.factories import FULL_CHECKLIST, NORMAL_VITALS, day_vials, verified_order

pytestmark = pytest.mark.db


@pytest.fixture
def running(client, nurse):
    infusion = verified_order().infusions.get()
    services.record_vitals(infusion_id=infusion.pk, user=nurse, values=NORMAL_VITALS)
    services.start_infusion(infusion_id=infusion.pk, user=nurse, checklist=FULL_CHECKLIST, vials=day_vials(infusion))
    client.force_login(nurse)
    return infusion


def post(client, infusion, action, **data):
    response = client.post(f"/orders/infusions/{infusion.pk}/{action}/", data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response.content.decode()


def test_a_reaction_without_its_action_keeps_the_type_and_grade_chosen_and_says_what_is_missing(client, running):
    page = post(client, running, "reaction", reaction="fever", ctcae_grade="2", action_taken="  ")

    assert 'data-field="action_taken">Say what was done (slowed, paused, stopped, treatment given).' in page
    assert '<option value="fever" selected>' in page
    assert 'value="2" required checked>' in page
    assert running.reactions.count() == 0


def test_a_reaction_without_a_grade_keeps_what_was_typed(client, running):
    page = post(client, running, "reaction", reaction="chills", action_taken="paracetamol")

    assert 'data-field="ctcae_grade">The CTCAE grade is 1 to 5.' in page
    assert 'name="action_taken" required value="paracetamol"' in page
    assert running.reactions.count() == 0


def test_a_stop_without_a_reason_is_refused_beside_the_reason(client, running):
    page = post(client, running, "stop", reason=" ")

    assert 'data-field="reason">Give the reason for stopping.' in page
    running.refresh_from_db()
    assert running.status == "in_progress"


def test_a_bad_volume_on_complete_is_reported_under_the_volume_not_the_rate(client, running):
    page = post(client, running, "complete", volume_infused_ml="12x")

    assert 'data-field="volume_infused_ml">' in page
    assert 'name="volume_infused_ml" inputmode="decimal" autocomplete="off" value="12x"' in page
    assert 'data-field="rate_ml_per_h"' not in page
    running.refresh_from_db()
    assert running.status == "in_progress"


def test_a_circulatory_overload_is_recorded_from_the_pick_list(client, running):
    page = post(
        client,
        running,
        "reaction",
        reaction="circulatory_overload",
        ctcae_grade="2",
        action_taken="stopped; furosemide given",
    )
    assert "Reaction recorded." in page
    assert running.reactions.get().reaction == "circulatory_overload"
