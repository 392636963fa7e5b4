from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.services import record_heartbeat
from ivig_tracker.celery import app as celery_app

pytestmark = pytest.mark.db


@pytest.fixture
def sweep_ran(db) -> None:
    record_heartbeat("reminder_sweep")


def test_healthz_is_200_when_database_and_broker_answer(client, sweep_ran) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "problems": []}


def test_healthz_needs_no_login(client, db) -> None:
    assert client.get("/healthz").status_code in {200, 503}


def test_healthz_is_503_when_the_reminder_sweep_has_not_run_for_3_minutes(client, db) -> None:
    record_heartbeat("reminder_sweep", now=timezone.now() - timedelta(minutes=4))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["problems"] == ["reminder_sweep: last ran 4 min ago"]
    record_heartbeat("reminder_sweep")
    assert client.get("/healthz").status_code == 200


def test_healthz_is_503_naming_the_broker_when_it_is_down(client, sweep_ran, monkeypatch) -> None:
    # Nothing listens on port 1: the broker is unreachable, exactly as when Redis has stopped.
    # Celery reads CELERY_BROKER_URL from the environment before its own configuration, so set both.
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert len(body["problems"]) == 1
    assert body["problems"][0].startswith("broker:")


def test_livez_answers_while_the_database_and_broker_are_not_consulted(
    client, db, monkeypatch, django_assert_num_queries
) -> None:
    # The broker is unreachable and no heartbeat was ever recorded: /healthz is 503, yet the process is alive.
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    assert client.get("/healthz").status_code == 503

    with django_assert_num_queries(0):
        response = client.get("/livez")

    assert response.status_code == 200
    assert response.json() == {"status": "alive"}
    assert "no-cache" in response["Cache-Control"]
