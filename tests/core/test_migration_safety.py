"""Every migration can run against a large table while the wards use it (core/migration_safety.py,
CONTRIBUTING.md "Migrations on a live database"): the project's own migrations, and the policy on examples."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState

from core.migration_safety import (
    ALLOWED_OPERATIONS,
    SHIPPED_BEFORE_THIS_CHECK,
    check_migration,
    unsafe_operations,
)

pytestmark = pytest.mark.unit


def project_app_labels() -> set[str]:
    """The apps whose migrations this project writes (not Django's, not a library's)."""
    base = Path(settings.BASE_DIR).resolve()
    return {
        config.label
        for config in apps.get_app_configs()
        if Path(config.path).resolve().is_relative_to(base) and "site-packages" not in Path(config.path).parts
    }


def test_the_check_covers_every_app_of_the_project() -> None:
    assert project_app_labels() >= {"core", "patients", "infusions", "monitoring", "interop", "ivig_tracker"}


def test_every_migration_is_safe_on_a_large_live_table_or_allowed_with_a_reason() -> None:
    findings = unsafe_operations(MigrationLoader(None, ignore_no_migrations=True), project_app_labels())

    assert findings == [], "unsafe on a live table (CONTRIBUTING.md 'Migrations on a live database'):\n" + "\n".join(
        str(f) for f in findings
    )


def test_every_allow_list_entry_still_names_an_unsafe_operation_and_gives_a_reason() -> None:
    everything = unsafe_operations(
        MigrationLoader(None, ignore_no_migrations=True), project_app_labels(), shipped={}, allowed={}
    )
    unsafe_migrations = {(f.app_label, f.migration_name) for f in everything}
    unsafe_keys = {f.key for f in everything}

    assert set(SHIPPED_BEFORE_THIS_CHECK) - unsafe_migrations == set()
    assert set(ALLOWED_OPERATIONS) - unsafe_keys == set()
    assert all(reason.strip() for reason in [*SHIPPED_BEFORE_THIS_CHECK.values(), *ALLOWED_OPERATIONS.values()])


# --- The policy, on a ward table that already holds rows --------------------------------------------------------


def ward_orders_table() -> ProjectState:
    state = ProjectState()
    migrations.CreateModel(
        "Order",
        fields=[
            ("id", models.BigAutoField(primary_key=True)),
            ("status", models.CharField(max_length=20)),
            ("note", models.CharField(max_length=40, null=True)),
        ],
    ).state_forwards("ward", state)
    return state


def refusals(*operations: Operation, atomic: bool = True) -> list[str]:
    migration_class = type("Migration", (migrations.Migration,), {"operations": list(operations), "atomic": atomic})
    migration = migration_class("0002_change", "ward")
    return [finding.reason for finding in check_migration(migration, ward_orders_table())]


STATUS_INDEX = models.Index(fields=["status"], name="order_status_idx")


def test_a_plain_index_on_an_existing_table_is_refused() -> None:
    [reason] = refusals(migrations.AddIndex("order", STATUS_INDEX))

    assert "AddIndexConcurrently" in reason


def test_a_concurrent_index_in_a_non_atomic_migration_is_accepted() -> None:
    assert refusals(AddIndexConcurrently("order", STATUS_INDEX), atomic=False) == []


def test_a_concurrent_index_in_an_atomic_migration_is_refused() -> None:
    [reason] = refusals(AddIndexConcurrently("order", STATUS_INDEX), atomic=True)

    assert "atomic = False" in reason


def test_anything_done_to_a_table_created_in_the_same_migration_is_accepted() -> None:
    create = migrations.CreateModel(
        "Reaction", fields=[("id", models.BigAutoField(primary_key=True)), ("grade", models.IntegerField())]
    )
    index = migrations.AddIndex("reaction", models.Index(fields=["grade"], name="reaction_grade_idx"))
    check = migrations.AddConstraint(
        "reaction", models.CheckConstraint(condition=models.Q(grade__gte=1), name="reaction_grade_from_1")
    )
    not_null = migrations.AddField("reaction", "severity", models.IntegerField())

    assert refusals(create, index, check, not_null) == []


def test_a_nullable_column_or_one_with_a_constant_default_is_accepted() -> None:
    assert (
        refusals(
            migrations.AddField("order", "held_at", models.DateTimeField(null=True)),
            migrations.AddField("order", "held", models.BooleanField(default=False)),
            migrations.AddField("order", "hold_reason", models.TextField(blank=True)),
            migrations.AddField("order", "flags", models.JSONField(default=dict)),
        )
        == []
    )


def test_a_column_with_a_default_computed_in_python_is_refused() -> None:
    [reason] = refusals(migrations.AddField("order", "public_id", models.UUIDField(default=uuid.uuid4)))

    assert "every existing row gets the same value" in reason


def test_a_not_null_column_without_a_default_is_refused() -> None:
    [reason] = refusals(migrations.AddField("order", "dose_g", models.DecimalField(max_digits=6, decimal_places=1)))

    assert "fails on a table that has rows" in reason


def test_an_indexed_column_added_to_an_existing_table_is_refused() -> None:
    [reason] = refusals(migrations.AddField("order", "ward_code", models.CharField(max_length=8, db_index=True)))

    assert "index" in reason


def test_a_column_type_change_is_refused() -> None:
    [reason] = refusals(migrations.AlterField("order", "status", models.IntegerField()))

    assert "rewrites the table" in reason


def test_widening_a_text_column_is_accepted_and_narrowing_it_refused() -> None:
    assert refusals(migrations.AlterField("order", "status", models.CharField(max_length=40))) == []
    assert refusals(migrations.AlterField("order", "status", models.TextField())) == []
    assert len(refusals(migrations.AlterField("order", "status", models.CharField(max_length=10)))) == 1


def test_changing_only_the_choices_or_help_text_is_accepted() -> None:
    new_status = models.CharField(max_length=20, choices=[("draft", "Draft")], help_text="where the order stands")

    assert refusals(migrations.AlterField("order", "status", new_status)) == []


def test_making_a_nullable_column_required_is_refused() -> None:
    [reason] = refusals(migrations.AlterField("order", "note", models.CharField(max_length=40)))

    assert "SET NOT NULL" in reason


def test_a_check_constraint_on_an_existing_table_is_refused() -> None:
    check = models.CheckConstraint(condition=models.Q(status__in=["draft", "verified"]), name="order_status_known")

    [reason] = refusals(migrations.AddConstraint("order", check))

    assert "NOT VALID" in reason


def test_removing_or_renaming_a_column_the_previous_release_reads_is_refused() -> None:
    assert len(refusals(migrations.RemoveField("order", "note"))) == 1
    assert len(refusals(migrations.RenameField("order", "note", "comment"))) == 1


def test_a_data_migration_must_have_a_reverse() -> None:
    def fill(apps: object, schema_editor: object) -> None:
        return None

    assert len(refusals(migrations.RunPython(fill))) == 1
    assert refusals(migrations.RunPython(fill, migrations.RunPython.noop)) == []


def test_raw_sql_always_needs_a_reviewed_allow_list_entry() -> None:
    [reason] = refusals(migrations.RunSQL("SELECT 1", reverse_sql=migrations.RunSQL.noop))

    assert "allow-list" in reason


def test_database_operations_behind_separate_database_and_state_are_checked() -> None:
    hidden_index = migrations.SeparateDatabaseAndState(
        database_operations=[migrations.AddIndex("order", STATUS_INDEX)], state_operations=[]
    )

    assert len(refusals(hidden_index)) == 1


def test_a_foreign_key_added_to_an_existing_table_without_an_index_still_needs_its_constraint_deferred() -> None:
    validated = models.ForeignKey("ward.order", models.PROTECT, null=True, db_index=False)
    unvalidated = models.ForeignKey("ward.order", models.PROTECT, null=True, db_index=False, db_constraint=False)

    [reason] = refusals(migrations.AddField("order", "replaces", validated))

    assert "NOT VALID" in reason
    assert refusals(migrations.AddField("order", "replaces", unvalidated)) == []
