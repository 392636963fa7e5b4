"""Helpers for data migrations that grant permissions to the role groups.

Kept deliberately small and stable: applied migrations call it, so its behaviour must not change.
"""

from __future__ import annotations

from typing import Any


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
