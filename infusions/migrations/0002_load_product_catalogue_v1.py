"""Ship the IVIG product catalogue of docs/clinical-rules.md reference §4.1 (values marked [U] there are null).

The data is frozen in data/products_v1.json; a later catalogue change is a new migration, never an edit here.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from django.db import migrations

from core.migration_helpers import noop

DATA = Path(__file__).resolve().parent / "data" / "products_v1.json"
DECIMAL_FIELDS = (
    "concentration_percent",
    "iga_content_ug_per_ml",
    "initial_rate_mg_per_kg_min",
    "itp_max_rate_mg_per_kg_min",
    "at_risk_max_rate_mg_per_kg_min",
)


def load_catalogue(apps, schema_editor):
    product_model = apps.get_model("infusions", "Product")
    for row in json.loads(DATA.read_text(encoding="utf-8")):
        values = dict(row)
        for field in DECIMAL_FIELDS:
            if values[field] is not None:
                values[field] = Decimal(str(values[field]))
        values["on_formulary"] = not values["discontinued"]
        name = values.pop("name")
        product_model.objects.get_or_create(name=name, defaults=values)


class Migration(migrations.Migration):
    dependencies = [("infusions", "0001_products_orders_infusions")]
    operations = [migrations.RunPython(load_catalogue, noop)]
