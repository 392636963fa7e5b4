"""Each delivery gets a stable random id, sent with every attempt so a receiver can recognise a retry.

Three steps, because a column default is computed once for the rows already there: added nullable, filled with one
uuid per existing row in batches, then given its default for new rows. The column stays nullable and without a unique
index: SET NOT NULL and a unique index would each scan the whole table under a lock (core/migration_safety.py), and a
random uuid4 needs neither to be unique in practice."""

from __future__ import annotations

import uuid

from django.db import migrations, models


def give_each_delivery_its_id(apps, schema_editor):
    Delivery = apps.get_model("monitoring", "Delivery")
    batch = []
    for delivery in Delivery.objects.filter(delivery_id__isnull=True).only("pk").iterator(chunk_size=2000):
        delivery.delivery_id = uuid.uuid4()
        batch.append(delivery)
        if len(batch) >= 2000:
            Delivery.objects.bulk_update(batch, ["delivery_id"])
            batch = []
    if batch:
        Delivery.objects.bulk_update(batch, ["delivery_id"])


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0009_lab_checks")]

    operations = [
        migrations.AddField(
            model_name="delivery",
            name="delivery_id",
            field=models.UUIDField(null=True, editable=False),
        ),
        migrations.RunPython(give_each_delivery_its_id, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="delivery",
            name="delivery_id",
            field=models.UUIDField(default=uuid.uuid4, null=True, editable=False),
        ),
    ]
