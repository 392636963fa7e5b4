"""Validate the unit constraints of orders and infusions (0018): scans that block neither reads nor writes."""

from django.db import migrations

from core.migration_helpers import PostgresRunSQL


class Migration(migrations.Migration):
    dependencies = [("infusions", "0018_order_and_infusion_unit_foreign_keys")]

    operations = [
        PostgresRunSQL(
            "ALTER TABLE infusions_order VALIDATE CONSTRAINT infusions_order_unit_id_fk_core_unit_id",
            reverse_sql=migrations.RunSQL.noop,
        ),
        PostgresRunSQL(
            "ALTER TABLE infusions_infusion VALIDATE CONSTRAINT infusions_infusion_unit_id_fk_core_unit_id",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
