"""Take over the Heartbeat model from the ivig_tracker app without touching its table: on a new database the
table was created by ``ivig_tracker.0001_heartbeat``; on an upgraded one it already holds the heartbeats."""

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [("ivig_tracker", "0003_heartbeat_moves_to_core")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Heartbeat",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("name", models.CharField(max_length=64, unique=True)),
                        ("last_seen_at", models.DateTimeField()),
                    ],
                    options={"ordering": ["name"], "db_table": "ivig_tracker_heartbeat"},
                ),
            ]
        ),
    ]
