"""The unit where a course and each of its days are given: the columns first, without their indexes or foreign-key
constraints, so that adding them to large tables takes no lock that blocks the wards (CONTRIBUTING.md "Migrations
on a live database"). Existing orders and days keep no unit and are shown in every unit's lists."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_units_and_staff_default_units"),
        ("infusions", "0015_fluid_entry"),
    ]

    operations = [
        # The histories' columns: simple_history indexes its foreign keys; the indexes are built concurrently in 0017.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="historicalorder",
                    name="unit",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="core.unit",
                    ),
                ),
            ],
            database_operations=[
                migrations.AddField(
                    model_name="historicalorder",
                    name="unit",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="core.unit",
                    ),
                ),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="historicalinfusion",
                    name="unit",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="core.unit",
                    ),
                ),
            ],
            database_operations=[
                migrations.AddField(
                    model_name="historicalinfusion",
                    name="unit",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="core.unit",
                    ),
                ),
            ],
        ),
        migrations.AddField(
            model_name="order",
            name="unit",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="core.unit",
            ),
        ),
        migrations.AddField(
            model_name="infusion",
            name="unit",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="core.unit",
            ),
        ),
    ]
