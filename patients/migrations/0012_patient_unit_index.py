"""The indexes of the patient's unit, built without blocking writes (the worklist filters on it)."""

from django.db import migrations, models

from core.migration_helpers import AddIndexConcurrentlyOnPostgres, PostgresRunSQL


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("patients", "0011_patient_unit")]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="patient", index=models.Index(fields=["unit"], name="patient_unit_idx")
        ),
        # The history's foreign-key index that simple_history declares (its state was added in 0011).
        PostgresRunSQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS patients_historicalpatient_unit_id_idx "
            "ON patients_historicalpatient (unit_id)",
            reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS patients_historicalpatient_unit_id_idx",
        ),
    ]
