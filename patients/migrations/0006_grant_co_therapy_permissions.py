from __future__ import annotations

from django.db import migrations

from core.migration_helpers import grant_permissions, noop

# docs/api.md "Patients": nurses and hematologists record co-therapies (and withdraw one entered in error); every
# role reads them.
GRANTS = {
    "nurse": ["patients.view_cotherapy", "patients.add_cotherapy"],
    "hematologist": ["patients.view_cotherapy", "patients.add_cotherapy"],
    "pharmacist": ["patients.view_cotherapy"],
}


def grant(apps, schema_editor):
    grant_permissions(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [("patients", "0005_co_therapy")]
    operations = [migrations.RunPython(grant, noop)]
