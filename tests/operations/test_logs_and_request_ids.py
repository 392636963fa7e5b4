"""One JSON line per request and per task, tied by the request id, with ids and never a patient's name or MRN."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from celery.contrib.testing.worker import start_worker

from core.logging import JsonLineFormatter, RequestIdFilter
from core.request_context import request_id_var
from core.tasks import record_heartbeat
from ivig_tracker.celery import app as celery_app
from tests.factories import PatientFactory


@contextmanager
def json_lines() -> Iterator[io.StringIO]:
    """The root logger's lines as LOG_FORMAT=json writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    # At INFO, as the settings configure it: a Celery worker started earlier in the session sets the root logger's
    # level to its own (ERROR in celery.contrib.testing).
    level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    with json_lines() as stream:
        yield stream


def lines(stream: io.StringIO, logger: str) -> list[dict]:
    return [entry for entry in map(json.loads, stream.getvalue().splitlines()) if entry["logger"] == logger]


@pytest.mark.db
def test_a_page_request_is_one_json_line_with_its_id_view_status_and_user_id_but_not_the_searched_mrn(
    client, nurse, json_log
):
    patient = PatientFactory(mrn="MRN-SECRET-4411", given_name="Ottilie", family_name="Quarrington")
    client.force_login(nurse)

    response = client.get("/patients/", {"q": patient.mrn}, HTTP_X_REQUEST_ID="ward7-req-000123")

    assert response.status_code == 200
    assert response["X-Request-ID"] == "ward7-req-000123"
    [line] = lines(json_log, "ivig.request")
    assert line["request_id"] == "ward7-req-000123"
    assert line["view"] == "patient-list"
    assert line["status"] == 200
    assert line["user_id"] == nurse.pk
    assert line["duration_ms"] >= 0
    everything = json_log.getvalue()
    assert "MRN-SECRET-4411" not in everything
    assert "Quarrington" not in everything


@pytest.mark.db
def test_a_malformed_request_id_from_outside_is_replaced_by_a_new_one(client, json_log):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="<script>alert(1)</script>")

    assert response["X-Request-ID"] != "<script>alert(1)</script>"
    assert len(response["X-Request-ID"]) == 32
    [line] = lines(json_log, "ivig.request")
    assert line["request_id"] == response["X-Request-ID"]


@pytest.mark.worker
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_task_enqueued_under_a_request_logs_its_own_line_under_that_request_id():
    token = request_id_var.set("ward7-req-000456")  # as RequestLogMiddleware sets it while serving the request
    try:
        # The worker sets up logging as it starts: listen once it runs.
        with (
            start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10),
            json_lines() as json_log,
        ):
            record_heartbeat.delay("request-id-test")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not lines(json_log, "ivig.task"):
                time.sleep(0.1)
    finally:
        request_id_var.reset(token)

    [line] = [entry for entry in lines(json_log, "ivig.task") if entry["task"] == "core.tasks.record_heartbeat"]
    assert line["request_id"] == "ward7-req-000456"
    assert line["state"] == "SUCCESS"
    assert line["duration_ms"] >= 0


@pytest.mark.unit
def test_a_logged_database_error_keeps_its_traceback_and_loses_the_quoted_mrn(json_log):
    try:
        raise ValueError('duplicate key value violates unique constraint "patient_mrn" Key (mrn)=(MRN-55120) exists')
    except ValueError:
        logging.getLogger("interop.hl7.services").exception("HL7 message %s could not be stored", "CTRL-1")

    [line] = lines(json_log, "interop.hl7.services")
    assert line["message"] == "HL7 message CTRL-1 could not be stored"
    assert "ValueError: duplicate key value violates unique constraint [redacted]" in line["exc_info"]
    assert "MRN-55120" not in json_log.getvalue()
