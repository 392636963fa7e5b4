"""The order's and each day's unit become foreign keys the database checks: added NOT VALID (new rows are checked at
once, existing ones are not scanned under a lock); 0019 validates them."""

import django.db.models.deletion
from django.db import migrations, models

from core.migration_helpers import PostgresRunSQL


class Migration(migrations.Migration):
    dependencies = [("infusions", "0017_order_and_infusion_unit_indexes")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="order",
                    name="unit",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="core.unit",
                    ),
                ),
            ],
            database_operations=[
                PostgresRunSQL(
                    "ALTER TABLE infusions_order ADD CONSTRAINT infusions_order_unit_id_fk_core_unit_id "
                    "FOREIGN KEY (unit_id) REFERENCES core_unit (id) DEFERRABLE INITIALLY DEFERRED NOT VALID",
                    reverse_sql="ALTER TABLE infusions_order DROP CONSTRAINT infusions_order_unit_id_fk_core_unit_id",
                ),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="infusion",
                    name="unit",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="core.unit",
                    ),
                ),
            ],
            database_operations=[
                PostgresRunSQL(
                    "ALTER TABLE infusions_infusion ADD CONSTRAINT infusions_infusion_unit_id_fk_core_unit_id "
                    "FOREIGN KEY (unit_id) REFERENCES core_unit (id) DEFERRABLE INITIALLY DEFERRED NOT VALID",
                    reverse_sql="ALTER TABLE infusions_infusion DROP CONSTRAINT infusions_infusion_unit_id_fk_core_unit_id",
                ),
            ],
        ),
    ]
