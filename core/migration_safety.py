"""Which migration operations are unsafe to run against a large table while the hospital is using it.

``migrate`` runs while the previous release still serves the wards (the cluster's migrate Job, then a rolling
update). An operation is unsafe when PostgreSQL holds a lock that blocks reads or writes for as long as it scans
or rewrites the table (an index built without CONCURRENTLY, a column type change, SET NOT NULL, a validated
constraint), when it fails on a table that has rows, or when it breaks the pods still running the previous
release (a removed or renamed column). CONTRIBUTING.md "Migrations on a live database" gives the safe way to make
each change; ``tests/core/test_migration_safety.py`` runs :func:`unsafe_operations` over every migration and fails
on anything neither safe nor allowed with its reason (:data:`SHIPPED_BEFORE_THIS_CHECK`, :data:`ALLOWED_OPERATIONS`).

A table created in the same migration starts empty, so anything done to it there is safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import models
from django.db.migrations import Migration, operations
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState
from django.db.models.fields import NOT_PROVIDED

# Callable defaults that give every existing row the same empty value, which is what they mean.
_EMPTY_CONTAINER_DEFAULTS: tuple[object, ...] = (dict, list)

# Operations that only change Django's view of a model, or take a brief lock and no scan.
_SAFE_OPERATIONS: tuple[type[Operation], ...] = (
    operations.CreateModel,
    operations.AlterModelOptions,
    operations.AlterModelManagers,
    operations.AlterModelTableComment,
    operations.RemoveIndex,
    operations.RemoveConstraint,
    operations.RenameIndex,
)

# Migrations shipped before this check existed, each with what it does that the check refuses. Each has run on
# every database that exists; it runs again only on a new, empty database, where it takes no time. An applied
# migration is never edited (docs/architecture.md "Migrations"), so these stay as they are.
_ALREADY_RAN = "shipped before this check; has run everywhere, and on a new database its tables are empty"
SHIPPED_BEFORE_THIS_CHECK: dict[tuple[str, str], str] = {
    ("infusions", "0004_bedside_segments_vitals_reactions_lots"): (
        f"indexed started_by/completed_by on infusions: {_ALREADY_RAN}"
    ),
    ("infusions", "0005_order_active_course_index"): f"plain index on orders: {_ALREADY_RAN}",
    ("infusions", "0006_vitals_write_indexes"): f"plain index on vital signs: {_ALREADY_RAN}",
    ("infusions", "0007_safety_stops_fields_records_and_one_open_course"): (
        f"indexed foreign keys and two validated constraints on orders: {_ALREADY_RAN}"
    ),
    ("infusions", "0011_emergency_estimated_weight"): f"two validated check constraints on orders: {_ALREADY_RAN}",
    ("infusions", "0012_courses_that_change_outside_doses_and_product_changes"): (
        f"indexed foreign keys on orders and infusions: {_ALREADY_RAN}"
    ),
    ("infusions", "0014_vial_product_gtin_serial"): f"indexed product foreign key on vial lots: {_ALREADY_RAN}",
    ("monitoring", "0003_reminder_tracking_and_delivery_states"): (
        f"dropped claimed_until and re-indexed deliveries: {_ALREADY_RAN}"
    ),
    ("monitoring", "0004_platelet_check_dashboard_indexes"): f"plain indexes on platelet checks: {_ALREADY_RAN}",
    ("monitoring", "0008_response_attribution_and_corrections"): (
        f"loss_of_response from a flag to a status: {_ALREADY_RAN}"
    ),
    ("monitoring", "0009_lab_checks"): f"indexed lab_check foreign key on notifications: {_ALREADY_RAN}",
}

# (app label, migration name, operation description) -> why a reviewer accepted this unsafe operation in a new
# migration (for example a RunSQL whose locks were checked by hand, or a table known to stay small).
_HISTORY_UNIT_INDEX = (
    "CREATE INDEX CONCURRENTLY on the history's unit_id (the index simple_history declares for its foreign keys), "
    "in a migration with atomic = False: builds without blocking writes"
)
_UNIT_FK_NOT_VALID = (
    "ADD CONSTRAINT ... FOREIGN KEY (unit_id) ... NOT VALID on the column added without a constraint: a brief lock, "
    "no scan; the state flips db_constraint back on"
)
_UNIT_FK_VALIDATE = (
    "VALIDATE CONSTRAINT of the unit foreign key added NOT VALID: scans under SHARE UPDATE EXCLUSIVE, which blocks "
    "neither reads nor writes"
)
ALLOWED_OPERATIONS: dict[tuple[str, str, str], str] = {
    ("patients", "0012_patient_unit_index", "Raw SQL operation"): _HISTORY_UNIT_INDEX,
    ("patients", "0013_patient_unit_foreign_key", "Custom state/database change combination"): _UNIT_FK_NOT_VALID,
    ("patients", "0014_patient_unit_foreign_key_validated", "Raw SQL operation"): _UNIT_FK_VALIDATE,
    ("infusions", "0017_order_and_infusion_unit_indexes", "Raw SQL operation"): _HISTORY_UNIT_INDEX,
    (
        "infusions",
        "0018_order_and_infusion_unit_foreign_keys",
        "Custom state/database change combination",
    ): _UNIT_FK_NOT_VALID,
    ("infusions", "0019_order_and_infusion_unit_foreign_keys_validated", "Raw SQL operation"): _UNIT_FK_VALIDATE,
}


@dataclass(frozen=True)
class Finding:
    app_label: str
    migration_name: str
    operation: str
    reason: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.app_label, self.migration_name, self.operation)

    def __str__(self) -> str:
        return f"{self.app_label}.{self.migration_name}: {self.operation}: {self.reason}"


def unsafe_operations(
    loader: MigrationLoader,
    app_labels: Iterable[str],
    *,
    shipped: Mapping[tuple[str, str], str] = SHIPPED_BEFORE_THIS_CHECK,
    allowed: Mapping[tuple[str, str, str], str] = ALLOWED_OPERATIONS,
) -> list[Finding]:
    """Every operation of ``app_labels``' migrations that is neither safe nor allowed, in migration order."""
    labels = set(app_labels)
    state = ProjectState(real_apps=loader.unmigrated_apps)
    findings: list[Finding] = []
    for node in full_plan(loader):
        migration = loader.graph.nodes[node]
        if node[0] not in labels:
            state = migration.mutate_state(state, preserve=False)
            continue
        for finding in check_migration(migration, state):
            if node not in shipped and finding.key not in allowed:
                findings.append(finding)
    return findings


