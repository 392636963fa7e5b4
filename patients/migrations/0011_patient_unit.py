"""The unit a patient is in now: the column first, without its index or foreign-key constraint, so that adding it
to a large table takes no lock that blocks the wards (CONTRIBUTING.md "Migrations on a live database"). Existing
patients keep no unit and are shown in every unit's lists."""

import django.db.models.deletion
from django.db import migrations, models

HELP = "The ward, day unit or clinic the patient is in now."


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_units_and_staff_default_units"),
        ("patients", "0010_pregnancy_dates"),
    ]

    operations = [
        # The history's column: simple_history indexes its foreign keys; the index is built concurrently in 0012.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="historicalpatient",
                    name="unit",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        help_text=HELP,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="core.unit",
                    ),
                ),
            ],
            database_operations=[
                migrations.AddField(
                    model_name="historicalpatient",
                    name="unit",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        help_text=HELP,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="core.unit",
                    ),
                ),
            ],
        ),
        migrations.AddField(
            model_name="patient",
            name="unit",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                help_text=HELP,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="core.unit",
            ),
        ),
    ]
