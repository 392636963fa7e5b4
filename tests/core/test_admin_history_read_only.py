"""A clinical record's history in the admin is read-only: its "Revert" would put a verified order back to draft
without the services' checks, and verifying it again was an HTTP 500."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model

from core.admin_base import ClinicalRecordAdmin
from infusions.models import Order
from tests.factories import verified_order

pytestmark = pytest.mark.db


@pytest.fixture
def superuser_client(client, db):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.org", "pw-for-tests-only"))
    return client


def test_a_revert_posted_on_a_verified_orders_draft_version_changes_nothing_and_is_not_a_500(superuser_client):
    order = verified_order()
    draft = order.history.filter(status="draft").order_by("history_date").first()
    assert draft is not None
    versions_before = order.history.count()
    url = f"/admin/infusions/order/{order.pk}/history/{draft.history_id}/"

    response = superuser_client.post(url, {"_save": "Revert"}, follow=True)

    assert response.status_code == 200
    assert "history is read-only: nothing was reverted" in response.content.decode()
    order.refresh_from_db()
    assert order.status == "verified"
    assert order.history.count() == versions_before


def test_an_old_version_of_an_order_can_still_be_read_without_a_revert_button(superuser_client):
    order = verified_order()
    draft = order.history.filter(status="draft").order_by("history_date").first()
    page = superuser_client.get(f"/admin/infusions/order/{order.pk}/history/{draft.history_id}/")
    assert page.status_code == 200
    assert 'value="Revert"' not in page.content.decode()
    assert Order.objects.get(pk=order.pk).status == "verified"


def test_every_clinical_model_in_the_admin_has_its_revert_disabled(rf):
    clinical = [
        model_admin for model_admin in admin.site._registry.values() if isinstance(model_admin, ClinicalRecordAdmin)
    ]
    assert len(clinical) >= 10
    request = rf.get("/")
    for model_admin in clinical:
        assert model_admin.revert_disabled(request) is True, model_admin
        assert model_admin.has_change_history_permission(request) is False, model_admin
