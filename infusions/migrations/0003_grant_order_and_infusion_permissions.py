from __future__ import annotations

from django.db import migrations

from core.migration_helpers import grant_permissions, noop

# docs/api.md "Who may do what": orders are created by hematologists and verified by a pharmacist or a second
# hematologist; infusions are started, documented and completed by nurses; every role reads.
READ = ["infusions.view_product", "infusions.view_order", "infusions.view_infusion"]
GRANTS = {
    "nurse": [*READ, "infusions.administer_infusion"],
    "hematologist": [
        *READ,
        "infusions.add_order",
        "infusions.verify_order",
        "infusions.cancel_order",
        "infusions.recalculate_order",
    ],
    "pharmacist": [*READ, "infusions.verify_order"],
}


def grant(apps, schema_editor):
    grant_permissions(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [("infusions", "0002_load_product_catalogue_v1"), ("ivig_tracker", "0002_create_role_groups")]
    operations = [migrations.RunPython(grant, noop)]
