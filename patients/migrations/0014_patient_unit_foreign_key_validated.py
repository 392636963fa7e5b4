"""Validate the patient's unit constraint (0013): a scan that blocks neither reads nor writes."""

from django.db import migrations

from core.migration_helpers import PostgresRunSQL


class Migration(migrations.Migration):
    dependencies = [("patients", "0013_patient_unit_foreign_key")]

    operations = [
        PostgresRunSQL(
            "ALTER TABLE patients_patient VALIDATE CONSTRAINT patients_patient_unit_id_fk_core_unit_id",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
