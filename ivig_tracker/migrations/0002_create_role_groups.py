from __future__ import annotations

from django.db import migrations

from core.migration_helpers import noop

ROLE_GROUPS = ["nurse", "hematologist", "pharmacist"]


def create_role_groups(apps, schema_editor):
    group_model = apps.get_model("auth", "Group")
    for name in ROLE_GROUPS:
        group_model.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [("ivig_tracker", "0001_heartbeat"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_role_groups, noop)]
