"""Roles are read from the database by every web process: none of them keeps a grant another has withdrawn."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection

from tests.faults.harness import database_url, free_port, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

GUNICORN = Path(sys.executable).with_name("gunicorn")


def _status(port: int, token: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/patients/", headers={"Authorization": f"Token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@contextmanager
def _two_web_processes(tmp_path: Path, **extra_environment: str) -> Iterator[list[int]]:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": database_url(connection.settings_dict),
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "filesystem://"),
        "SECRET_KEY": "roles-test-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        "DJANGO_DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "IVIG_VAR_DIR": "var/test-roles",
        **extra_environment,
    }
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
            [str(GUNICORN), "--workers", "1", "--bind", f"127.0.0.1:{port}", "ivig_tracker.wsgi:application"],
            env=environment,
            stdout=open(tmp_path / f"web-{port}.log", "wb"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
        )
        for port in ports
    ]
    try:
        for port in ports:
            assert wait_for(lambda port=port: _status(port, "no-such-token") == 401), f"web on {port} did not start"
        yield ports
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=15)


@pytest.fixture
def two_web_processes(tmp_path: Path) -> Iterator[list[int]]:
    with _two_web_processes(tmp_path) as ports:
        yield ports


@pytest.fixture(params=["file cache", pytest.param("redis cache", marks=pytest.mark.redis)])
def two_throttled_web_processes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[int]]:
    # The embedded default's file cache in a folder of their own, or Redis (CACHE_URL) as deployed.
    cache = {"CACHE_URL": os.environ["CELERY_BROKER_URL"]} if request.param == "redis cache" else {}
    with _two_web_processes(
        tmp_path, IVIG_API_THROTTLE_USER="4/minute", IVIG_VAR_DIR=str(tmp_path / "var"), **cache
    ) as ports:
        yield ports


def test_a_role_removed_is_refused_by_every_web_process_on_its_next_request(two_web_processes, nurse) -> None:
    from core.tokens import issue_token

    _, token = issue_token(nurse)
    first, second = two_web_processes
    # Both processes have served the nurse, so either could be holding her role.
    assert [_status(first, token), _status(second, token), _status(first, token)] == [200, 200, 200]

    nurse.groups.clear()  # the role is withdrawn (as the admin does), in a process of its own

    assert [_status(first, token), _status(second, token)] == [403, 403]


def test_a_user_s_request_rate_is_counted_across_every_web_process(two_throttled_web_processes, nurse) -> None:
    from core.tokens import issue_token

    _, token = issue_token(nurse)
    first, second = two_throttled_web_processes

    statuses = [_status(port, token) for port in (first, second, first, second, first, second)]

    assert statuses == [200, 200, 200, 200, 429, 429]
