"""Helpers for migrations: granting permissions to the role groups, and operations that run on PostgreSQL as the
migration check asks and still run on SQLite for `make run`.

Kept deliberately small and stable: applied migrations call it, so its behaviour must not change.
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db.migrations.operations import AddIndex, RunSQL


def grant_permissions(apps: Any, grants: dict[str, list[str]]) -> None:
    """``grants`` maps a group name to ``"app_label.codename"`` permissions; missing groups are created."""
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after migrate; create them now so this migration can grant them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for group_name, permissions in grants.items():
        group, _ = group_model.objects.get_or_create(name=group_name)
        for dotted in permissions:
            app_label, codename = dotted.split(".", 1)
            permission = permission_model.objects.get(content_type__app_label=app_label, codename=codename)
            group.permissions.add(permission)


def noop(apps: Any, schema_editor: Any) -> None:
    """Reverse of a data migration that only adds: leave the rows (docs/architecture.md, habit 8)."""


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    """``AddIndexConcurrently`` on PostgreSQL (every deployment, CI); a plain ``AddIndex`` on SQLite, which has no
    CONCURRENTLY and serves only ``make run`` and quick local tests on small tables."""

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class PostgresRunSQL(RunSQL):
    """Raw SQL written for PostgreSQL (CREATE INDEX CONCURRENTLY, a foreign key NOT VALID); nothing on SQLite, where
    the migration's model state is enough for ``make run``. Still a ``RunSQL``: the migration check asks a reviewed
    reason for it (core/migration_safety.py)."""

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
