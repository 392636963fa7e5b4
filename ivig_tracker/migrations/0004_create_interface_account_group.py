"""The "interface" group: accounts of laboratory engines and integrations, whose API tokens live longer
(IVIG_INTERFACE_TOKEN_HOURS). It grants nothing by itself; IT gives such an account its permissions."""

from __future__ import annotations

from django.db import migrations

from core.migration_helpers import noop

INTERFACE_ACCOUNT_GROUP = "interface"  # core.roles.INTERFACE_ACCOUNT_GROUP, frozen here as migrations must be


def create_interface_account_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name=INTERFACE_ACCOUNT_GROUP)


class Migration(migrations.Migration):
    dependencies = [("ivig_tracker", "0003_heartbeat_moves_to_core")]
    operations = [migrations.RunPython(create_interface_account_group, noop)]
