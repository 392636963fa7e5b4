"""The indexes of the order's and each day's unit, built without blocking writes (the hematologist's review and the
nurse worklist filter on them)."""

from django.db import migrations, models

from core.migration_helpers import AddIndexConcurrentlyOnPostgres, PostgresRunSQL


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("infusions", "0016_order_and_infusion_unit")]

    operations = [
        AddIndexConcurrentlyOnPostgres(model_name="order", index=models.Index(fields=["unit"], name="order_unit_idx")),
        AddIndexConcurrentlyOnPostgres(
            model_name="infusion",
            index=models.Index(fields=["unit", "scheduled_for"], name="infusion_worklist_by_unit_idx"),
        ),
        # The histories' foreign-key indexes that simple_history declares (their state was added in 0016).
        PostgresRunSQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS infusions_historicalorder_unit_id_idx ON infusions_historicalorder (unit_id)",
            reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS infusions_historicalorder_unit_id_idx",
        ),
        PostgresRunSQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS infusions_historicalinfusion_unit_id_idx ON infusions_historicalinfusion (unit_id)",
            reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS infusions_historicalinfusion_unit_id_idx",
        ),
    ]
