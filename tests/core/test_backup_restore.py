"""scripts/backup.sh and scripts/restore.sh on real PostgreSQL (README "Backups and restore"): a backup restored
into a new database holds every clinical row and its history exactly, and the code's migrations match it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from psycopg import sql

from infusions.models import Infusion, Order, VitalSignsEntry
from monitoring.models import OrderResponse, PlateletCheck, PlateletResult
from patients.models import Patient, WeightMeasurement
from tests.factories import UserFactory, non_responding_order

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SCRIPTS = Path(settings.BASE_DIR) / "scripts"
CLINICAL_MODELS: list[Any] = [
    Patient,
    WeightMeasurement,
    Order,
    Infusion,
    VitalSignsEntry,
    PlateletCheck,
    PlateletResult,
    OrderResponse,
]


def database_url(name: str) -> str:
    """The URL of database ``name`` on the test server, as an operator would write it (password percent-encoded)."""
    params = connection.settings_dict
    password = f":{quote(params['PASSWORD'], safe='')}" if params.get("PASSWORD") else ""
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    return f"postgres://{quote(params['USER'], safe='')}{password}@{host}:{port}/{name}"


def run(script: str, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPTS / script), *args],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )


def table_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (in a fixed order), and every sequence's position."""
    contents: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(_libpq(url)) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        ).fetchall()
        for (table,) in tables:
            rows = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))).fetchall()
            contents[table] = sorted(rows, key=repr)
        for name, last_value in conn.execute(
            "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'"
        ).fetchall():
            contents[f"sequence {name}"] = [(last_value,)]
    return contents


def _libpq(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


@pytest.fixture
def empty_database() -> Iterator[str]:
    name = f"{connection.settings_dict['NAME']}_restored"
    admin_url = _libpq(database_url("postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield database_url(name)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def ward_records() -> str:
    """A course given and followed up through the services: a patient, weights, an order, its infusion and vitals,
    four platelet checks with results, a response, notifications, and the history of each."""
    non_responding_order(prescriber=UserFactory(role="hematologist"))
    return database_url(connection.settings_dict["NAME"])


def test_a_backup_restored_into_a_new_database_holds_every_clinical_row_and_its_history(
    ward_records: str, empty_database: str, tmp_path: Path
) -> None:
    backup_file = tmp_path / "ivig-tracker.dump"

    backed_up = run("backup.sh", ward_records, str(backup_file))
    restored = run("restore.sh", empty_database, str(backup_file))

    assert backed_up.returncode == 0, backed_up.stderr
    assert restored.returncode == 0, restored.stderr
    assert oct(backup_file.stat().st_mode & 0o777) == "0o600"  # patient data: readable by its owner only
    before, after = table_rows(ward_records), table_rows(empty_database)
    assert after == before
    for model in CLINICAL_MODELS:
        assert after[model._meta.db_table], f"{model.__name__}: no rows, so the comparison proves nothing"
        history_table = model.history.model._meta.db_table
        assert after[history_table], f"{model.__name__}: no history rows"


def test_the_restored_database_needs_no_migration_for_this_code(
    ward_records: str, empty_database: str, tmp_path: Path
) -> None:
    backup_file = tmp_path / "ivig-tracker.dump"
    assert run("backup.sh", ward_records, str(backup_file)).returncode == 0
    assert run("restore.sh", empty_database, str(backup_file)).returncode == 0

    check = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--check"],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DATABASE_URL": empty_database},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert check.returncode == 0, check.stdout + check.stderr


def test_restore_refuses_a_database_that_already_holds_records_and_changes_nothing(
    ward_records: str, tmp_path: Path
) -> None:
    backup_file = tmp_path / "ivig-tracker.dump"
    assert run("backup.sh", ward_records, str(backup_file)).returncode == 0
    before = table_rows(ward_records)

    refused = run("restore.sh", ward_records, str(backup_file))

    assert refused.returncode == 2
    assert "is not empty" in refused.stderr
    assert "restore only into a new, empty database" in refused.stderr
    assert table_rows(ward_records) == before


def test_backup_never_overwrites_an_earlier_backup(ward_records: str, tmp_path: Path) -> None:
    backup_file = tmp_path / "ivig-tracker.dump"
    backup_file.write_bytes(b"yesterday's backup")

    refused = run("backup.sh", ward_records, str(backup_file))

    assert refused.returncode == 2
    assert "already exists" in refused.stderr
    assert backup_file.read_bytes() == b"yesterday's backup"


def test_restore_refuses_a_file_that_is_not_a_backup(empty_database: str, tmp_path: Path) -> None:
    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("not a dump")

    refused = run("restore.sh", empty_database, str(not_a_backup))

    assert refused.returncode == 2
    assert "is not a pg_dump custom-format archive" in refused.stderr
    assert table_rows(empty_database) == {}


def test_the_scripts_explain_that_they_need_a_postgresql_url() -> None:
    refused = run("backup.sh", "sqlite:///var/ivig_tracker.sqlite3")

    assert refused.returncode == 2
    assert "DATABASE_URL must be a postgres:// URL" in refused.stderr