def full_plan(loader: MigrationLoader) -> list[tuple[str, str]]:
    plan: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for leaf in sorted(loader.graph.leaf_nodes()):
        for node in loader.graph.forwards_plan(leaf):
            if node not in seen:
                seen.add(node)
                plan.append(node)
    return plan


def check_migration(migration: Migration, state: ProjectState) -> list[Finding]:
    """The unsafe operations of one migration; ``state`` (the project before it) is moved past it in place."""
    app_label = migration.app_label
    created_here: set[str] = set()
    findings: list[Finding] = []
    for operation in migration.operations:
        if isinstance(operation, operations.CreateModel):
            created_here.add(operation.name_lower)
        reason = _unsafe_reason(operation, app_label, migration, state, created_here)
        if reason is not None:
            findings.append(Finding(app_label, migration.name, operation.describe(), reason))
        operation.state_forwards(app_label, state)
    return findings


def _unsafe_reason(
    operation: Operation, app_label: str, migration: Migration, state: ProjectState, created_here: set[str]
) -> str | None:
    model_name = getattr(operation, "model_name_lower", None) or getattr(operation, "name_lower", None)
    if isinstance(operation, _SAFE_OPERATIONS) or (model_name is not None and model_name in created_here):
        return None
    if isinstance(operation, operations.SeparateDatabaseAndState):
        for inner in operation.database_operations:
            reason = _unsafe_reason(inner, app_label, migration, state.clone(), created_here)
            if reason is not None:
                return reason
        return None
    if isinstance(operation, AddIndexConcurrently | RemoveIndexConcurrently):
        if migration.atomic:
            return "CONCURRENTLY cannot run inside a transaction: set atomic = False on the migration"
        return None
    if isinstance(operation, operations.AddIndex):
        return (
            "builds the index under a lock that blocks every write to the table: use AddIndexConcurrently in a "
            "migration with atomic = False"
        )
    if isinstance(operation, operations.AddConstraint):
        return (
            "checks every row (and builds any unique index) under a lock that blocks writes: add it as NOT VALID "
            "and VALIDATE it in a second step, or build the unique index concurrently first"
        )
    if isinstance(operation, operations.AddField):
        return _add_field_reason(operation.field)
    if isinstance(operation, operations.AlterField):
        old = state.models[app_label, operation.model_name_lower].fields[operation.name]
        return _alter_field_reason(old, operation.field)
    if isinstance(operation, operations.AlterUniqueTogether | operations.AlterIndexTogether):
        return "builds indexes under a lock that blocks writes: use AddIndexConcurrently"
    if isinstance(operation, operations.RemoveField | operations.DeleteModel):
        return (
            "the pods still on the previous release read it until they are replaced: stop using it in one "
            "release, drop it in the next"
        )
    if isinstance(operation, operations.RenameField | operations.RenameModel | operations.AlterModelTable):
        return "the pods still on the previous release use the old name: add the new one, copy, then drop the old"
    if isinstance(operation, operations.RunPython):
        if operation.reverse_code is None:
            return "cannot be rolled back: give it a reverse (migrations.RunPython.noop when nothing needs undoing)"
        return None
    if isinstance(operation, operations.RunSQL):
        return "raw SQL: its locks cannot be checked here, so it needs a reviewed entry in the allow-list"
    return f"{type(operation).__name__} is not known to this check: decide whether it is safe and teach it"


