"""The Heartbeat model now lives in the shared kernel (core). Only Django's record of it moves: the table
``ivig_tracker_heartbeat`` and its rows stay where they are (core's first migration takes the model over)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("ivig_tracker", "0002_create_role_groups")]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="Heartbeat")]),
    ]
