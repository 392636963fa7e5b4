"""The patient's unit becomes a foreign key the database checks: added NOT VALID (new rows are checked at once,
existing ones are not scanned under a lock); 0014 validates it."""

import django.db.models.deletion
from django.db import migrations, models

from core.migration_helpers import PostgresRunSQL


class Migration(migrations.Migration):
    dependencies = [("patients", "0012_patient_unit_index")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="patient",
                    name="unit",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        help_text="The ward, day unit or clinic the patient is in now.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="core.unit",
                    ),
                ),
            ],
            database_operations=[
                PostgresRunSQL(
                    "ALTER TABLE patients_patient ADD CONSTRAINT patients_patient_unit_id_fk_core_unit_id "
                    "FOREIGN KEY (unit_id) REFERENCES core_unit (id) DEFERRABLE INITIALLY DEFERRED NOT VALID",
                    reverse_sql="ALTER TABLE patients_patient DROP CONSTRAINT patients_patient_unit_id_fk_core_unit_id",
                ),
            ],
        ),
    ]
