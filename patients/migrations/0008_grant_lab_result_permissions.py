from __future__ import annotations

from django.db import migrations

from core.migration_helpers import grant_permissions, noop

# docs/api.md "Patients" (labs): nurses and hematologists enter, correct and withdraw laboratory values; every role
# reads them. A laboratory interface account holds patients.add_labresult on its own (as for platelet results).
GRANTS = {
    "nurse": ["patients.view_labresult", "patients.add_labresult"],
    "hematologist": ["patients.view_labresult", "patients.add_labresult"],
    "pharmacist": ["patients.view_labresult"],
}


def grant(apps, schema_editor):
    grant_permissions(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [("patients", "0007_lab_results")]
    operations = [migrations.RunPython(grant, noop)]