def _add_field_reason(field: models.Field[Any, Any]) -> str | None:
    if field.many_to_many:
        return None  # a new join table, empty
    if _indexed(field):
        return (
            "builds an index under a lock that blocks writes: add the column without the index, then "
            "AddIndexConcurrently in a migration with atomic = False"
        )
    if field.is_relation and getattr(field, "db_constraint", False):
        return (
            "validates the new foreign key by scanning the table under a lock that blocks writes: add it with "
            "db_constraint=False, then the constraint NOT VALID and VALIDATE it"
        )
    db_default = getattr(field, "db_default", NOT_PROVIDED)
    if db_default is not NOT_PROVIDED and not isinstance(db_default, models.Value):
        return "a database default computed per row rewrites the whole table under an exclusive lock"
    if field.has_default() and callable(field.default) and field.default not in _EMPTY_CONTAINER_DEFAULTS:
        return "Django calls the default once, so every existing row gets the same value: add it nullable and fill"
    # Django fills a blank-allowed text column with "" (BaseDatabaseSchemaEditor._effective_default).
    fills_empty_string = field.blank and field.empty_strings_allowed
    if not field.null and not field.has_default() and db_default is NOT_PROVIDED and not fills_empty_string:
        return "NOT NULL without a default fails on a table that has rows"
    return None


def _alter_field_reason(old: models.Field[Any, Any], new: models.Field[Any, Any]) -> str | None:
    if old.null and not new.null:
        return "SET NOT NULL scans the whole table under an exclusive lock: add a validated CHECK first"
    if _indexed(new) and not _indexed(old):
        return "builds an index under a lock that blocks writes: use AddIndexConcurrently"
    if getattr(old, "db_column", None) != getattr(new, "db_column", None):
        return "renames the column under the pods still on the previous release"
    if _column_shape(old) != _column_shape(new) and not _widens_text(old, new):
        return "changes the column's type: PostgreSQL rewrites the table under an exclusive lock"
    return None


def _indexed(field: models.Field[Any, Any]) -> bool:
    return bool(getattr(field, "db_index", False)) or field.unique


def _column_shape(field: models.Field[Any, Any]) -> tuple[object, ...]:
    """What decides the column's SQL type (choices, help text and Python defaults do not)."""
    _name, path, _args, kwargs = field.deconstruct()
    return (
        path,
        kwargs.get("max_length"),
        kwargs.get("max_digits"),
        kwargs.get("decimal_places"),
        kwargs.get("db_collation"),
        kwargs.get("to"),
    )


def _widens_text(old: models.Field[Any, Any], new: models.Field[Any, Any]) -> bool:
    # varchar(n) to a longer varchar or to text is a catalogue change in PostgreSQL: no rewrite, no scan.
    if type(old) is not models.CharField:
        return False
    if type(new) is models.TextField:
        return True
    if type(new) is models.CharField:
        return new.max_length is None or (old.max_length is not None and new.max_length >= old.max_length)
    return False
