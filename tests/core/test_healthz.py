from __future__ import annotations

import pytest

from ivig_tracker.celery import app as celery_app

pytestmark = pytest.mark.db


def test_healthz_is_200_when_database_and_broker_answer(client, db) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "problems": []}


def test_healthz_needs_no_login(client, db) -> None:
    assert client.get("/healthz").status_code in {200, 503}


def test_healthz_is_503_naming_the_broker_when_it_is_down(client, db, monkeypatch) -> None:
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
